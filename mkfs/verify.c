/*
 * thinsnap_mkfs_verify(): asks libblkid what a device holds and compares it with the fs type
 * we expect (after formatting, or before trusting an existing base device).
 * thinsnap_mkfs_probe() itself lives in mkfs/probe.c (pool/'s check); this file has its own
 * static probe so that the two can merge without a conflict.
 */
#include <blkid.h>
#include <errno.h>
#include <string.h>

#include "base/cleanup.h"
#include "mkfs/mkfs.h"

DEFINE_CLEANUP(blkid_probe, blkid_free_probe)

/* *ret_type: malloc'd TYPE, or NULL for a blank device. */
static int probe_type(const char *dev, char **ret_type, struct thinsnap_error *reterr)
{
	CLEANUP(blkid_free_probep) blkid_probe pr = NULL;
	CLEANUP_FREE char *type = NULL;
	const char *v = NULL;
	int r;

	pr = blkid_new_probe_from_filename(dev);
	if (!pr)
		return thinsnap_error_setf(reterr, errno == ENOENT ? -ENOENT : -EIO,
					   "cannot open '%s' for probing", dev);
	r = blkid_do_safeprobe(pr); /* 0 found, 1 blank, -2 ambiguous, -1 error */
	if (r == -2)
		return thinsnap_error_setf(reterr, -EBUSY, "'%s': ambiguous signatures", dev);
	if (r < 0)
		return thinsnap_error_setf(reterr, -EIO, "probing '%s'", dev);
	if (r == 0 && blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0) {
		type = strdup(v);
		if (!type)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	}
	*ret_type = TAKE_PTR(type);
	return 0;
}

int thinsnap_mkfs_verify(const char *dev, const char *want_fstype, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *type = NULL;
	int r;

	if (!dev || !want_fstype || !*want_fstype)
		return thinsnap_error_setf(reterr, -EINVAL, "verify: no device or fs type");
	r = probe_type(dev, &type, reterr);
	if (r < 0)
		return r;
	if (!type)
		return thinsnap_error_setf(reterr, -EUCLEAN, "'%s' holds no filesystem, want %s",
					   dev, want_fstype);
	if (strcmp(type, want_fstype) != 0)
		return thinsnap_error_setf(reterr, -EUCLEAN, "'%s' holds %s, want %s", dev, type,
					   want_fstype);
	return 0;
}

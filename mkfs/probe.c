/*
 * What does a device hold? libblkid's safe probe for filesystems, RAID members and partition
 * tables, so that pool/ refuses to overwrite one unless forced.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "mkfs/mkfs.h"

DEFINE_CLEANUP(blkid_probe, blkid_free_probe)

/* On success *ret_fstype is a malloc'd type name ("ext4"), or NULL for a blank device. */
int thinsnap_mkfs_probe(const char *dev, char **ret_fstype, struct thinsnap_error *reterr)
{
	CLEANUP(blkid_free_probep) blkid_probe pr = NULL;
	CLEANUP_FREE char *type = NULL;
	const char *v = NULL;
	int r;

	if (!dev || !ret_fstype)
		return thinsnap_error_setf(reterr, -EINVAL, "probe: no device");
	pr = blkid_new_probe_from_filename(dev);
	if (!pr)
		return thinsnap_error_setf(reterr, -EIO, "cannot open '%s' for probing", dev);
	if (blkid_probe_enable_superblocks(pr, 1) < 0 ||
	    blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE) < 0 ||
	    blkid_probe_enable_partitions(pr, 1) < 0 ||
	    blkid_probe_set_partitions_flags(pr, BLKID_PARTS_MAGIC) < 0)
		return thinsnap_error_setf(reterr, -EIO, "probing '%s'", dev);
	r = blkid_do_safeprobe(pr); /* libblkid: 0 found, 1 blank, -2 ambiguous, -1 error */
	if (r < 0)
		return thinsnap_error_setf(reterr, r == -2 ? -EBUSY : -EIO, "probing '%s'", dev);
	if (r == 0 && blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0) {
		type = strdup(v);
	} else if (r == 0 && blkid_probe_lookup_value(pr, "PTTYPE", &v, NULL) == 0) {
		char buf[64];
		(void)snprintf(buf, sizeof(buf), "partition table (%s)", v);
		type = strdup(buf);
	} else if (r == 0) {
		type = strdup("unknown signature");
	}
	if (r == 0 && !type)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	*ret_fstype = TAKE_PTR(type); /* the caller owns it only on success */
	return 0;
}

/*
 * LVM logical volumes under a device-backed pool: which device-mapper device (and which LV)
 * a block device is, read from sysfs and lvm's own report (`lvs`, machine-readable), its
 * volume group's free space, and `lvextend` for auto-grow. lvm's tools run through
 * thinsnap_spawn_capture(); they read LVM_SYSTEM_DIR from the environment they inherit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "base/parse.h"
#include "base/spawn.h"
#include "pool/internal.h"

/* One line of a sysfs attribute of block device rdev ("dm/uuid"), trimmed; -errno. */
static int sysfs_attr(dev_t rdev, const char *attr, char *buf, size_t size)
{
	char path[128];
	FILE *f;
	bool got;

	(void)snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s", major(rdev), minor(rdev),
		       attr);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	got = fgets(buf, (int)size, f) != NULL;
	(void)fclose(f);
	if (!got)
		return -ENODATA;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int thinsnap_pool_dm_uuid_of(dev_t rdev, char *buf, size_t size)
{
	int r = sysfs_attr(rdev, "dm/uuid", buf, size);

	if (r == -ENOENT || r == -ENODATA)
		buf[0] = '\0'; /* not a dm device, or one without a uuid */
	return r == -ENOENT || r == -ENODATA ? 0 : r;
}

int thinsnap_pool_dm_name_of(dev_t rdev, char *buf, size_t size)
{
	int r = sysfs_attr(rdev, "dm/name", buf, size);

	if (r == -ENOENT || r == -ENODATA)
		buf[0] = '\0';
	return r == -ENOENT || r == -ENODATA ? 0 : r;
}

bool thinsnap_pool_lvm_uuid(const char *dm_uuid)
{
	return strncmp(dm_uuid, "LVM-", 4) == 0;
}

const char *thinsnap_pool_lvm_thin_pool_part(const char *dm_uuid)
{
	static const char *const parts[] = { "-tpool", "-pool", "-tdata", "-tmeta" };
	size_t n = strlen(dm_uuid);

	if (!thinsnap_pool_lvm_uuid(dm_uuid))
		return NULL;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t k = strlen(parts[i]);
		if (n > k && strcmp(dm_uuid + n - k, parts[i]) == 0)
			return parts[i] + 1;
	}
	return NULL;
}

/* Splits the next '|'-separated field of *s (NULL at the end). */
static char *field(char **s)
{
	char *f = *s, *bar;

	if (!f)
		return NULL;
	bar = strchr(f, '|');
	if (bar) {
		*bar = '\0';
		*s = bar + 1;
	} else {
		*s = NULL;
	}
	while (*f == ' ')
		f++;
	return f;
}

int thinsnap_pool_lvm_parse(char *out, dev_t rdev, struct thinsnap_pool_lv *ret)
{
	char *save = NULL;

	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct thinsnap_pool_lv lv = { 0 };
		char *s = line, *f[8];
		uint64_t maj, min;
		for (int i = 0; i < 8; i++)
			f[i] = field(&s);
		if (!f[7] || thinsnap_parse_u64(f[2], &maj) < 0 ||
		    thinsnap_parse_u64(f[3], &min) < 0 || maj != major(rdev) || min != minor(rdev))
			continue;
		if (snprintf(lv.vg, sizeof(lv.vg), "%s", f[0]) >= (int)sizeof(lv.vg) ||
		    snprintf(lv.lv, sizeof(lv.lv), "%s", f[1]) >= (int)sizeof(lv.lv) ||
		    thinsnap_parse_u64(f[4], &lv.size_bytes) < 0 ||
		    thinsnap_parse_u64(f[5], &lv.vg_free_bytes) < 0 ||
		    thinsnap_parse_u64(f[6], &lv.extent_bytes) < 0 || lv.extent_bytes == 0)
			return -EIO;
		(void)snprintf(lv.segtype, sizeof(lv.segtype), "%s", f[7]);
		*ret = lv;
		return 1;
	}
	return 0;
}

int thinsnap_pool_lvm_find(dev_t rdev, struct thinsnap_pool_lv *ret, struct thinsnap_error *reterr)
{
	char *const argv[] = { "lvs",
			       "--noheadings",
			       "--nosuffix",
			       "--units",
			       "b",
			       "--separator",
			       "|",
			       "-o",
			       "vg_name,lv_name,lv_kernel_major,lv_kernel_minor,lv_size,vg_free,"
			       "vg_extent_size,segtype",
			       NULL };
	CLEANUP_FREE char *out = NULL;
	CLEANUP_FREE char *err = NULL;
	char uuid[160];
	int r;

	r = thinsnap_pool_dm_uuid_of(rdev, uuid, sizeof(uuid));
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "device %u:%u: reading its dm uuid: %s",
					   major(rdev), minor(rdev), strerror(-r));
	if (!thinsnap_pool_lvm_uuid(uuid))
		return 0;
	r = thinsnap_spawn_capture(argv, &out, &err);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "cannot run lvs: %s", strerror(-r));
	if (r > 0)
		return thinsnap_error_setf(reterr, -EIO, "lvs failed (exit %d): %s", r, err);
	/* 0: an LVM uuid lvs does not list (another system's LV, a hidden part) */
	r = thinsnap_pool_lvm_parse(out, rdev, ret);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "lvs: unexpected output for device %u:%u",
					   major(rdev), minor(rdev));
	return r;
}

int thinsnap_pool_lvm_extend(const struct thinsnap_pool_lv *lv, uint64_t new_size_bytes,
			     struct thinsnap_error *reterr)
{
	char target[300], extents[32];
	char *const argv[] = { "lvextend", "-q", "-l", extents, target, NULL };
	CLEANUP_FREE char *err = NULL;
	int r;

	if (!lv->extent_bytes || new_size_bytes <= lv->size_bytes)
		return thinsnap_error_setf(reterr, -EINVAL, "lvextend '%s/%s': nothing to add",
					   lv->vg, lv->lv);
	(void)snprintf(target, sizeof(target), "%s/%s", lv->vg, lv->lv);
	(void)snprintf(extents, sizeof(extents), "%" PRIu64, new_size_bytes / lv->extent_bytes);
	r = thinsnap_spawn_capture(argv, NULL, &err);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "cannot run lvextend: %s", strerror(-r));
	if (r > 0)
		return thinsnap_error_setf(
			reterr, -EIO, "lvextend '%s' to %" PRIu64 " bytes failed (exit %d): %s",
			target, new_size_bytes, r, err);
	return 0;
}

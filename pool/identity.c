/*
 * The pool's identity, <state_dir>/identity: name, uuid, backing devices or loop files (and
 * the devices' dm uuids, stable across reboots) and table parameters, so that a swapped pool
 * or device is refused and a reboot re-activates the recorded one (after thin_check), found
 * again by its devices' dm uuids when kernel names differ. Replaced whole, atomically.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fileio.h"
#include "base/parse.h"
#include "pool/internal.h"

int thinsnap_pool_write_identity(const struct thinsnap_pool *pool, struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int dirfd = -EBADF;
	char buf[2048];
	int n, r;

	n = snprintf(buf, sizeof(buf),
		     "thinsnap-pool 1\nname=%s\nuuid=%s\nbacking=%s\ndata=%s\nmetadata=%s\n"
		     "data_block_sectors=%" PRIu32 "\nlow_water_blocks=%" PRIu64
		     "\ndata_size_bytes=%" PRIu64 "\nmetadata_size_bytes=%" PRIu64
		     "\nerror_if_no_space=%d\nno_discard_passdown=%d\ndata_dm_uuid=%s"
		     "\nmetadata_dm_uuid=%s\nautogrow_data_bytes=%" PRIu64
		     "\nautogrow_metadata_bytes=%" PRIu64 "\n",
		     pool->name, pool->uuid, pool->loop ? "loop" : "device",
		     pool->loop ? DATA_FILE : pool->data_dev,
		     pool->loop ? METADATA_FILE : pool->metadata_dev, pool->data_block_sectors,
		     pool->low_water_blocks, pool->data_size_bytes, pool->metadata_size_bytes,
		     pool->error_if_no_space, pool->no_discard_passdown, pool->data_dm_uuid,
		     pool->metadata_dm_uuid, pool->autogrow_data_bytes,
		     pool->autogrow_metadata_bytes);
	if (n < 0 || n >= (int)sizeof(buf))
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "pool '%s': identity too long",
					   pool->name);
	dirfd = open(pool->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return thinsnap_error_setf(reterr, -errno, "cannot open state dir '%s': %m",
					   pool->state_dir);
	r = thinsnap_file_replace(dirfd, IDENTITY_FILE, buf, (size_t)n, NULL, NULL);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': writing '%s/%s': %s", pool->name,
					   pool->state_dir, IDENTITY_FILE, strerror(-r));
	return 0;
}

int thinsnap_pool_read_identity(const char *state_dir, struct thinsnap_pool **ret,
				struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *pool = NULL;
	CLEANUP_FCLOSE FILE *f = NULL;
	char path[4096], line[1024];
	bool header = false, has_uuid = false;
	uint64_t v;

	if (snprintf(path, sizeof(path), "%s/%s", state_dir, IDENTITY_FILE) >= (int)sizeof(path))
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "state dir path too long");
	f = fopen(path, "re");
	if (!f)
		return thinsnap_error_setf(reterr, errno == ENOENT ? -ENOENT : -errno,
					   "no pool recorded in '%s' (%m)", state_dir);
	pool = calloc(1, sizeof(*pool));
	if (!pool || !(pool->state_dir = strdup(state_dir)))
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	while (fgets(line, sizeof(line), f)) {
		char *eq, *val;
		line[strcspn(line, "\n")] = '\0';
		if (!header) {
			if (strcmp(line, "thinsnap-pool 1") != 0)
				return thinsnap_error_setf(reterr, -EUCLEAN,
							   "'%s': not a thinsnap pool identity",
							   path);
			header = true;
			continue;
		}
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		val = eq + 1;
		if (strcmp(line, "name") == 0) {
			free(pool->name);
			pool->name = strdup(val);
		} else if (strcmp(line, "uuid") == 0 && strlen(val) == 32) {
			memcpy(pool->uuid, val, 33);
			has_uuid = true;
		} else if (strcmp(line, "backing") == 0) {
			pool->loop = strcmp(val, "loop") == 0;
		} else if (strcmp(line, "data") == 0) {
			free(pool->data_dev);
			pool->data_dev = strdup(val);
		} else if (strcmp(line, "metadata") == 0) {
			free(pool->metadata_dev);
			pool->metadata_dev = strdup(val);
		} else if (strcmp(line, "data_dm_uuid") == 0) {
			(void)snprintf(pool->data_dm_uuid, sizeof(pool->data_dm_uuid), "%s", val);
		} else if (strcmp(line, "metadata_dm_uuid") == 0) {
			(void)snprintf(pool->metadata_dm_uuid, sizeof(pool->metadata_dm_uuid), "%s",
				       val);
		} else if (thinsnap_parse_u64(val, &v) < 0) {
			continue;
		} else if (strcmp(line, "data_block_sectors") == 0 && v > 0 && v <= UINT32_MAX) {
			pool->data_block_sectors = (uint32_t)v;
		} else if (strcmp(line, "low_water_blocks") == 0) {
			pool->low_water_blocks = v;
		} else if (strcmp(line, "data_size_bytes") == 0) {
			pool->data_size_bytes = v;
		} else if (strcmp(line, "metadata_size_bytes") == 0) {
			pool->metadata_size_bytes = v;
		} else if (strcmp(line, "error_if_no_space") == 0) {
			pool->error_if_no_space = v != 0;
		} else if (strcmp(line, "no_discard_passdown") == 0) {
			pool->no_discard_passdown = v != 0;
		} else if (strcmp(line, "autogrow_data_bytes") == 0) {
			pool->autogrow_data_bytes = v;
		} else if (strcmp(line, "autogrow_metadata_bytes") == 0) {
			pool->autogrow_metadata_bytes = v;
		}
	}
	if (!header || !has_uuid || !pool->name || !pool->data_dev || !pool->metadata_dev ||
	    !pool->data_block_sectors)
		return thinsnap_error_setf(reterr, -EUCLEAN, "'%s': incomplete pool identity",
					   path);
	if (pool->loop) { /* loop files are named relative to the state dir */
		free(pool->data_dev);
		free(pool->metadata_dev);
		pool->data_dev = NULL;
		pool->metadata_dev = NULL;
	}
	set_uuids(pool);
	*ret = TAKE_PTR(pool);
	return 0;
}

int thinsnap_pool_recorded(const char *state_dir)
{
	return thinsnap_file_exists(state_dir, IDENTITY_FILE);
}

/*
 * Finds one recorded device: the recorded path if it is still the device with the recorded
 * dm uuid, else the dm device holding that uuid now; a device without a dm uuid (a partition,
 * a disk: best named by /dev/disk/by-id) must still be a block device at least as large as
 * the pool recorded. *path is replaced with the path found.
 */
static int resolve_one(struct thinsnap_pool *pool, const char *what, char **path,
		       const char *want_uuid, uint64_t min_bytes, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *name = NULL;
	char uuid[THINSNAP_DM_UUID_MAX + 1] = "", found[4096];
	struct thinsnap_dm_info info;
	struct stat st;
	bool present = stat(*path, &st) == 0 && S_ISBLK(st.st_mode);
	uint64_t size = 0;
	int r;

	if (present) {
		r = thinsnap_pool_dm_uuid_of(st.st_rdev, uuid, sizeof(uuid));
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "pool '%s': dm uuid of '%s': %s",
						   pool->name, *path, strerror(-r));
	}
	if (!want_uuid[0]) {
		if (!present)
			return thinsnap_error_setf(reterr, -ENOENT,
						   "pool '%s': %s device '%s' is not present",
						   pool->name, what, *path);
		if (thinsnap_pool_device_size(*path, &size) == 0 && size < min_bytes)
			return thinsnap_error_setf(
				reterr, -EINVAL,
				"pool '%s': '%s' holds %" PRIu64 " bytes, less than the pool's %s "
				"(%" PRIu64 "): not the recorded device; refusing it",
				pool->name, *path, size, what, min_bytes);
		return 0;
	}
	if (present && strcmp(uuid, want_uuid) == 0)
		return 0;
	r = thinsnap_dm_info_by_uuid(want_uuid, &info, &name, reterr);
	if (r < 0)
		return r;
	if (!info.exists && present)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': '%s' is not the recorded %s device (another "
					   "dm uuid); refusing a swapped or foreign device",
					   pool->name, *path, what);
	if (!info.exists)
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s': %s device '%s' is not present (no dm device "
					   "has its uuid); activate it first (vgchange -ay VG)",
					   pool->name, what, *path);
	if (thinsnap_pool_dev_path(name, found, sizeof(found)) < 0)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "dm name too long");
	free(*path);
	*path = strdup(found);
	if (!*path)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	return 0;
}

int thinsnap_pool_resolve_devices(struct thinsnap_pool *pool, struct thinsnap_error *reterr)
{
	int r;

	if (pool->loop)
		return 0;
	r = resolve_one(pool, "data", &pool->data_dev, pool->data_dm_uuid, pool->data_size_bytes,
			reterr);
	if (r < 0)
		return r;
	return resolve_one(pool, "metadata", &pool->metadata_dev, pool->metadata_dm_uuid, 0,
			   reterr);
}

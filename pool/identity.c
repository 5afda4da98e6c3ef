/*
 * The pool's identity, <state_dir>/identity: name, uuid, backing devices or loop files and
 * table parameters, so that a swapped pool is refused and a reboot re-activates the recorded
 * one (after thin_check). Replaced whole, atomically, on every change.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
		     "\nerror_if_no_space=%d\nno_discard_passdown=%d\n",
		     pool->name, pool->uuid, pool->loop ? "loop" : "device",
		     pool->loop ? DATA_FILE : pool->data_dev,
		     pool->loop ? METADATA_FILE : pool->metadata_dev, pool->data_block_sectors,
		     pool->low_water_blocks, pool->data_size_bytes, pool->metadata_size_bytes,
		     pool->error_if_no_space, pool->no_discard_passdown);
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

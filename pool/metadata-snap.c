/*
 * The thin-provisioning tools on the pool's metadata: thin_check before activation, and
 * thin_dump (the pool's own device list) and thin_ls (per-device usage) on the pool's one
 * metadata snapshot, reserved and released around each run under a lock file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/spawn.h"
#include "pool/internal.h"
#include "pool/loop.h"
#include "pool/thin-ls.h"

/* --- thin_check, before activation --- */

/* clear_needs_check: and clear the superblock's needs_check flag if the metadata is sound. */
int thinsnap_pool_run_thin_check(const char *pool_name, const char *meta_path,
				 bool clear_needs_check, struct thinsnap_error *reterr)
{
	char *argv[] = { "thin_check", "-q", (char *)meta_path, NULL, NULL };
	int r;

	if (clear_needs_check) {
		argv[2] = "--clear-needs-check-flag";
		argv[3] = (char *)meta_path;
	}
	r = thinsnap_spawn_capture(argv, NULL, NULL);

	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': cannot run thin_check: %s",
					   pool_name, strerror(-r));
	if (r != 0)
		return thinsnap_error_setf(reterr, -EUCLEAN,
					   "pool '%s': thin_check found errors in metadata '%s' "
					   "(exit %d); repair it with thin_repair",
					   pool_name, meta_path, r);
	return 0;
}

/* --- the pool's metadata snapshot: its own device list, per-device usage --- */

int thinsnap_pool_metadata_path(struct thinsnap_pool *pool, char *buf, size_t size,
				struct thinsnap_error *reterr)
{
	int r;

	if (!pool->loop) {
		(void)snprintf(buf, size, "%s", pool->metadata_dev);
		return 0;
	}
	r = thinsnap_pool_check_live_table(pool, reterr);
	if (r < 0)
		return r;
	r = thinsnap_pool_blockdev_path(pool->metadata_rdev, buf, size);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': no metadata device node",
					   pool->name);
	return 0;
}

/*
 * Runs argv (thin_dump or thin_ls -m on the metadata device) with the pool's one metadata
 * snapshot reserved. Its users (check, usage: any process, any thread) take turns through
 * flock on <pool dir>/metadata-snap.lock, waiting up to 30 s, so a snapshot found held
 * under the lock was left by a user that died between reserve and release: dropped.
 */
int thinsnap_pool_run_on_metadata_snap(struct thinsnap_pool *pool, char *const argv[],
				       char **ret_out, struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int fd = -EBADF;
	char path[4096];
	int r, r2;

	if (path_in(pool, METASNAP_LOCK_FILE, path, sizeof(path)) < 0)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "pool '%s': path too long",
					   pool->name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return thinsnap_error_setf(reterr, -errno, "opening '%s': %m", path);
	for (int i = 0; flock(fd, LOCK_EX | LOCK_NB) < 0; i++) {
		if (errno != EWOULDBLOCK)
			return thinsnap_error_setf(reterr, -errno, "locking '%s': %m", path);
		if (i == 600)
			return thinsnap_error_setf(reterr, -EAGAIN,
						   "pool '%s': its metadata snapshot has been in "
						   "use for 30 s: try again",
						   pool->name);
		(void)usleep(50 * 1000);
	}
	r = pool_message(pool, "reserve_metadata_snap", reterr);
	if (r == -EBUSY) {
		(void)pool_message(pool, "release_metadata_snap", NULL);
		r = pool_message(pool, "reserve_metadata_snap", reterr);
	}
	if (r < 0)
		return r;
	r = thinsnap_spawn_capture(argv, ret_out, NULL);
	r2 = pool_message(pool, "release_metadata_snap", r != 0 ? NULL : reterr);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': cannot run %s: %s", pool->name,
					   argv[0], strerror(-r));
	if (r > 0)
		return thinsnap_error_setf(reterr, -EIO, "pool '%s': %s failed (exit %d)",
					   pool->name, argv[0], r);
	return r2 < 0 ? r2 : 0;
}

/* --- the pool's own device list --- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

void thinsnap_pool_thin_ids_free(uint32_t *ids)
{
	free(ids);
}

int thinsnap_pool_list_thin_ids(struct thinsnap_pool *pool, uint32_t **ret_ids, size_t *ret_n,
				struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *out = NULL;
	CLEANUP_FREE uint32_t *ids = NULL;
	char meta_path[4096];
	size_t n = 0, cap = 0;
	int r;

	if (!pool || !ret_ids || !ret_n)
		return thinsnap_error_setf(reterr, -EINVAL, "list: missing argument");
	r = thinsnap_pool_metadata_path(pool, meta_path, sizeof(meta_path), reterr);
	if (r < 0)
		return r;
	{
		char *argv[] = { "thin_dump", "-m", "--skip-mappings", meta_path, NULL };
		r = thinsnap_pool_run_on_metadata_snap(pool, argv, &out, reterr);
	}
	if (r < 0)
		return r;
	for (const char *p = out; (p = strstr(p, "<device dev_id=\""));) {
		uint64_t v = 0;
		p += strlen("<device dev_id=\"");
		while (*p >= '0' && *p <= '9' && v <= THINSNAP_POOL_DEV_ID_MAX)
			v = v * 10 + (uint64_t)(*p++ - '0');
		if (*p != '"' || v > THINSNAP_POOL_DEV_ID_MAX)
			return thinsnap_error_setf(reterr, -EIO, "pool '%s': bad thin_dump output",
						   pool->name);
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			uint32_t *nn = realloc(ids, ncap * sizeof(*ids));
			if (!nn)
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			ids = nn;
			cap = ncap;
		}
		ids[n++] = (uint32_t)v;
	}
	if (n > 1)
		qsort(ids, n, sizeof(*ids), cmp_u32);
	*ret_n = n;
	*ret_ids = n ? TAKE_PTR(ids) : NULL;
	return 0;
}

/* --- per-device usage (thin_ls) --- */

void thinsnap_pool_thin_usage_free(struct thinsnap_pool_thin_usage *usage)
{
	free(usage);
}

int thinsnap_pool_thin_usage(struct thinsnap_pool *pool,
			     struct thinsnap_pool_thin_usage **ret_usage, size_t *ret_n,
			     struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *out = NULL;
	char meta_path[4096];
	int r;

	if (!pool || !ret_usage || !ret_n)
		return thinsnap_error_setf(reterr, -EINVAL, "usage: missing argument");
	r = thinsnap_pool_metadata_path(pool, meta_path, sizeof(meta_path), reterr);
	if (r < 0)
		return r;
	{
		char *argv[] = { "thin_ls",
				 "-m",
				 "--no-headers",
				 "-o",
				 "DEV,MAPPED_BYTES,EXCLUSIVE_BYTES,SHARED_BYTES",
				 meta_path,
				 NULL };
		r = thinsnap_pool_run_on_metadata_snap(pool, argv, &out, reterr);
	}
	if (r < 0)
		return r;
	r = thinsnap_pool_parse_thin_ls(out, ret_usage, ret_n);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': %s", pool->name,
					   r == -ENOMEM ? "out of memory"
							: "unexpected thin_ls output");
	return 0;
}

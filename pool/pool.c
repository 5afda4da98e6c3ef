/*
 * A dm-thin pool and its thin devices on top of dm/: create/open/destroy/grow, identity in
 * <state_dir>/identity (so a swapped pool is refused and a reboot re-activates it after
 * thin_check), thin devices by 24-bit dev_id, transaction id compare-and-swap, status.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thinsnap/pool.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "dm/dm.h"
#include "mkfs/mkfs.h"
#include "pool/loop.h"
#include "pool/thin-ls.h"

#define IDENTITY_FILE      "identity"
#define DATA_FILE          "data"
#define METADATA_FILE      "metadata"
#define METASNAP_LOCK_FILE "metadata-snap.lock"
#define UUID_PREFIX        "THINSNAP-"
#define MIN_META_BYTES     (4ull << 20)
#define MAX_META_BYTES     (16ull << 30)
#define DEFAULT_BLOCK      128u

extern char **environ;

struct thinsnap_pool {
	char *name;
	char *state_dir;
	char uuid[33];
	char dm_uuid[64];     /* THINSNAP-<uuid>-pool */
	char thin_prefix[64]; /* THINSNAP-<uuid>- */
	bool loop;
	char *data_dev; /* device paths (device-backed) */
	char *metadata_dev;
	uint32_t data_block_sectors;
	uint64_t low_water_blocks;
	uint64_t data_size_bytes;
	uint64_t metadata_size_bytes;
	bool error_if_no_space;
	bool no_discard_passdown;
	dev_t data_rdev, metadata_rdev, pool_rdev;
};

void thinsnap_pool_free(struct thinsnap_pool *pool)
{
	if (!pool)
		return;
	free(pool->name);
	free(pool->state_dir);
	free(pool->data_dev);
	free(pool->metadata_dev);
	free(pool);
}

DEFINE_CLEANUP(struct thinsnap_pool *, thinsnap_pool_free)

const char *thinsnap_pool_uuid(const struct thinsnap_pool *pool)
{
	return pool ? pool->uuid : NULL;
}

const char *thinsnap_pool_name(const struct thinsnap_pool *pool)
{
	return pool ? pool->name : NULL;
}

uint32_t thinsnap_pool_data_block_sectors(const struct thinsnap_pool *pool)
{
	return pool ? pool->data_block_sectors : 0;
}

const char *thinsnap_pool_mode_name(enum thinsnap_pool_mode mode)
{
	switch (mode) {
	case THINSNAP_POOL_MODE_RW:
		return "rw";
	case THINSNAP_POOL_MODE_RO:
		return "ro";
	case THINSNAP_POOL_MODE_OUT_OF_DATA_SPACE:
		return "out_of_data_space";
	case THINSNAP_POOL_MODE_FAIL:
		break;
	}
	return "fail";
}

int thinsnap_pool_dev_path(const char *dm_name, char *buf, size_t size)
{
	if (!dm_name || !buf)
		return -EINVAL;
	if (snprintf(buf, size, "/dev/mapper/%s", dm_name) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int check_dev_id(const struct thinsnap_pool *pool, uint32_t dev_id, const char *what,
			struct thinsnap_error *reterr)
{
	if (dev_id > THINSNAP_POOL_DEV_ID_MAX)
		return thinsnap_error_setf(reterr, -ERANGE,
					   "pool '%s': %s %" PRIu32 " is out of range (max %u)",
					   pool->name, what, dev_id, THINSNAP_POOL_DEV_ID_MAX);
	return 0;
}

static int check_pool_name(const char *name, struct thinsnap_error *reterr)
{
	if (!name || !*name)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool name");
	if (strlen(name) > THINSNAP_POOL_DM_NAME_MAX)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "pool name is too long");
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("-_.+", *p))
			return thinsnap_error_setf(reterr, -EINVAL, "invalid pool name '%s'", name);
	return 0;
}

static void thin_uuid(const struct thinsnap_pool *pool, uint32_t dev_id, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%s%" PRIu32, pool->thin_prefix, dev_id);
}

static void set_uuids(struct thinsnap_pool *pool)
{
	(void)snprintf(pool->dm_uuid, sizeof(pool->dm_uuid), UUID_PREFIX "%s-pool", pool->uuid);
	(void)snprintf(pool->thin_prefix, sizeof(pool->thin_prefix), UUID_PREFIX "%s-", pool->uuid);
}

static int path_in(const struct thinsnap_pool *pool, const char *file, char *buf, size_t size)
{
	if (snprintf(buf, size, "%s/%s", pool->state_dir, file) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

/* --- the identity file --- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int replace_file(int dirfd, const char *name, const char *buf, size_t len)
{
	CLEANUP_CLOSE int fd = -EBADF;
	char tmp[256];
	int r;

	if (snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	r = write_all(fd, buf, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	return fsync(dirfd) < 0 ? -errno : 0;
}

static int write_identity(const struct thinsnap_pool *pool, struct thinsnap_error *reterr)
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
	r = replace_file(dirfd, IDENTITY_FILE, buf, (size_t)n);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': writing '%s/%s': %s", pool->name,
					   pool->state_dir, IDENTITY_FILE, strerror(-r));
	return 0;
}

static int parse_u64_str(const char *s, uint64_t *ret)
{
	char *end = NULL;
	unsigned long long v;

	if (!*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int read_identity(const char *state_dir, struct thinsnap_pool **ret,
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
		} else if (parse_u64_str(val, &v) < 0) {
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
	char path[4096];

	if (!state_dir)
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, IDENTITY_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	if (access(path, F_OK) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

/* --- tables --- */

static int pool_table_params(const struct thinsnap_pool *pool, char *buf, size_t size)
{
	const char *feat[3];
	int nf = 0, n;

	if (pool->no_discard_passdown)
		feat[nf++] = "no_discard_passdown";
	if (pool->error_if_no_space)
		feat[nf++] = "error_if_no_space";
	n = snprintf(buf, size, "%u:%u %u:%u %" PRIu32 " %" PRIu64 " %d%s%s%s%s",
		     major(pool->metadata_rdev), minor(pool->metadata_rdev), major(pool->data_rdev),
		     minor(pool->data_rdev), pool->data_block_sectors, pool->low_water_blocks, nf,
		     nf > 0 ? " " : "", nf > 0 ? feat[0] : "", nf > 1 ? " " : "",
		     nf > 1 ? feat[1] : "");
	return n < 0 || n >= (int)size ? -ENAMETOOLONG : 0;
}

static uint64_t pool_length_sectors(const struct thinsnap_pool *pool)
{
	uint64_t s = pool->data_size_bytes / 512;
	return s - s % pool->data_block_sectors;
}

/* The pool's one-target table from *pool, its params in buf. */
static int pool_table(const struct thinsnap_pool *pool, char *buf, size_t size,
		      struct thinsnap_dm_table *ret, struct thinsnap_error *reterr)
{
	int r = pool_table_params(pool, buf, size);

	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool table too long");
	ret->length_sectors = pool_length_sectors(pool);
	ret->target = "thin-pool";
	ret->params = buf;
	return 0;
}

static int activate_pool(struct thinsnap_pool *pool, struct thinsnap_error *reterr)
{
	char params[256];
	struct thinsnap_dm_table table;
	struct thinsnap_dm_info info;
	int r;

	r = pool_table(pool, params, sizeof(params), &table, reterr);
	if (r < 0)
		return r;
	if (table.length_sectors == 0)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': data device is smaller than one block",
					   pool->name);
	r = thinsnap_dm_create(pool->name, pool->dm_uuid, &table, false, &info, reterr);
	if (r == -EBUSY || r == -EEXIST) {
		/* the name is taken, or a device is held by something else (kept as is) */
		struct thinsnap_dm_info other;
		if (thinsnap_dm_info(pool->name, &other, NULL) == 0 && other.exists)
			return thinsnap_error_setf(reterr, -EEXIST, "dm device '%s' already exists",
						   pool->name);
	}
	if (r < 0)
		return r;
	pool->pool_rdev = makedev(info.major, info.minor);
	return 0;
}

/* --- helpers on devices --- */

static int blockdev_size(int fd, uint64_t *ret)
{
	uint64_t sz;
	if (ioctl(fd, BLKGETSIZE64, &sz) < 0)
		return -errno;
	*ret = sz;
	return 0;
}

static int zero_head(int fd)
{
	static const char zeros[4096];
	if (pwrite(fd, zeros, sizeof(zeros), 0) != (ssize_t)sizeof(zeros))
		return errno ? -errno : -EIO;
	return fsync(fd) < 0 ? -errno : 0;
}

/* Finds prog in the usual system directories (the library does not read PATH). */
static int find_tool(const char *prog, char *buf, size_t size)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin",           "/usr/bin",
					    "/bin",      "/usr/local/sbin", "/usr/local/bin" };
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		if (snprintf(buf, size, "%s/%s", dirs[i], prog) >= (int)size)
			return -ENAMETOOLONG;
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/*
 * Runs argv (argv[0] a tool name), stdin and stderr on /dev/null, stdout into *ret_out when
 * not NULL (malloc'd, NUL-terminated). Returns the exit status (>= 0) or -errno.
 */
static int run_tool(char *const argv[], char **ret_out)
{
	char path[256];
	CLEANUP_CLOSE int rd = -EBADF;
	CLEANUP_FREE char *out = NULL;
	posix_spawn_file_actions_t fa;
	size_t len = 0, cap = 0;
	int pipefd[2] = { -1, -1 };
	pid_t pid;
	int r, status;

	r = find_tool(argv[0], path, sizeof(path));
	if (r < 0)
		return r;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	rd = pipefd[0];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	r = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	(void)close(pipefd[1]);
	if (r != 0)
		return -r;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			size_t ncap = cap ? cap * 2 : 16384;
			char *n = realloc(out, ncap);
			if (!n) {
				(void)close(TAKE_FD(rd));
				(void)waitpid(pid, &status, 0);
				return -ENOMEM;
			}
			out = n;
			cap = ncap;
		}
		ssize_t n = read(rd, out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (out)
		out[len] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (ret_out) {
		if (!out && !(out = strdup("")))
			return -ENOMEM;
		*ret_out = TAKE_PTR(out);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* clear_needs_check: and clear the superblock's needs_check flag if the metadata is sound. */
static int run_thin_check(const char *pool_name, const char *meta_path, bool clear_needs_check,
			  struct thinsnap_error *reterr)
{
	char *argv[] = { "thin_check", "-q", (char *)meta_path, NULL, NULL };
	int r;

	if (clear_needs_check) {
		argv[2] = "--clear-needs-check-flag";
		argv[3] = (char *)meta_path;
	}
	r = run_tool(argv, NULL);

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

static int refuse_signature(const char *dev, bool force, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *type = NULL;
	int r;

	if (force)
		return 0;
	r = thinsnap_mkfs_probe(dev, &type, reterr);
	if (r < 0)
		return r;
	if (type)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "'%s' holds %s; refusing to overwrite it (use force)",
					   dev, type);
	return 0;
}

static int random_uuid(char buf[33])
{
	unsigned char b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(b); i++)
		(void)snprintf(buf + 2 * i, 3, "%02x", b[i]);
	return 0;
}

static int make_file(const char *path, uint64_t size, struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return thinsnap_error_setf(reterr, errno == EEXIST ? -EEXIST : -errno,
					   "cannot create '%s': %m", path);
	if (ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0) {
		int e = -errno;
		(void)unlink(path);
		return thinsnap_error_setf(reterr, e, "cannot size '%s': %s", path, strerror(-e));
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	CLEANUP_CLOSE int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

/* --- create --- */

struct undo_files {
	char data[4096], meta[4096], identity[4096];
	bool armed;
};

static void undo_filesp(struct undo_files *u)
{
	if (!u->armed)
		return;
	if (u->data[0])
		(void)unlink(u->data);
	if (u->meta[0])
		(void)unlink(u->meta);
	if (u->identity[0])
		(void)unlink(u->identity);
}

int thinsnap_pool_create(const struct thinsnap_pool_create_opts *opts,
			 struct thinsnap_pool **ret_pool, struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *pool = NULL;
	CLEANUP(undo_filesp) struct undo_files undo = { .armed = false };
	CLEANUP_CLOSE int data_fd = -EBADF;
	CLEANUP_CLOSE int meta_fd = -EBADF;
	struct thinsnap_dm_info info;
	struct stat st;
	int r;

	if (!opts || !ret_pool)
		return thinsnap_error_setf(reterr, -EINVAL, "pool create: no options");
	r = check_pool_name(opts->name, reterr);
	if (r < 0)
		return r;
	if (!opts->state_dir || !*opts->state_dir)
		return thinsnap_error_setf(reterr, -EINVAL, "pool '%s': no state dir", opts->name);
	if (!opts->data_dev != !opts->metadata_dev)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': give both data and metadata devices, or "
					   "neither (loop files)",
					   opts->name);
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	pool->loop = !opts->data_dev;
	pool->data_block_sectors =
		opts->data_block_sectors ? opts->data_block_sectors : DEFAULT_BLOCK;
	if (pool->data_block_sectors < 128 || pool->data_block_sectors > 2097152 ||
	    pool->data_block_sectors % 128)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': block size must be 64 KiB .. 1 GiB, a "
					   "multiple of 64 KiB",
					   opts->name);
	pool->low_water_blocks = opts->low_water_blocks;
	pool->error_if_no_space = opts->error_if_no_space;
	pool->no_discard_passdown = opts->no_discard_passdown;
	pool->name = strdup(opts->name);
	pool->state_dir = strdup(opts->state_dir);
	if (!pool->name || !pool->state_dir)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (pool->loop && opts->data_size_bytes < (uint64_t)pool->data_block_sectors * 512)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': data size must be at least one block",
					   opts->name);

	r = thinsnap_dm_info(opts->name, &info, reterr);
	if (r < 0)
		return r;
	if (info.exists)
		return thinsnap_error_setf(reterr, -EEXIST, "dm device '%s' already exists",
					   opts->name);
	if (mkdir(opts->state_dir, 0700) < 0 && errno != EEXIST)
		return thinsnap_error_setf(reterr, -errno, "cannot create state dir '%s': %m",
					   opts->state_dir);
	if (path_in(pool, IDENTITY_FILE, undo.identity, sizeof(undo.identity)) < 0)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "state dir path too long");
	if (access(undo.identity, F_OK) == 0)
		return thinsnap_error_setf(reterr, -EEXIST, "state dir '%s' already records a pool",
					   opts->state_dir);
	undo.identity[0] = '\0'; /* not ours yet */
	r = random_uuid(pool->uuid);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "no random bytes for the pool uuid");
	set_uuids(pool);
	undo.armed = true;

	if (pool->loop) {
		uint64_t meta = opts->metadata_size_bytes;
		char path[4096];
		if (meta == 0) {
			/* kernel doc: 48 * data size / block size, here at least 4 MiB */
			meta = 48 * (opts->data_size_bytes / (pool->data_block_sectors * 512ull));
			if (meta < MIN_META_BYTES)
				meta = MIN_META_BYTES;
			if (meta > MAX_META_BYTES)
				meta = MAX_META_BYTES;
			meta = (meta + (1 << 20) - 1) & ~((1ull << 20) - 1);
		}
		pool->data_size_bytes = opts->data_size_bytes;
		pool->metadata_size_bytes = meta;
		if (path_in(pool, DATA_FILE, path, sizeof(path)) < 0)
			return thinsnap_error_setf(reterr, -ENAMETOOLONG,
						   "state dir path too long");
		r = make_file(path, pool->data_size_bytes, reterr);
		if (r < 0)
			return r;
		memcpy(undo.data, path, sizeof(path));
		if (path_in(pool, METADATA_FILE, path, sizeof(path)) < 0)
			return thinsnap_error_setf(reterr, -ENAMETOOLONG,
						   "state dir path too long");
		r = make_file(path, pool->metadata_size_bytes, reterr);
		if (r < 0)
			return r;
		memcpy(undo.meta, path, sizeof(path));
		r = thinsnap_pool_loop_attach(undo.data, &data_fd, &pool->data_rdev);
		if (r < 0)
			return thinsnap_error_setf(reterr, r,
						   "cannot attach '%s' to a loop device: %s",
						   undo.data, strerror(-r));
		r = thinsnap_pool_loop_attach(undo.meta, &meta_fd, &pool->metadata_rdev);
		if (r < 0)
			return thinsnap_error_setf(reterr, r,
						   "cannot attach '%s' to a loop device: %s",
						   undo.meta, strerror(-r));
	} else {
		if (strcmp(opts->data_dev, opts->metadata_dev) == 0)
			return thinsnap_error_setf(
				reterr, -EINVAL, "pool '%s': data and metadata are the same device",
				opts->name);
		r = refuse_signature(opts->data_dev, opts->force, reterr);
		if (r < 0)
			return r;
		r = refuse_signature(opts->metadata_dev, opts->force, reterr);
		if (r < 0)
			return r;
		pool->data_dev = strdup(opts->data_dev);
		pool->metadata_dev = strdup(opts->metadata_dev);
		if (!pool->data_dev || !pool->metadata_dev)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		/* O_EXCL on a block device: refused while mounted or held by dm (another pool) */
		data_fd = open(opts->data_dev, O_RDWR | O_CLOEXEC | O_EXCL);
		if (data_fd < 0 && errno == EBUSY)
			return thinsnap_error_setf(reterr, -EBUSY,
						   "'%s' is in use (mounted or held by a device)",
						   opts->data_dev);
		if (data_fd < 0 || fstat(data_fd, &st) < 0 || !S_ISBLK(st.st_mode))
			return thinsnap_error_setf(reterr, data_fd < 0 ? -errno : -ENOTBLK,
						   "cannot use '%s' as a data device",
						   opts->data_dev);
		pool->data_rdev = st.st_rdev;
		meta_fd = open(opts->metadata_dev, O_RDWR | O_CLOEXEC | O_EXCL);
		if (meta_fd < 0 && errno == EBUSY)
			return thinsnap_error_setf(reterr, -EBUSY,
						   "'%s' is in use (mounted or held by a device)",
						   opts->metadata_dev);
		if (meta_fd < 0 || fstat(meta_fd, &st) < 0 || !S_ISBLK(st.st_mode))
			return thinsnap_error_setf(reterr, meta_fd < 0 ? -errno : -ENOTBLK,
						   "cannot use '%s' as a metadata device",
						   opts->metadata_dev);
		pool->metadata_rdev = st.st_rdev;
		r = blockdev_size(data_fd, &pool->data_size_bytes);
		if (r == 0)
			r = blockdev_size(meta_fd, &pool->metadata_size_bytes);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "cannot get device sizes");
		if (opts->data_size_bytes) {
			if (opts->data_size_bytes > pool->data_size_bytes)
				return thinsnap_error_setf(reterr, -EINVAL,
							   "pool '%s': data size exceeds '%s'",
							   opts->name, opts->data_dev);
			pool->data_size_bytes = opts->data_size_bytes;
		}
		if (pool->metadata_size_bytes > MAX_META_BYTES)
			pool->metadata_size_bytes = MAX_META_BYTES;
	}
	r = zero_head(meta_fd);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': cannot zero the metadata: %s",
					   opts->name, strerror(-r));
	if (!pool->loop) { /* let dm claim the devices (loop fds stay open: autoclear) */
		(void)close(TAKE_FD(data_fd));
		(void)close(TAKE_FD(meta_fd));
	}
	r = write_identity(pool, reterr);
	if (r < 0)
		return r;
	(void)path_in(pool, IDENTITY_FILE, undo.identity, sizeof(undo.identity));
	r = activate_pool(pool, reterr);
	if (r < 0)
		return r;
	undo.armed = false;
	(void)fsync_dir(pool->state_dir);
	*ret_pool = TAKE_PTR(pool);
	return 0; /* the loop fds close here; the pool holds the loop devices now */
}

/* --- open --- */

static int check_live_table(struct thinsnap_pool *pool, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *target = NULL;
	CLEANUP_FREE char *params = NULL;
	struct thinsnap_dm_pool_table t;
	char path[4096];
	struct stat st;
	int r;

	r = thinsnap_dm_table(pool->name, false, NULL, &target, &params, reterr);
	if (r < 0)
		return r;
	if (strcmp(target, "thin-pool") != 0 || thinsnap_dm_parse_pool_table(params, &t) < 0)
		return thinsnap_error_setf(reterr, -EINVAL, "dm device '%s' is not a thin-pool",
					   pool->name);
	if (t.data_block_sectors != pool->data_block_sectors)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': block size %u differs from the recorded %u; "
					   "not the pool recorded in '%s'",
					   pool->name, t.data_block_sectors,
					   pool->data_block_sectors, pool->state_dir);
	pool->data_rdev = makedev(t.data_major, t.data_minor);
	pool->metadata_rdev = makedev(t.metadata_major, t.metadata_minor);
	if (pool->loop) {
		(void)path_in(pool, DATA_FILE, path, sizeof(path));
		r = thinsnap_pool_loop_backs(pool->data_rdev, path);
		if (r > 0) {
			(void)path_in(pool, METADATA_FILE, path, sizeof(path));
			r = thinsnap_pool_loop_backs(pool->metadata_rdev, path);
		}
		if (r <= 0)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "pool '%s': its devices are not the loop files "
						   "in '%s'; not the recorded pool",
						   pool->name, pool->state_dir);
	} else {
		if (stat(pool->data_dev, &st) < 0 || st.st_rdev != pool->data_rdev ||
		    stat(pool->metadata_dev, &st) < 0 || st.st_rdev != pool->metadata_rdev)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "pool '%s': its devices are not '%s' and '%s'; "
						   "not the recorded pool",
						   pool->name, pool->data_dev, pool->metadata_dev);
	}
	return 0;
}

/*
 * Activates the recorded, inactive pool: attaches its loop files (they detach by themselves
 * when the pool device goes), runs thin_check on the metadata, and loads the pool table.
 */
static int attach_check_activate(struct thinsnap_pool *pool, bool clear_needs_check,
				 struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int data_fd = -EBADF;
	CLEANUP_CLOSE int meta_fd = -EBADF;
	char meta_path[4096];
	int r;

	if (pool->loop) {
		char path[4096];
		(void)path_in(pool, DATA_FILE, path, sizeof(path));
		r = thinsnap_pool_loop_attach(path, &data_fd, &pool->data_rdev);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "pool '%s': cannot attach '%s': %s",
						   pool->name, path, strerror(-r));
		(void)path_in(pool, METADATA_FILE, path, sizeof(path));
		r = thinsnap_pool_loop_attach(path, &meta_fd, &pool->metadata_rdev);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "pool '%s': cannot attach '%s': %s",
						   pool->name, path, strerror(-r));
		r = thinsnap_pool_blockdev_path(pool->metadata_rdev, meta_path, sizeof(meta_path));
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "pool '%s': no loop device node",
						   pool->name);
		r = blockdev_size(data_fd, &pool->data_size_bytes);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "pool '%s': data size: %s",
						   pool->name, strerror(-r));
	} else {
		struct stat st;
		data_fd = open(pool->data_dev, O_RDONLY | O_CLOEXEC);
		meta_fd = open(pool->metadata_dev, O_RDONLY | O_CLOEXEC);
		if (data_fd < 0 || meta_fd < 0)
			return thinsnap_error_setf(reterr, -ENOENT,
						   "pool '%s': cannot open '%s' or '%s'",
						   pool->name, pool->data_dev, pool->metadata_dev);
		if (fstat(data_fd, &st) < 0)
			return thinsnap_error_setf(reterr, -errno, "stat '%s': %m", pool->data_dev);
		pool->data_rdev = st.st_rdev;
		if (fstat(meta_fd, &st) < 0)
			return thinsnap_error_setf(reterr, -errno, "stat '%s': %m",
						   pool->metadata_dev);
		pool->metadata_rdev = st.st_rdev;
		(void)snprintf(meta_path, sizeof(meta_path), "%s", pool->metadata_dev);
	}
	r = run_thin_check(pool->name, meta_path, clear_needs_check, reterr);
	if (r < 0)
		return r;
	return activate_pool(pool, reterr);
}

int thinsnap_pool_open(const char *name, const char *state_dir, struct thinsnap_pool **ret_pool,
		       struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *pool = NULL;
	struct thinsnap_dm_info info;
	int r;

	if (!ret_pool)
		return thinsnap_error_setf(reterr, -EINVAL, "pool open: no result pointer");
	r = check_pool_name(name, reterr);
	if (r < 0)
		return r;
	if (!state_dir || !*state_dir)
		return thinsnap_error_setf(reterr, -EINVAL, "pool '%s': no state dir", name);
	r = read_identity(state_dir, &pool, reterr);
	if (r == -ENOENT)
		return thinsnap_error_setf(reterr, -ENOENT, "pool '%s' not found in '%s'", name,
					   state_dir);
	if (r < 0)
		return r;
	if (strcmp(pool->name, name) != 0)
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s' not found: '%s' records pool '%s'", name,
					   state_dir, pool->name);
	r = thinsnap_dm_info(name, &info, reterr);
	if (r < 0)
		return r;
	if (info.exists) {
		if (strcmp(info.uuid, pool->dm_uuid) != 0)
			return thinsnap_error_setf(
				reterr, -EINVAL, "dm device '%s' is not the pool recorded in '%s'",
				name, state_dir);
		r = check_live_table(pool, reterr);
		if (r < 0)
			return r;
		if (info.suspended) {
			/* left so by a process killed between suspend and resume (pool grow):
			 * every thin device's I/O would wait forever */
			r = thinsnap_dm_resume(name, reterr);
			if (r < 0)
				return r;
		}
		pool->pool_rdev = makedev(info.major, info.minor);
		*ret_pool = TAKE_PTR(pool);
		return 0;
	}
	/* not active (after a reboot): attach, check, activate */
	r = attach_check_activate(pool, false, reterr);
	if (r < 0)
		return r;
	*ret_pool = TAKE_PTR(pool);
	return 0;
}

/* --- messages --- */

static int pool_message(struct thinsnap_pool *pool, const char *msg, struct thinsnap_error *reterr)
{
	return thinsnap_dm_message(pool->name, msg, NULL, reterr);
}

static int read_status(struct thinsnap_pool *pool, struct thinsnap_dm_pool_status *s,
		       struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *target = NULL;
	CLEANUP_FREE char *params = NULL;
	int r = thinsnap_dm_table(pool->name, true, NULL, &target, &params, reterr);

	if (r == -ENXIO)
		return thinsnap_error_setf(reterr, -ENXIO, "pool '%s' is not active", pool->name);
	if (r < 0)
		return r;
	if (strcmp(target, "thin-pool") != 0 || thinsnap_dm_parse_pool_status(params, s) < 0)
		return thinsnap_error_setf(reterr, -EIO, "pool '%s': unexpected status '%s'",
					   pool->name, params);
	return 0;
}

int thinsnap_pool_create_thin(struct thinsnap_pool *pool, uint32_t dev_id,
			      struct thinsnap_error *reterr)
{
	char msg[64];
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r < 0)
		return r;
	(void)snprintf(msg, sizeof(msg), "create_thin %" PRIu32, dev_id);
	r = pool_message(pool, msg, reterr);
	if (r == -EEXIST)
		return thinsnap_error_setf(reterr, -EEXIST,
					   "pool '%s': dev_id %" PRIu32 " already exists",
					   pool->name, dev_id);
	if (r == -ENXIO)
		return thinsnap_error_setf(reterr, -ENXIO, "pool '%s' is not active", pool->name);
	return r;
}

int thinsnap_pool_create_snap(struct thinsnap_pool *pool, uint32_t dev_id, uint32_t origin_id,
			      const char *origin_dm_name, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *found = NULL;
	struct thinsnap_dm_info info;
	char msg[80], uuid[96];
	const char *origin = NULL;
	int r, r2;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r == 0)
		r = check_dev_id(pool, origin_id, "origin dev_id", reterr);
	if (r < 0)
		return r;
	if (dev_id == origin_id)
		return thinsnap_error_setf(
			reterr, -EINVAL, "pool '%s': snapshot and origin are both dev_id %" PRIu32,
			pool->name, dev_id);
	(void)snprintf(msg, sizeof(msg), "create_snap %" PRIu32 " %" PRIu32, dev_id, origin_id);
	/* everything that can fail happens before the suspend */
	thin_uuid(pool, origin_id, uuid, sizeof(uuid));
	if (origin_dm_name) {
		r = thinsnap_dm_info(origin_dm_name, &info, reterr);
		if (r < 0)
			return r;
		if (info.exists && strcmp(info.uuid, uuid) != 0)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "pool '%s': '%s' is not dev_id %" PRIu32
						   " of this pool",
						   pool->name, origin_dm_name, origin_id);
		if (info.exists)
			origin = origin_dm_name;
	} else {
		r = thinsnap_dm_info_by_uuid(uuid, &info, &found, reterr);
		if (r < 0)
			return r;
		if (info.exists)
			origin = found;
	}
	if (origin) {
		r = thinsnap_dm_suspend(origin, false, reterr);
		if (r < 0)
			return r;
	}
	r = pool_message(pool, msg, reterr);
	if (origin) {
		r2 = thinsnap_dm_resume(origin, r < 0 ? NULL : reterr);
		if (r >= 0 && r2 < 0)
			return r2; /* the snapshot exists; the origin stays suspended */
	}
	if (r == -EEXIST)
		return thinsnap_error_setf(reterr, -EEXIST,
					   "pool '%s': dev_id %" PRIu32 " already exists",
					   pool->name, dev_id);
	if (r == -ENODATA)
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s': origin dev_id %" PRIu32 " does not exist",
					   pool->name, origin_id);
	if (r == -ENXIO)
		return thinsnap_error_setf(reterr, -ENXIO, "pool '%s' is not active", pool->name);
	return r;
}

int thinsnap_pool_delete_thin(struct thinsnap_pool *pool, uint32_t dev_id,
			      struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *active = NULL;
	struct thinsnap_dm_info info;
	char msg[64], uuid[96];
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r < 0)
		return r;
	thin_uuid(pool, dev_id, uuid, sizeof(uuid));
	r = thinsnap_dm_info_by_uuid(uuid, &info, &active, reterr);
	if (r < 0)
		return r;
	if (info.exists)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "pool '%s': dev_id %" PRIu32
					   " is active as '%s'; deactivate it first",
					   pool->name, dev_id, active);
	(void)snprintf(msg, sizeof(msg), "delete %" PRIu32, dev_id);
	r = pool_message(pool, msg, reterr);
	if (r == -ENODATA)
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s': dev_id %" PRIu32 " does not exist",
					   pool->name, dev_id);
	if (r == -EBUSY)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "pool '%s': dev_id %" PRIu32 " is in use (active)",
					   pool->name, dev_id);
	if (r == -ENXIO)
		return thinsnap_error_setf(reterr, -ENXIO, "pool '%s' is not active", pool->name);
	return r;
}

/* --- thin devices --- */

static int thin_params(const struct thinsnap_pool *pool, uint32_t dev_id, char *buf, size_t size)
{
	(void)snprintf(buf, size, "%u:%u %" PRIu32, major(pool->pool_rdev), minor(pool->pool_rdev),
		       dev_id);
	return 0;
}

static bool is_our_thin(const struct thinsnap_pool *pool, const char *uuid, uint32_t *ret_id)
{
	size_t n = strlen(pool->thin_prefix);
	uint64_t v;

	if (strncmp(uuid, pool->thin_prefix, n) != 0 || parse_u64_str(uuid + n, &v) < 0 ||
	    v > THINSNAP_POOL_DEV_ID_MAX)
		return false;
	if (ret_id)
		*ret_id = (uint32_t)v;
	return true;
}

int thinsnap_pool_activate_thin(struct thinsnap_pool *pool, uint32_t dev_id, const char *dm_name,
				uint64_t size_bytes, bool read_only, struct thinsnap_error *reterr)
{
	struct thinsnap_dm_table table;
	struct thinsnap_dm_info info;
	char params[64], uuid[96];
	int r;

	if (!pool || !dm_name)
		return thinsnap_error_setf(reterr, -EINVAL, "activate: no pool or name");
	r = check_dev_id(pool, dev_id, "dev_id", reterr);
	if (r < 0)
		return r;
	if (size_bytes == 0 || size_bytes % 512)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': size %" PRIu64
					   " is not a positive multiple of 512",
					   pool->name, size_bytes);
	thin_params(pool, dev_id, params, sizeof(params));
	thin_uuid(pool, dev_id, uuid, sizeof(uuid));
	table.length_sectors = size_bytes / 512;
	table.target = "thin";
	table.params = params;
	r = thinsnap_dm_create(dm_name, uuid, &table, read_only, NULL, reterr);
	if (r == -ENODATA)
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s': dev_id %" PRIu32 " does not exist",
					   pool->name, dev_id);
	if (r != -EBUSY && r != -EEXIST)
		return r;
	/* name or uuid taken: the same activation (idempotent), or a conflict */
	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0)
		return r;
	if (info.exists) {
		CLEANUP_FREE char *target = NULL;
		CLEANUP_FREE char *live = NULL;
		uint64_t len = 0;
		r = thinsnap_dm_table(dm_name, false, &len, &target, &live, reterr);
		if (r < 0)
			return r;
		if (strcmp(info.uuid, uuid) == 0 && strcmp(target, "thin") == 0 &&
		    strcmp(live, params) == 0 && len == table.length_sectors &&
		    info.read_only == read_only)
			return 0;
		return thinsnap_error_setf(reterr, -EEXIST,
					   "dm device '%s' already exists with another table",
					   dm_name);
	}
	{
		CLEANUP_FREE char *other = NULL;
		r = thinsnap_dm_info_by_uuid(uuid, &info, &other, reterr);
		if (r < 0)
			return r;
		if (info.exists)
			return thinsnap_error_setf(reterr, -EBUSY,
						   "pool '%s': dev_id %" PRIu32
						   " is already active as '%s'",
						   pool->name, dev_id, other);
	}
	return thinsnap_error_setf(reterr, -EBUSY, "cannot activate '%s': busy", dm_name);
}

int thinsnap_pool_resize_thin(struct thinsnap_pool *pool, const char *dm_name, uint64_t size_bytes,
			      struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *target = NULL;
	CLEANUP_FREE char *params = NULL;
	struct thinsnap_dm_table table;
	struct thinsnap_dm_info info;
	uint64_t len = 0;
	int r, r2;

	if (!pool || !dm_name)
		return thinsnap_error_setf(reterr, -EINVAL, "resize: no pool or name");
	if (size_bytes == 0 || size_bytes % 512)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': size %" PRIu64
					   " is not a positive multiple of 512",
					   pool->name, size_bytes);
	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0)
		return r;
	if (!info.exists)
		return thinsnap_error_setf(reterr, -ENXIO, "dm device '%s' is not active", dm_name);
	if (!is_our_thin(pool, info.uuid, NULL))
		return thinsnap_error_setf(reterr, -EINVAL,
					   "dm device '%s' is not a thin device of pool '%s'",
					   dm_name, pool->name);
	if (info.read_only)
		return thinsnap_error_setf(reterr, -EROFS, "dm device '%s' is read-only", dm_name);
	r = thinsnap_dm_table(dm_name, false, &len, &target, &params, reterr);
	if (r < 0)
		return r;
	if (len * 512 == size_bytes)
		return 0;
	if (len * 512 > size_bytes)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "'%s': cannot shrink from %" PRIu64 " to %" PRIu64
					   " bytes",
					   dm_name, len * 512, size_bytes);
	table.length_sectors = size_bytes / 512;
	table.target = target;
	table.params = params;
	/* everything that can fail before the suspend; then resume on every path */
	r = thinsnap_dm_reload(dm_name, &table, reterr);
	if (r < 0)
		return r;
	r = thinsnap_dm_suspend(dm_name, false, reterr);
	r2 = thinsnap_dm_resume(dm_name, r < 0 ? NULL : reterr);
	return r < 0 ? r : r2;
}

int thinsnap_pool_deactivate_thin(struct thinsnap_pool *pool, const char *dm_name,
				  struct thinsnap_error *reterr)
{
	struct thinsnap_dm_info info;
	int r;

	if (!pool || !dm_name)
		return thinsnap_error_setf(reterr, -EINVAL, "deactivate: no pool or name");
	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0)
		return r;
	if (!info.exists)
		return 0;
	if (!is_our_thin(pool, info.uuid, NULL))
		return thinsnap_error_setf(reterr, -EINVAL,
					   "dm device '%s' is not a thin device of pool '%s'",
					   dm_name, pool->name);
	r = thinsnap_dm_remove(dm_name, false, reterr);
	if (r == -ENXIO)
		return 0; /* gone meanwhile */
	return r;
}

int thinsnap_pool_thin_info(struct thinsnap_pool *pool, const char *dm_name,
			    struct thinsnap_pool_thin_info *ret_info, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *target = NULL;
	CLEANUP_FREE char *params = NULL;
	struct thinsnap_pool_thin_info ti;
	struct thinsnap_dm_thin_status ts;
	struct thinsnap_dm_info info;
	uint64_t len = 0;
	int r;

	if (!pool || !dm_name || !ret_info)
		return thinsnap_error_setf(reterr, -EINVAL, "thin info: missing argument");
	memset(&ti, 0, sizeof(ti));
	r = thinsnap_dm_info(dm_name, &info, reterr);
	if (r < 0)
		return r;
	if (!info.exists) {
		*ret_info = ti;
		return 0;
	}
	if (!is_our_thin(pool, info.uuid, &ti.dev_id))
		return thinsnap_error_setf(reterr, -EINVAL,
					   "dm device '%s' is not a thin device of pool '%s'",
					   dm_name, pool->name);
	ti.exists = true;
	ti.read_only = info.read_only;
	ti.suspended = info.suspended;
	ti.open_count = info.open_count;
	ti.major = info.major;
	ti.minor = info.minor;
	if (!info.suspended) { /* status of a suspended thin may block on the pool */
		r = thinsnap_dm_table(dm_name, true, &len, &target, &params, reterr);
		if (r < 0)
			return r;
		if (thinsnap_dm_parse_thin_status(params, &ts) < 0)
			return thinsnap_error_setf(
				reterr, -EIO, "'%s': unexpected thin status '%s'", dm_name, params);
		ti.mapped_sectors = ts.mapped_sectors;
		if (ts.has_highest_mapped)
			ti.mapped_end_bytes = (ts.highest_mapped_sector + 1) * 512;
		ti.size_bytes = len * 512;
	}
	*ret_info = ti;
	return 0;
}

/* --- transaction id, status --- */

int thinsnap_pool_transaction_id(struct thinsnap_pool *pool, uint64_t *ret_tid,
				 struct thinsnap_error *reterr)
{
	struct thinsnap_dm_pool_status s;
	int r;

	if (!pool || !ret_tid)
		return thinsnap_error_setf(reterr, -EINVAL, "transaction id: missing argument");
	r = read_status(pool, &s, reterr);
	if (r < 0)
		return r;
	if (s.mode == THINSNAP_DM_POOL_FAIL)
		return thinsnap_error_setf(reterr, -EIO, "pool '%s' has failed", pool->name);
	*ret_tid = s.transaction_id;
	return 0;
}

int thinsnap_pool_set_transaction_id(struct thinsnap_pool *pool, uint64_t old_tid, uint64_t new_tid,
				     struct thinsnap_error *reterr)
{
	char msg[80];
	uint64_t cur;
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	/* the kernel compares and swaps (-EINVAL on a mismatch): no status read before it */
	(void)snprintf(msg, sizeof(msg), "set_transaction_id %" PRIu64 " %" PRIu64, old_tid,
		       new_tid);
	r = pool_message(pool, msg, reterr);
	if (r == -EINVAL && thinsnap_pool_transaction_id(pool, &cur, NULL) == 0 && cur != old_tid)
		return thinsnap_error_setf(reterr, -ESTALE,
					   "pool '%s': transaction id is %" PRIu64 ", not %" PRIu64,
					   pool->name, cur, old_tid);
	return r;
}

int thinsnap_pool_status(struct thinsnap_pool *pool, struct thinsnap_pool_status *ret_status,
			 struct thinsnap_error *reterr)
{
	struct thinsnap_dm_pool_status s;
	struct thinsnap_pool_status out;
	int r;

	if (!pool || !ret_status)
		return thinsnap_error_setf(reterr, -EINVAL, "status: missing argument");
	r = read_status(pool, &s, reterr);
	if (r < 0)
		return r;
	memset(&out, 0, sizeof(out));
	out.mode = (enum thinsnap_pool_mode)s.mode;
	out.needs_check = s.needs_check;
	out.transaction_id = s.transaction_id;
	out.data_block_sectors = pool->data_block_sectors;
	out.used_data_blocks = s.used_data_blocks;
	out.total_data_blocks = s.total_data_blocks;
	out.used_metadata_blocks = s.used_metadata_blocks;
	out.total_metadata_blocks = s.total_metadata_blocks;
	out.used_data_bytes = s.used_data_blocks * pool->data_block_sectors * 512;
	out.total_data_bytes = s.total_data_blocks * pool->data_block_sectors * 512;
	out.used_metadata_bytes = s.used_metadata_blocks * 4096;
	out.total_metadata_bytes = s.total_metadata_blocks * 4096;
	*ret_status = out;
	return 0;
}

/* --- grow, destroy --- */

/*
 * Loads the pool's table from *pool (length, low water) and makes it live: reload, then a
 * noflush suspend and a resume (resumed on every path after the suspend but the injected
 * fault, which stands for a kill there).
 */
static int reload_pool(struct thinsnap_pool *pool, const char *fault, struct thinsnap_error *reterr)
{
	struct thinsnap_dm_table table;
	char params[256];
	int r;

	r = pool_table(pool, params, sizeof(params), &table, reterr);
	if (r < 0)
		return r;
	r = thinsnap_dm_reload(pool->name, &table, reterr);
	if (r < 0)
		return r;
	r = thinsnap_dm_suspend(pool->name, true, reterr);
	if (r < 0)
		return r;
	(void)fault; /* unused outside test builds */
	r = THINSNAP_FAULT(fault);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "injected fault after the suspend");
	return thinsnap_dm_resume(pool->name, reterr);
}

/*
 * Grows a loop-backed pool's data or metadata file to new_size_bytes, refreshes its loop
 * device and reloads the pool: the kernel takes the new data length from the table and the
 * metadata size from the device (its preresume resizes the metadata space map, and a pool
 * out of metadata space goes back to write mode).
 */
static int grow(struct thinsnap_pool *pool, bool metadata, uint64_t new_size_bytes,
		struct thinsnap_error *reterr)
{
	const char *what = metadata ? "metadata" : "data";
	char path[4096];
	uint64_t old;
	struct stat st;
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	if (!pool->loop)
		return thinsnap_error_setf(reterr, -EOPNOTSUPP,
					   "pool '%s': only loop-file pools can grow", pool->name);
	(void)path_in(pool, metadata ? METADATA_FILE : DATA_FILE, path, sizeof(path));
	if (stat(path, &st) < 0)
		return thinsnap_error_setf(reterr, -errno, "stat '%s': %m", path);
	old = (uint64_t)st.st_size;
	if (new_size_bytes < old)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': cannot shrink %s from %" PRIu64
					   " to %" PRIu64 " bytes",
					   pool->name, what, old, new_size_bytes);
	r = check_live_table(pool, reterr); /* refreshes data_rdev and metadata_rdev */
	if (r < 0)
		return r;
	if (truncate(path, (off_t)new_size_bytes) < 0)
		return thinsnap_error_setf(reterr, -errno, "cannot grow '%s': %m", path);
	r = thinsnap_pool_loop_refresh(metadata ? pool->metadata_rdev : pool->data_rdev);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': loop capacity refresh: %s",
					   pool->name, strerror(-r));
	if (!metadata)
		pool->data_size_bytes = new_size_bytes;
	r = reload_pool(pool, "pool.grow.after_suspend", reterr);
	if (r < 0)
		return r;
	return write_identity(pool, reterr);
}

int thinsnap_pool_grow(struct thinsnap_pool *pool, uint64_t new_data_size_bytes,
		       struct thinsnap_error *reterr)
{
	return grow(pool, false, new_data_size_bytes, reterr);
}

int thinsnap_pool_grow_metadata(struct thinsnap_pool *pool, uint64_t new_metadata_size_bytes,
				struct thinsnap_error *reterr)
{
	return grow(pool, true, new_metadata_size_bytes, reterr);
}

/* Removes the pool's dm device (if active); -EBUSY while thin devices of it are active. */
static int remove_pool_device(struct thinsnap_pool *pool, struct thinsnap_error *reterr)
{
	struct thinsnap_dm_info info;
	int r;

	r = thinsnap_dm_info(pool->name, &info, reterr);
	if (r < 0 || !info.exists)
		return r;
	if (strcmp(info.uuid, pool->dm_uuid) != 0)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "dm device '%s' is not the pool recorded in '%s'",
					   pool->name, pool->state_dir);
	if (info.open_count > 0)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "pool '%s' has active thin devices (open count %d); "
					   "deactivate them first",
					   pool->name, info.open_count);
	r = thinsnap_dm_remove(pool->name, false, reterr);
	return r == -ENXIO ? 0 : r;
}

int thinsnap_pool_destroy(struct thinsnap_pool *pool, struct thinsnap_error *reterr)
{
	char path[4096];
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	r = remove_pool_device(pool, reterr);
	if (r < 0)
		return r;
	/* the loop devices had LO_FLAGS_AUTOCLEAR: they detach as dm releases them */
	(void)path_in(pool, IDENTITY_FILE, path, sizeof(path));
	if (unlink(path) < 0 && errno != ENOENT)
		return thinsnap_error_setf(reterr, -errno, "cannot remove '%s': %m", path);
	(void)path_in(pool, METASNAP_LOCK_FILE, path, sizeof(path));
	(void)unlink(path);
	if (pool->loop) {
		(void)path_in(pool, DATA_FILE, path, sizeof(path));
		(void)unlink(path);
		(void)path_in(pool, METADATA_FILE, path, sizeof(path));
		(void)unlink(path);
	}
	(void)fsync_dir(pool->state_dir);
	thinsnap_pool_free(pool);
	return 0;
}

int thinsnap_pool_repair(struct thinsnap_pool *pool, struct thinsnap_error *reterr)
{
	int r = pool ? remove_pool_device(pool, reterr)
		     : thinsnap_error_setf(reterr, -EINVAL, "no pool");

	/* the metadata is checked (and its flag cleared) while no pool device holds it */
	return r < 0 ? r : attach_check_activate(pool, true, reterr);
}

/* --- the pool's metadata snapshot: its own device list, per-device usage --- */

/* The metadata device's path, for thin_dump and thin_ls. */
static int metadata_path(struct thinsnap_pool *pool, char *buf, size_t size,
			 struct thinsnap_error *reterr)
{
	int r;

	if (!pool->loop) {
		(void)snprintf(buf, size, "%s", pool->metadata_dev);
		return 0;
	}
	r = check_live_table(pool, reterr);
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
static int run_on_metadata_snap(struct thinsnap_pool *pool, char *const argv[], char **ret_out,
				struct thinsnap_error *reterr)
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
	r = run_tool(argv, ret_out);
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

void thinsnap_pool_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int thinsnap_pool_active_names(struct thinsnap_pool *pool, char ***ret_names, size_t *ret_n,
			       struct thinsnap_error *reterr)
{
	char **all = NULL;
	size_t n_all = 0, n = 0, plen;
	int r;

	if (!pool || !ret_names || !ret_n)
		return thinsnap_error_setf(reterr, -EINVAL, "active names: missing argument");
	r = thinsnap_dm_list(&all, &n_all, reterr);
	if (r < 0)
		return r;
	/* keep this pool's thin devices, in place; the others are freed */
	plen = strlen(pool->name);
	for (size_t i = 0; i < n_all; i++) {
		if (strncmp(all[i], pool->name, plen) == 0 && all[i][plen] == '-')
			all[n++] = all[i];
		else
			free(all[i]);
	}
	if (n == 0) {
		free(all);
		all = NULL;
	}
	qsort(all, n, sizeof(*all), cmp_str);
	*ret_names = all;
	*ret_n = n;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
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
	r = metadata_path(pool, meta_path, sizeof(meta_path), reterr);
	if (r < 0)
		return r;
	{
		char *argv[] = { "thin_dump", "-m", "--skip-mappings", meta_path, NULL };
		r = run_on_metadata_snap(pool, argv, &out, reterr);
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

int thinsnap_pool_thin_usage(struct thinsnap_pool *pool,
			     struct thinsnap_pool_thin_usage **ret_usage, size_t *ret_n,
			     struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *out = NULL;
	char meta_path[4096];
	int r;

	if (!pool || !ret_usage || !ret_n)
		return thinsnap_error_setf(reterr, -EINVAL, "usage: missing argument");
	r = metadata_path(pool, meta_path, sizeof(meta_path), reterr);
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
		r = run_on_metadata_snap(pool, argv, &out, reterr);
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

/* --- auto-grow and events --- */

bool thinsnap_pool_loop_backed(const struct thinsnap_pool *pool)
{
	return pool && pool->loop;
}

int thinsnap_pool_grow_limit(struct thinsnap_pool *pool, uint64_t *ret_bytes,
			     struct thinsnap_error *reterr)
{
	struct statvfs vfs;
	struct stat st;
	char path[4096];

	if (!pool || !ret_bytes)
		return thinsnap_error_setf(reterr, -EINVAL, "grow limit: missing argument");
	if (!pool->loop)
		return thinsnap_error_setf(reterr, -EOPNOTSUPP,
					   "pool '%s': only loop-file pools can grow", pool->name);
	(void)path_in(pool, DATA_FILE, path, sizeof(path));
	if (stat(path, &st) < 0 || statvfs(path, &vfs) < 0)
		return thinsnap_error_setf(reterr, -errno, "stat '%s': %m", path);
	*ret_bytes = (uint64_t)st.st_blocks * 512 + (uint64_t)vfs.f_bavail * vfs.f_frsize;
	return 0;
}

int thinsnap_pool_set_low_water(struct thinsnap_pool *pool, uint64_t low_water_blocks,
				struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *params = NULL;
	struct thinsnap_dm_pool_table t;
	uint64_t old, live_sectors = 0;
	int r;

	if (!pool)
		return thinsnap_error_setf(reterr, -EINVAL, "no pool");
	if (low_water_blocks > 0 &&
	    low_water_blocks >= pool_length_sectors(pool) / pool->data_block_sectors)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "pool '%s': low water mark %" PRIu64
					   " blocks is not below the pool's size",
					   pool->name, low_water_blocks);
	r = thinsnap_dm_table(pool->name, false, &live_sectors, NULL, &params, reterr);
	if (r < 0)
		return r;
	if (thinsnap_dm_parse_pool_table(params, &t) < 0)
		return thinsnap_error_setf(reterr, -EINVAL, "dm device '%s' is not a thin-pool",
					   pool->name);
	if (live_sectors > pool_length_sectors(pool))
		pool->data_size_bytes = live_sectors * 512; /* grown by another handle */
	if (t.low_water_blocks == low_water_blocks && pool->low_water_blocks == low_water_blocks)
		return 0;
	r = check_live_table(pool, reterr); /* refreshes the devices */
	if (r < 0)
		return r;
	old = pool->low_water_blocks;
	pool->low_water_blocks = low_water_blocks;
	r = reload_pool(pool, "pool.low_water.after_suspend", reterr);
	if (r == 0)
		r = write_identity(pool, reterr);
	if (r < 0)
		pool->low_water_blocks = old;
	return r;
}

int thinsnap_pool_wait_event(struct thinsnap_pool *pool, uint32_t *event_nr, int timeout_ms,
			     struct thinsnap_error *reterr)
{
	struct thinsnap_error e = { 0 };
	uint32_t now = 0;
	int r;

	if (!pool || !event_nr)
		return thinsnap_error_setf(reterr, -EINVAL, "wait event: missing argument");
	r = thinsnap_dm_wait_event(pool->name, *event_nr, timeout_ms, &now, &e);
	if (r == -ETIMEDOUT)
		return 0;
	if (r == -ENXIO)
		return thinsnap_error_setf(reterr, -ENXIO, "pool '%s' is not active", pool->name);
	if (r < 0) {
		if (reterr)
			*reterr = e;
		return r;
	}
	*event_nr = now;
	return 1;
}

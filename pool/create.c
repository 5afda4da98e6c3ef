/*
 * The pool's life on top of dm/: the handle, create (loop files or two devices), open (the
 * recorded pool, activated after a reboot once thin_check passes), destroy and repair, and
 * the thin-pool table they load.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/version.h"
#include "mkfs/mkfs.h"
#include "pool/internal.h"
#include "pool/loop.h"

#define MIN_META_BYTES (4ull << 20)
#define MAX_META_BYTES (16ull << 30)
#define DEFAULT_BLOCK  128u

/* --- the handle --- */

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

/* The pool's one-target table from *pool, its params in buf. */
int thinsnap_pool_table(const struct thinsnap_pool *pool, char *buf, size_t size,
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

	r = thinsnap_pool_table(pool, params, sizeof(params), &table, reterr);
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

static int refuse_signature(const char *dev, bool force, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *type = NULL;
	int r;

	if (force)
		return 0;
	r = thinsnap_mkfs_probe(dev, &type, reterr);
	if (r < 0)
		return r;
	if (type && strcmp(type, "LVM2_member") == 0)
		return thinsnap_error_setf(
			reterr, -EBUSY,
			"'%s' is an LVM physical volume; give thinsnap two "
			"logical volumes made on its volume group (lvcreate), or "
			"force to overwrite it",
			dev);
	if (type)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "'%s' holds %s; refusing to overwrite it: give an empty "
					   "device, wipe it (wipefs -a) or use force",
					   dev, type);
	return 0;
}

/*
 * Refuses a device of a thin pool, LVM's above all (its "VG-tp-tpool", "-tdata", "-tmeta"):
 * thinsnap changes a pool's transaction id, which LVM records and then refuses to activate
 * the pool with; force does not help.
 */
static int refuse_thin_pool(const char *dev, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *target = NULL;
	char uuid[THINSNAP_DM_UUID_MAX + 1], name[THINSNAP_DM_NAME_MAX + 1];
	const char *part;
	struct stat st;
	int r;

	if (stat(dev, &st) < 0 || !S_ISBLK(st.st_mode))
		return 0; /* the open below says what is wrong */
	r = thinsnap_pool_dm_uuid_of(st.st_rdev, uuid, sizeof(uuid));
	if (r == 0)
		r = thinsnap_pool_dm_name_of(st.st_rdev, name, sizeof(name));
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "'%s': reading its dm uuid: %s", dev,
					   strerror(-r));
	part = thinsnap_pool_lvm_thin_pool_part(uuid);
	if (!part && name[0] && thinsnap_dm_table(name, false, NULL, &target, NULL, NULL) == 0 &&
	    strcmp(target, "thin-pool") == 0)
		part = "thin-pool";
	if (part)
		return thinsnap_error_setf(
			reterr, -EINVAL,
			"'%s' is a thin pool device ('%s', %s): thinsnap sets a "
			"pool's transaction id, after which LVM refuses that pool; "
			"give two plain logical volumes instead (lvcreate -n tsdata "
			"-L SIZE VG; lvcreate -n tsmeta -L SIZE VG)",
			dev, name, part);
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
	r = thinsnap_version_check(opts->version, THINSNAP_POOL_CREATE_OPTS_VERSION,
				   "thinsnap_pool_create_opts", reterr);
	if (r < 0)
		return r;
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
		r = refuse_thin_pool(opts->data_dev, reterr);
		if (r == 0)
			r = refuse_thin_pool(opts->metadata_dev, reterr);
		if (r < 0)
			return r;
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
		/* a dm device (an LV) is found again by its uuid when kernel names change */
		r = thinsnap_pool_dm_uuid_of(pool->data_rdev, pool->data_dm_uuid,
					     sizeof(pool->data_dm_uuid));
		if (r == 0)
			r = thinsnap_pool_dm_uuid_of(pool->metadata_rdev, pool->metadata_dm_uuid,
						     sizeof(pool->metadata_dm_uuid));
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "reading the devices' dm uuids: %s",
						   strerror(-r));
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
	r = thinsnap_pool_write_identity(pool, reterr);
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

int thinsnap_pool_check_live_table(struct thinsnap_pool *pool, struct thinsnap_error *reterr)
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
	r = thinsnap_pool_run_thin_check(pool->name, meta_path, clear_needs_check, reterr);
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
	r = thinsnap_pool_read_identity(state_dir, &pool, reterr);
	if (r == -ENOENT)
		return thinsnap_error_setf(reterr, -ENOENT, "pool '%s' not found in '%s'", name,
					   state_dir);
	if (r < 0)
		return r;
	if (strcmp(pool->name, name) != 0)
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s' not found: '%s' records pool '%s'", name,
					   state_dir, pool->name);
	r = thinsnap_pool_resolve_devices(pool, reterr);
	if (r < 0)
		return r;
	r = thinsnap_dm_info(name, &info, reterr);
	if (r < 0)
		return r;
	if (info.exists) {
		if (strcmp(info.uuid, pool->dm_uuid) != 0)
			return thinsnap_error_setf(
				reterr, -EINVAL, "dm device '%s' is not the pool recorded in '%s'",
				name, state_dir);
		r = thinsnap_pool_check_live_table(pool, reterr);
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

/* --- destroy, repair --- */

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

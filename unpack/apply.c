/*
 * unpack/: the OCI layer applier. The blob is read once: a first libarchive reader (raw
 * format, gzip/zstd filters) decompresses it, its output is hashed (the diff ID) and fed to a
 * second reader (tar). Every path is resolved beneath the root with openat2(RESOLVE_IN_ROOT);
 * entries are created by name on their resolved parent directory, never through a symlink.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <thinsnap/unpack.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "unpack/libs.h"
#include "unpack/unpack.h"

#define BUF_SIZE (256 * 1024)

DEFINE_CLEANUP(struct archive *, archive_read_free)
DEFINE_CLEANUP(DIR *, closedir)

struct blob_src {
	thinsnap_unpack_read_fn read;
	void *userdata;
	struct evp_md_ctx_st *md;
	uint64_t n;
	int err; /* -errno of a failed read */
	char buf[BUF_SIZE];
};

struct tar_src {
	struct archive *raw;
	struct evp_md_ctx_st *md;
	uint64_t n;
	char buf[BUF_SIZE];
};

struct dirtime {
	char *path;
	struct timespec ts[2];
};

struct applier {
	int root_fd;
	struct archive *tar;
	struct thinsnap_unpack_strset created; /* paths this layer made: its whiteouts spare them */
	struct dirtime *dirs;
	size_t n_dirs, cap_dirs;
	struct thinsnap_unpack_stats st;
	char *buf; /* BUF_SIZE, for zero-filled holes */
};

static la_ssize_t blob_read_cb(struct archive *a, void *userdata, const void **ret_buf)
{
	struct blob_src *b = userdata;
	size_t n = 0;
	int r = b->read(b->userdata, b->buf, sizeof(b->buf), &n);

	if (r < 0) {
		b->err = r;
		archive_set_error(a, -r, "reading the layer blob");
		return -1;
	}
	thinsnap_unpack_sha256_update(b->md, b->buf, n);
	b->n += n;
	*ret_buf = b->buf;
	return (la_ssize_t)n;
}

static la_ssize_t tar_read_cb(struct archive *a, void *userdata, const void **ret_buf)
{
	struct tar_src *t = userdata;
	la_ssize_t n = archive_read_data(t->raw, t->buf, sizeof(t->buf));

	if (n < 0) {
		archive_set_error(a, EINVAL, "decompressing: %s", archive_error_string(t->raw));
		return -1;
	}
	thinsnap_unpack_sha256_update(t->md, t->buf, (size_t)n);
	t->n += (uint64_t)n;
	*ret_buf = t->buf;
	return n;
}

static long sys_openat2(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* Opens path beneath root, "" being the root itself; -errno. */
static int open_beneath(int root_fd, const char *path, int flags)
{
	long fd = sys_openat2(root_fd, *path ? path : ".", flags);

	return fd < 0 ? -errno : (int)fd;
}

/*
 * Lexically cleans a tar path: components "" and "." dropped, ".." pops (never above the
 * root), no leading or trailing '/'. "" is the root. -ENAMETOOLONG.
 */
static int clean_path(const char *in, char *out, size_t size)
{
	size_t len = 0;

	while (*in) {
		const char *end = strchrnul(in, '/');
		size_t n = (size_t)(end - in);

		if (n == 0 || (n == 1 && in[0] == '.')) {
			/* skip */
		} else if (n == 2 && in[0] == '.' && in[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else {
			if (len + 1 + n + 1 > size)
				return -ENAMETOOLONG;
			if (len > 0)
				out[len++] = '/';
			memcpy(out + len, in, n);
			len += n;
		}
		in = *end ? end + 1 : end;
	}
	out[len] = '\0';
	return 0;
}

/* Splits "a/b/c" into dir "a/b" (in place) and base "c"; "c" gives dir "". */
static const char *split_path(char *path, const char **ret_dir)
{
	char *slash = strrchr(path, '/');

	if (!slash) {
		*ret_dir = "";
		return path;
	}
	*slash = '\0';
	*ret_dir = path;
	return slash + 1;
}

/* Opens directory dir beneath the root (O_PATH), creating missing components when create. */
static int open_dir(struct applier *ap, const char *dir, bool create)
{
	char prefix[PATH_MAX];
	size_t len = strlen(dir);
	int fd, r;

	fd = open_beneath(ap->root_fd, dir, O_PATH | O_DIRECTORY);
	if (fd >= 0 || fd != -ENOENT || !create)
		return fd;
	if (len >= sizeof(prefix))
		return -ENAMETOOLONG;
	/* Walk the components; each prefix is resolved from the root, like the full path. */
	for (size_t i = 0; i <= len; i++) {
		CLEANUP_CLOSE int pfd = -EBADF;
		const char *base;
		const char *pdir;
		char tmp[PATH_MAX];

		if (i < len && dir[i] != '/')
			continue;
		memcpy(prefix, dir, i);
		prefix[i] = '\0';
		fd = open_beneath(ap->root_fd, prefix, O_PATH | O_DIRECTORY);
		if (fd >= 0) {
			if (i == len)
				return fd;
			(void)close(fd);
			continue;
		}
		if (fd != -ENOENT)
			return fd;
		memcpy(tmp, prefix, i + 1);
		base = split_path(tmp, &pdir);
		pfd = open_beneath(ap->root_fd, pdir, O_PATH | O_DIRECTORY);
		if (pfd < 0)
			return pfd;
		if (mkdirat(pfd, base, 0755) < 0)
			return errno == EEXIST ? -ENOTDIR : -errno; /* e.g. a dangling symlink */
		r = thinsnap_unpack_strset_add(&ap->created, prefix);
		if (r < 0)
			return r;
		fd = open_beneath(ap->root_fd, prefix, O_PATH | O_DIRECTORY);
		if (fd < 0)
			return fd;
		if (i == len)
			return fd;
		(void)close(fd);
	}
	return -ENOENT; /* not reached */
}

/* fdopendir(fd) into *ret; fd is closed if that fails. */
static int dir_stream(int fd, DIR **ret)
{
	DIR *d = fdopendir(fd);

	if (!d) {
		int r = -errno;
		(void)close(fd);
		return r;
	}
	*ret = d;
	return 0;
}

/* The next entry of d but "." and "..": 1 with *ret set, 0 at the end, or -errno. */
static int next_entry(DIR *d, struct dirent **ret)
{
	for (;;) {
		struct dirent *de;

		errno = 0;
		de = readdir(d);
		if (!de)
			return errno ? -errno : 0;
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			*ret = de;
			return 1;
		}
	}
}

/* Removes name in dfd, recursively if a directory; never follows symlinks. Absent is fine. */
static int remove_tree(int dfd, const char *name)
{
	struct stat st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		CLEANUP(closedirp) DIR *d = NULL;
		struct dirent *de;
		int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int r;

		if (fd < 0)
			return -errno;
		r = dir_stream(fd, &d);
		if (r < 0)
			return r;
		while ((r = next_entry(d, &de)) > 0) {
			r = remove_tree(dirfd(d), de->d_name);
			if (r < 0)
				return r;
		}
		if (r < 0)
			return r;
		if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return -errno;
		return 0;
	}
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int join(char *out, size_t size, const char *dir, const char *base)
{
	int n = *dir ? snprintf(out, size, "%s/%s", dir, base) : snprintf(out, size, "%s", base);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* .wh..wh..opq in dir: removes the entries of lower layers, keeps this layer's own. */
static int apply_opaque(struct applier *ap, const char *dir)
{
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;
	int fd = open_beneath(ap->root_fd, dir, O_RDONLY | O_DIRECTORY);
	int r;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	r = dir_stream(fd, &d);
	if (r < 0)
		return r;
	while ((r = next_entry(d, &de)) > 0) {
		char child[PATH_MAX];

		r = join(child, sizeof(child), dir, de->d_name);
		if (r < 0)
			return r;
		if (thinsnap_unpack_strset_has(&ap->created, child))
			continue;
		r = remove_tree(dirfd(d), de->d_name);
		if (r < 0)
			return r;
	}
	return r;
}

/* .wh.<name> in dir: removes name unless this layer made it. */
static int apply_whiteout(struct applier *ap, const char *dir, const char *name)
{
	CLEANUP_CLOSE int dfd = -EBADF;
	char path[PATH_MAX];
	int r;

	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	r = join(path, sizeof(path), dir, name);
	if (r < 0)
		return r;
	if (thinsnap_unpack_strset_has(&ap->created, path))
		return 0;
	dfd = open_beneath(ap->root_fd, dir, O_PATH | O_DIRECTORY);
	if (dfd == -ENOENT || dfd == -ENOTDIR)
		return 0; /* nothing below to hide */
	if (dfd < 0)
		return dfd;
	return remove_tree(dfd, name);
}

static int write_data(struct applier *ap, int fd, struct archive_entry *e)
{
	int64_t end = 0;

	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(ap->tar, &buf, &size, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return -EINVAL;
		r = thinsnap_io_pwrite_all(NULL, fd, buf, size, (uint64_t)off);
		if (r < 0)
			return r;
		if (off + (int64_t)size > end)
			end = off + (int64_t)size;
	}
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > end &&
	    ftruncate(fd, archive_entry_size(e)) < 0)
		return -errno;
	return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[1].tv_sec = archive_entry_mtime(e);
	ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	} else {
		ts[0] = ts[1];
	}
}

static bool xattr_unsupported(int err)
{
	return err == EOPNOTSUPP || err == ENOTSUP;
}

/*
 * Owner, mode, xattrs (after chown, which clears security.capability), then times; a
 * directory's times go to *ret_dir_ts instead, to be set once the layer is applied.
 */
static int set_meta(struct archive_entry *e, int fd, int dfd, const char *base,
		    struct timespec *ret_dir_ts)
{
	mode_t type = archive_entry_filetype(e);
	uid_t uid = (uid_t)archive_entry_uid(e);
	gid_t gid = (gid_t)archive_entry_gid(e);
	mode_t mode = archive_entry_perm(e) & 07777;
	struct timespec ts[2];
	const char *name;
	const void *value;
	size_t size;
	char proc[64 + NAME_MAX];

	if (fd >= 0) {
		if (fchown(fd, uid, gid) < 0 || fchmod(fd, mode) < 0)
			return -errno;
	} else {
		if (fchownat(dfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		/* not a symlink (we just made it by name): fchmodat does not follow anything */
		if (type != AE_IFLNK && fchmodat(dfd, base, mode, 0) < 0)
			return -errno;
	}
	if (archive_entry_xattr_reset(e) > 0) {
		if (fd < 0 && snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dfd, base) >=
				      (int)sizeof(proc))
			return -ENAMETOOLONG;
		while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
			int r = fd >= 0 ? fsetxattr(fd, name, value, size, 0)
					: lsetxattr(proc, name, value, size, 0);
			if (r < 0 && !xattr_unsupported(errno))
				return -errno;
		}
	}
	entry_times(e, ts);
	if (ret_dir_ts) {
		ret_dir_ts[0] = ts[0];
		ret_dir_ts[1] = ts[1];
		return 0;
	}
	if (fd >= 0 ? futimens(fd, ts) < 0 : utimensat(dfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	return 0;
}

static int push_dirtime(struct applier *ap, struct archive_entry *e, int fd, const char *path)
{
	struct dirtime *dt;
	int r;

	if (ap->n_dirs == ap->cap_dirs) {
		size_t cap = ap->cap_dirs ? 2 * ap->cap_dirs : 64;
		struct dirtime *n = realloc(ap->dirs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		ap->dirs = n;
		ap->cap_dirs = cap;
	}
	dt = &ap->dirs[ap->n_dirs];
	r = set_meta(e, fd, -EBADF, NULL, dt->ts);
	if (r < 0)
		return r;
	dt->path = strdup(path);
	if (!dt->path)
		return -ENOMEM;
	ap->n_dirs++;
	return 0;
}

static int apply_hardlink(struct applier *ap, int dfd, const char *base, const char *target)
{
	CLEANUP_CLOSE int tfd = -EBADF;
	char tpath[PATH_MAX];
	const char *tdir;
	const char *tbase;
	int r = clean_path(target, tpath, sizeof(tpath));

	if (r < 0)
		return r;
	if (!*tpath)
		return -EINVAL;
	tbase = split_path(tpath, &tdir);
	tfd = open_beneath(ap->root_fd, tdir, O_PATH | O_DIRECTORY);
	if (tfd < 0)
		return tfd;
	/* without AT_SYMLINK_FOLLOW, a symlink target is linked itself, not followed */
	if (linkat(tfd, tbase, dfd, base, 0) < 0)
		return -errno;
	return 0;
}

static int apply_entry(struct applier *ap, struct archive_entry *e, const char **ret_what)
{
	CLEANUP_CLOSE int dfd = -EBADF;
	CLEANUP_CLOSE int fd = -EBADF;
	const char *raw = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	mode_t type = archive_entry_filetype(e);
	char path[PATH_MAX], dirbuf[PATH_MAX];
	const char *dir;
	const char *base;
	struct stat old;
	bool keep = false;
	int r;

	*ret_what = "path";
	if (!raw)
		return -EINVAL;
	r = clean_path(raw, path, sizeof(path));
	if (r < 0)
		return r;
	if (!*path) { /* the root itself: only its metadata */
		if (hardlink || type != AE_IFDIR)
			return 0;
		fd = open_beneath(ap->root_fd, "", O_RDONLY | O_DIRECTORY);
		if (fd < 0)
			return fd;
		*ret_what = "metadata";
		return push_dirtime(ap, e, fd, "");
	}
	memcpy(dirbuf, path, strlen(path) + 1);
	base = split_path(dirbuf, &dir);

	if (strncmp(base, ".wh.", 4) == 0) {
		ap->st.whiteouts++;
		*ret_what = "whiteout";
		if (strcmp(base, ".wh..wh..opq") == 0)
			return apply_opaque(ap, dir);
		if (strncmp(base, ".wh..wh.", 8) == 0)
			return 0; /* aufs metadata (.wh..wh.plnk, ...): not part of the tree */
		return apply_whiteout(ap, dir, base + 4);
	}

	*ret_what = "parent directory";
	dfd = open_dir(ap, dir, true);
	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, base, &old, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(old.st_mode) && type == AE_IFDIR && !hardlink) {
			keep = true;
		} else {
			*ret_what = "replaced entry";
			r = remove_tree(dfd, base);
			if (r < 0)
				return r;
		}
	} else if (errno != ENOENT) {
		return -errno;
	}
	r = thinsnap_unpack_strset_add(&ap->created, path);
	if (r < 0)
		return r;

	*ret_what = "entry";
	if (hardlink) {
		*ret_what = "hard link";
		return apply_hardlink(ap, dfd, base, hardlink);
	}
	switch (type) {
	case AE_IFDIR:
		if (!keep && mkdirat(dfd, base, 0700) < 0)
			return -errno;
		fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		*ret_what = "metadata";
		return push_dirtime(ap, e, fd, path);
	case AE_IFREG:
		fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		*ret_what = "file data";
		r = write_data(ap, fd, e);
		if (r < 0)
			return r;
		*ret_what = "metadata";
		return set_meta(e, fd, dfd, base, NULL);
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(e);

		if (!target)
			return -EINVAL;
		*ret_what = "symlink";
		if (symlinkat(target, dfd, base) < 0)
			return -errno;
		*ret_what = "metadata";
		return set_meta(e, -EBADF, dfd, base, NULL);
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
		*ret_what = "device node";
		if (mknodat(dfd, base, type | 0600, type == AE_IFIFO ? 0 : archive_entry_rdev(e)) <
		    0)
			return -errno;
		*ret_what = "metadata";
		return set_meta(e, -EBADF, dfd, base, NULL);
	case AE_IFSOCK:
		return 0; /* sockets are not content */
	default:
		return -EINVAL;
	}
}

/* Directory times, last: entries created in a directory change its mtime. */
static int set_dir_times(struct applier *ap)
{
	for (size_t i = ap->n_dirs; i-- > 0;) {
		CLEANUP_CLOSE int fd = open_beneath(ap->root_fd, ap->dirs[i].path,
						    O_RDONLY | O_DIRECTORY | O_NOFOLLOW);

		if (fd == -ENOENT || fd == -ENOTDIR || fd == -ELOOP)
			continue; /* removed or replaced later in the layer */
		if (fd < 0)
			return fd;
		if (futimens(fd, ap->dirs[i].ts) < 0)
			return -errno;
	}
	return 0;
}

static void applier_done(struct applier *ap)
{
	thinsnap_unpack_strset_clear(&ap->created);
	for (size_t i = 0; i < ap->n_dirs; i++)
		free(ap->dirs[i].path);
	free(ap->dirs);
}

static int fail_archive(struct thinsnap_error *reterr, struct blob_src *b, struct archive *a,
			const char *what)
{
	if (b->err < 0)
		return thinsnap_error_setf(reterr, b->err, "reading the layer: %s",
					   strerror(-b->err));
	return thinsnap_error_setf(reterr, -EINVAL, "%s: %s", what,
				   archive_error_string(a) ? archive_error_string(a) : "bad data");
}

int thinsnap_unpack_apply_layer(int root_fd, thinsnap_unpack_read_fn read, void *userdata,
				struct thinsnap_unpack_stats *ret_stats,
				struct thinsnap_error *reterr)
{
	CLEANUP(archive_read_freep) struct archive *raw = NULL;
	CLEANUP(archive_read_freep) struct archive *tar = NULL;
	CLEANUP_FREE struct blob_src *b = NULL;
	CLEANUP_FREE struct tar_src *t = NULL;
	struct archive_entry *e;
	struct applier ap = { .root_fd = root_fd };
	int r;

	if (root_fd < 0 || !read)
		return thinsnap_error_setf(reterr, -EINVAL, "no root directory or reader");
	r = thinsnap_unpack_libs_load(reterr);
	if (r < 0)
		return r;
	b = calloc(1, sizeof(*b));
	t = calloc(1, sizeof(*t));
	raw = archive_read_new();
	tar = archive_read_new();
	if (!b || !t || !raw || !tar)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	b->read = read;
	b->userdata = userdata;
	b->md = thinsnap_unpack_sha256_new();
	t->md = thinsnap_unpack_sha256_new();
	t->raw = raw;
	if (!b->md || !t->md) {
		thinsnap_unpack_sha256_free(b->md);
		thinsnap_unpack_sha256_free(t->md);
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	}

	/* Only the OCI compressions, all in-process: no external filter programs. */
	if (archive_read_support_filter_gzip(raw) != ARCHIVE_OK ||
	    archive_read_support_filter_zstd(raw) != ARCHIVE_OK ||
	    archive_read_support_format_raw(raw) != ARCHIVE_OK ||
	    archive_read_support_format_tar(tar) != ARCHIVE_OK)
		r = thinsnap_error_setf(reterr, -EIO, "libarchive: %s", archive_error_string(raw));
	else if (archive_read_open(raw, b, NULL, blob_read_cb, NULL) != ARCHIVE_OK ||
		 archive_read_next_header(raw, &e) != ARCHIVE_OK)
		r = fail_archive(reterr, b, raw, "opening the layer");
	else if (archive_read_open(tar, t, NULL, tar_read_cb, NULL) != ARCHIVE_OK)
		r = fail_archive(reterr, b, tar, "reading the layer's tar");
	else
		r = 0;

	ap.tar = tar;
	while (r == 0) {
		const char *what = "entry";
		int ar = archive_read_next_header(tar, &e);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			r = fail_archive(reterr, b, tar, "reading the layer's tar");
			break;
		}
		r = apply_entry(&ap, e, &what);
		if (r < 0) {
			const char *name = archive_entry_pathname(e);

			if (b->err < 0)
				r = fail_archive(reterr, b, tar, "");
			else if (r == -EINVAL && archive_errno(tar) != 0)
				r = fail_archive(reterr, b, tar, "reading the layer's tar");
			else
				r = thinsnap_error_setf(reterr, r, "'%s': %s: %s",
							name ? name : "?", what, strerror(-r));
			break;
		}
		ap.st.entries++;
	}
	if (r == 0) {
		r = set_dir_times(&ap);
		if (r < 0)
			r = thinsnap_error_setf(reterr, r, "setting directory times: %s",
						strerror(-r));
	}
	/* The rest of both streams (tar padding, trailing bytes) counts in the digests. */
	while (r == 0) {
		la_ssize_t n = archive_read_data(raw, t->buf, sizeof(t->buf));

		if (n < 0)
			r = fail_archive(reterr, b, raw, "decompressing the layer");
		if (n <= 0)
			break;
		thinsnap_unpack_sha256_update(t->md, t->buf, (size_t)n);
		t->n += (uint64_t)n;
	}
	while (r == 0) {
		size_t n = 0;

		r = read(userdata, b->buf, sizeof(b->buf), &n);
		if (r < 0)
			r = thinsnap_error_setf(reterr, r, "reading the layer: %s", strerror(-r));
		if (r < 0 || n == 0)
			break;
		thinsnap_unpack_sha256_update(b->md, b->buf, n);
		b->n += n;
	}
	if (r == 0) {
		ap.st.compressed_bytes = b->n;
		ap.st.uncompressed_bytes = t->n;
		thinsnap_unpack_sha256_final(b->md, ap.st.digest);
		thinsnap_unpack_sha256_final(t->md, ap.st.diff_id);
		if (ret_stats)
			*ret_stats = ap.st;
	}
	thinsnap_unpack_sha256_free(b->md);
	thinsnap_unpack_sha256_free(t->md);
	applier_done(&ap);
	return r;
}

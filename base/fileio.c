/*
 * Whole-file writes (base/fileio.h). The atomic replace follows STYLE.md section 6: the data
 * is durable before its name is, the rename is the commit point, the directory fsync makes
 * the rename durable; a failed fsync is never retried.
 */
#include "base/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"

int thinsnap_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int thinsnap_file_exists(const char *dir, const char *name)
{
	CLEANUP_FREE char *path = NULL;

	if (!dir || !*dir || !name || !*name)
		return -EINVAL;
	if (asprintf(&path, "%s/%s", dir, name) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	if (access(path, F_OK) == 0)
		return 1;
	return errno == ENOENT ? 0 : -errno;
}

int thinsnap_mkdir_p(const char *path, mode_t mode)
{
	CLEANUP_FREE char *p = NULL;

	if (!path || !*path)
		return -EINVAL;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || *s == '\0') {
			char ch = *s;
			*s = '\0';
			if (mkdir(p, mode) < 0 && errno != EEXIST)
				return -errno;
			*s = ch;
			if (!ch)
				break;
		}
	}
	return 0;
}

int thinsnap_file_replace(int dirfd, const char *name, const void *buf, size_t len,
			  const struct thinsnap_file_replace_opts *opts, int *ret_fd)
{
	static const struct thinsnap_file_replace_opts defaults = { 0 };
	CLEANUP_CLOSE int fd = -EBADF;
	const char *tmp;
	char tmp_buf[256];
	int r;

	if (!opts)
		opts = &defaults;
	tmp = opts->tmp_name;
	if (!tmp) {
		if (snprintf(tmp_buf, sizeof(tmp_buf), ".%s.tmp", name) >= (int)sizeof(tmp_buf))
			return -ENAMETOOLONG;
		tmp = tmp_buf;
	}
	fd = openat(dirfd, tmp,
		    (ret_fd ? O_RDWR : O_WRONLY) | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    opts->mode ? opts->mode : 0600);
	if (fd < 0)
		return -errno;
	r = thinsnap_io_pwrite_all(opts->io, fd, buf, len, 0);
	if (r == 0)
		r = thinsnap_io_sync(opts->io, fd, false); /* data is durable before its name is */
	if (r == 0 && !ret_fd && close(TAKE_FD(fd)) < 0)
		r = -errno;
	if (r == 0 && opts->fault_before_rename)
		r = THINSNAP_FAULT(opts->fault_before_rename);
	if (r == 0 && renameat(dirfd, tmp, dirfd, name) < 0) /* the commit point */
		r = -errno;
	if (r < 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (opts->ret_renamed)
		*opts->ret_renamed = true;
	r = thinsnap_io_sync(opts->io, dirfd, false); /* make the rename durable */
	if (r < 0)
		return r;
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	return 0;
}

/*
 * Loop devices in C: /dev/loop-control LOOP_CTL_GET_FREE, then LOOP_CONFIGURE (falling back to
 * LOOP_SET_FD + LOOP_SET_STATUS64 on old kernels), always with LO_FLAGS_AUTOCLEAR and O_CLOEXEC.
 */
#include "pool/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
	__u32 fd;
	__u32 block_size;
	struct loop_info64 info;
	__u64 __reserved[8];
};
#endif

int thinsnap_pool_blockdev_path(dev_t rdev, char *buf, size_t size)
{
	char sys[96], line[256];
	CLEANUP_FCLOSE FILE *f = NULL;
	struct stat st;

	(void)snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/uevent", major(rdev), minor(rdev));
	f = fopen(sys, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "DEVNAME=", 8) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (snprintf(buf, size, "/dev/%s", line + 8) >= (int)size)
			return -ENAMETOOLONG;
		if (stat(buf, &st) == 0)
			return S_ISBLK(st.st_mode) && st.st_rdev == rdev ? 0 : -ENODEV;
		if (errno != ENOENT)
			return -errno;
		if (mknod(buf, S_IFBLK | 0660, rdev) < 0 && errno != EEXIST) /* no udev/devtmpfs */
			return -errno;
		return 0;
	}
	return -ENODEV;
}

static int open_loop(int n, int *ret_fd)
{
	char path[64];
	int fd;

	(void)snprintf(path, sizeof(path), "/dev/loop%d", n);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (mknod(path, S_IFBLK | 0660, makedev(7, (unsigned)n)) < 0 && errno != EEXIST)
			return -errno;
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

int thinsnap_pool_loop_attach(const char *file, int *ret_fd, dev_t *ret_rdev)
{
	CLEANUP_CLOSE int ctl = -EBADF;
	CLEANUP_CLOSE int backing = -EBADF;
	struct stat st;
	int r = -EBUSY;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	backing = open(file, O_RDWR | O_CLOEXEC);
	if (backing < 0)
		return -errno;
	for (int attempt = 0; attempt < 20; attempt++) {
		CLEANUP_CLOSE int lfd = -EBADF;
		struct loop_config cfg;
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);

		if (n < 0)
			return -errno;
		r = open_loop(n, &lfd);
		if (r < 0)
			return r;
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = (__u32)backing;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		(void)snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s",
			       file);
		if (ioctl(lfd, LOOP_CONFIGURE, &cfg) < 0) {
			r = -errno;
			if (r == -EBUSY) /* raced with another attach: take the next free one */
				continue;
			if (r != -EINVAL && r != -ENOTTY)
				return r;
			if (ioctl(lfd, LOOP_SET_FD, backing) < 0) {
				r = -errno;
				if (r == -EBUSY)
					continue;
				return r;
			}
			if (ioctl(lfd, LOOP_SET_STATUS64, &cfg.info) < 0) {
				r = -errno;
				(void)ioctl(lfd, LOOP_CLR_FD, 0);
				return r;
			}
		}
		if (fstat(lfd, &st) < 0)
			return -errno;
		*ret_rdev = st.st_rdev;
		*ret_fd = TAKE_FD(lfd);
		return 0;
	}
	return r;
}

int thinsnap_pool_loop_backs(dev_t rdev, const char *file)
{
	char path[64];
	CLEANUP_CLOSE int fd = -EBADF;
	struct loop_info64 info;
	struct stat st;

	if (major(rdev) != 7 && major(rdev) != 259)
		return 0;
	if (stat(file, &st) < 0)
		return -errno;
	if (thinsnap_pool_blockdev_path(rdev, path, sizeof(path)) < 0)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&info, 0, sizeof(info)); /* valgrind does not know this ioctl */
	if (ioctl(fd, LOOP_GET_STATUS64, &info) < 0)
		return errno == ENXIO || errno == ENOTTY ? 0 : -errno;
	return info.lo_inode == st.st_ino && info.lo_device == st.st_dev;
}

int thinsnap_pool_loop_refresh(dev_t rdev)
{
	char path[64];
	CLEANUP_CLOSE int fd = -EBADF;
	int r = thinsnap_pool_blockdev_path(rdev, path, sizeof(path));

	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, LOOP_SET_CAPACITY, 0) < 0)
		return -errno;
	return 0;
}

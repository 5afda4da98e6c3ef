/*
 * thinsnap_mkfs_grow(): grows the filesystem on a (just grown) device to the device's new size
 * with the kernel's online resize: the device is mounted on a private temporary directory
 * and EXT4_IOC_RESIZE_FS is issued on it, then it is unmounted. Works while the device is
 * also mounted elsewhere (the kernel shares one superblock between both mounts).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "mkfs/mkfs.h"

/* fs/ext4/ext4.h; not in the uapi headers (e2fsprogs' resize/online.c defines it too) */
#ifndef EXT4_IOC_RESIZE_FS
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)
#endif

static int resize_mounted(const char *dir, uint64_t size_bytes, uint64_t *ret_blocks)
{
	CLEANUP_CLOSE int fd = -EBADF;
	struct statfs sf;
	uint64_t blocks;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sf) < 0)
		return -errno;
	if (sf.f_bsize <= 0)
		return -EIO;
	blocks = size_bytes / (uint64_t)sf.f_bsize;
	*ret_blocks = blocks;
	if (ioctl(fd, EXT4_IOC_RESIZE_FS, &blocks) < 0)
		return -errno;
	return 0;
}

int thinsnap_mkfs_grow(const char *dev, const char *fs_type, uint64_t size_bytes,
		       const char *scratch_dir, struct thinsnap_error *reterr)
{
	char dir[PATH_MAX];
	uint64_t blocks = 0;
	int r, r2 = 0;

	if (!dev || !scratch_dir || size_bytes == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "grow: missing argument");
	if (!fs_type || !*fs_type)
		fs_type = "ext4";
	bool xfs = strcmp(fs_type, "xfs") == 0;
	if (!xfs && strcmp(fs_type, "ext4") != 0 && strcmp(fs_type, "ext3") != 0 &&
	    strcmp(fs_type, "ext2") != 0)
		return thinsnap_error_setf(reterr, -EOPNOTSUPP,
					   "growing a %s filesystem is not supported", fs_type);
	if (snprintf(dir, sizeof(dir), "%s/.grow.XXXXXX", scratch_dir) >= (int)sizeof(dir))
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "scratch directory too long");
	if (!mkdtemp(dir))
		return thinsnap_error_setf(reterr, -errno, "cannot make a directory in '%s': %m",
					   scratch_dir);
	/* the ext4 driver mounts ext2/3 too, and only it resizes online; snapshots of one xfs
	 * base share its uuid */
	if (mount(dev, dir, xfs ? "xfs" : "ext4", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  xfs ? "nouuid" : NULL) < 0) {
		r = -errno;
		(void)rmdir(dir);
		return thinsnap_error_setf(reterr, r, "cannot mount '%s' to grow it: %s", dev,
					   strerror(-r));
	}
	if (xfs) {
		struct thinsnap_error e = { 0 };
		r = thinsnap_mkfs_grow_xfs(dir, &e);
		if (umount2(dir, 0) < 0)
			(void)umount2(dir, MNT_DETACH);
		(void)rmdir(dir);
		if (r < 0 && reterr)
			*reterr = e;
		return r;
	}
	r = resize_mounted(dir, size_bytes, &blocks);
	if (umount2(dir, 0) < 0) {
		r2 = -errno;
		(void)umount2(dir, MNT_DETACH);
	}
	(void)rmdir(dir);
	if (r < 0)
		return thinsnap_error_setf(
			reterr, r, "growing the filesystem on '%s' to %" PRIu64 " blocks: %s", dev,
			blocks, strerror(-r));
	if (r2 < 0)
		return thinsnap_error_setf(reterr, r2, "unmounting '%s' after growing it: %s", dev,
					   strerror(-r2));
	return 0;
}

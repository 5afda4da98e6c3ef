/*
 * thinsnap_mkfs_inodes_used(): how many inodes a filesystem on a device uses, read from its
 * superblock (ext2/3/4: inodes count minus free inodes count). Cheap: one 1 KiB read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "mkfs/mkfs.h"

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int thinsnap_mkfs_inodes_used(const char *dev, uint64_t *ret_inodes, struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int fd = -EBADF;
	unsigned char sb[1024];
	ssize_t n;

	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return thinsnap_error_setf(reterr, -errno, "cannot open '%s'", dev);
	n = pread(fd, sb, sizeof(sb), 1024);
	if (n != (ssize_t)sizeof(sb))
		return thinsnap_error_setf(reterr, -EIO, "cannot read the superblock of '%s'", dev);
	if (sb[56] != 0x53 || sb[57] != 0xEF)
		return thinsnap_error_setf(reterr, -EUCLEAN, "'%s' holds no ext2/3/4 superblock",
					   dev);
	uint32_t total = le32(sb + 0), free_inodes = le32(sb + 16);
	*ret_inodes = total >= free_inodes ? total - free_inodes : 0;
	return 0;
}

/*
 * thinsnap_mkfs_inodes_used(): how many inodes a filesystem on a device uses, read from its
 * superblock (ext2/3/4: inodes count minus free inodes count; xfs: allocated minus free
 * inodes, sb_icount - sb_ifree); thinsnap_mkfs_fs_size(): how large it is (blocks times
 * block size). Cheap: one or two small reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "mkfs/mkfs.h"

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The xfs superblock at offset 0: magic "XFSB", sb_icount at 128, sb_ifree at 136. */
static int xfs_inodes_used(int fd, uint64_t *ret)
{
	unsigned char sb[512];

	if (pread(fd, sb, sizeof(sb), 0) != (ssize_t)sizeof(sb) || memcmp(sb, "XFSB", 4) != 0)
		return -EUCLEAN;
	uint64_t total = be64(sb + 128), free_inodes = be64(sb + 136);
	*ret = total >= free_inodes ? total - free_inodes : 0;
	return 0;
}

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
	if (sb[56] != 0x53 || sb[57] != 0xEF) {
		if (xfs_inodes_used(fd, ret_inodes) == 0)
			return 0;
		return thinsnap_error_setf(reterr, -EUCLEAN,
					   "'%s' holds no ext2/3/4 or xfs superblock", dev);
	}
	uint32_t total = le32(sb + 0), free_inodes = le32(sb + 16);
	*ret_inodes = total >= free_inodes ? total - free_inodes : 0;
	return 0;
}

/*
 * ext2/3/4: s_blocks_count_lo at 4, s_log_block_size at 24 (block = 1024 << it), the
 * INCOMPAT_64BIT flag (0x80) in s_feature_incompat at 96, s_blocks_count_hi at 336.
 * xfs: sb_blocksize (be32) at 4, sb_dblocks (be64) at 8.
 */
int thinsnap_mkfs_fs_size(const char *dev, uint64_t *ret_bytes, struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int fd = -EBADF;
	unsigned char sb[1024];

	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return thinsnap_error_setf(reterr, -errno, "cannot open '%s'", dev);
	if (pread(fd, sb, sizeof(sb), 1024) == (ssize_t)sizeof(sb) && sb[56] == 0x53 &&
	    sb[57] == 0xEF && le32(sb + 24) <= 6) {
		uint64_t blocks = le32(sb + 4);
		if (le32(sb + 96) & 0x80)
			blocks |= (uint64_t)le32(sb + 336) << 32;
		*ret_bytes = blocks * (1024ull << le32(sb + 24));
		return 0;
	}
	if (pread(fd, sb, 512, 0) == 512 && memcmp(sb, "XFSB", 4) == 0) {
		uint32_t bs = (uint32_t)sb[4] << 24 | (uint32_t)sb[5] << 16 | (uint32_t)sb[6] << 8 |
			      sb[7];
		uint64_t blocks = be64(sb + 8);
		if (bs >= 512 && bs <= 65536 && blocks <= UINT64_MAX / bs) {
			*ret_bytes = blocks * bs;
			return 0;
		}
	}
	return thinsnap_error_setf(reterr, -EUCLEAN, "'%s' holds no ext2/3/4 or xfs superblock",
				   dev);
}

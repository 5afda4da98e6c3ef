/*
 * thinsnap-thin-sb-tool: reads or sets the needs_check flag in an inactive dm-thin pool's
 * metadata superblock, as the kernel does after a metadata error, so that tests can bring a
 * pool up needing a check. The superblock (block 0, 4 KiB; drivers/md/dm-thin-metadata.c):
 * le32 csum at 0 (crc32c of bytes 4..4095, kernel-style: no final inversion, xor 160774),
 * le32 flags at 4 (bit 0: needs_check), le64 magic 27022010 at 32. The checksum found must
 * verify before anything is written.
 * Usage: thinsnap-thin-sb-tool METADATA_FILE show|set-needs-check|clear-needs-check
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/crc32c.h"

#define SB_SIZE          4096
#define SB_CSUM_XOR      160774u
#define SB_MAGIC         27022010ull
#define FLAG_NEEDS_CHECK 1u

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The kernel's dm_bm_checksum(): crc32c seeded with ~0, not inverted at the end, xor'ed. */
static uint32_t sb_csum(const unsigned char *sb)
{
	return ~thinsnap_crc32c(0, sb + 4, SB_SIZE - 4) ^ SB_CSUM_XOR;
}

int main(int argc, char **argv)
{
	unsigned char sb[SB_SIZE];
	uint32_t flags;
	int fd;

	if (argc != 3 || (strcmp(argv[2], "show") != 0 && strcmp(argv[2], "set-needs-check") != 0 &&
			  strcmp(argv[2], "clear-needs-check") != 0)) {
		fprintf(stderr, "usage: %s METADATA_FILE show|set-needs-check|clear-needs-check\n",
			argv[0]);
		return 2;
	}
	fd = open(argv[1], (strcmp(argv[2], "show") == 0 ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0 || pread(fd, sb, SB_SIZE, 0) != SB_SIZE) {
		fprintf(stderr, "thin-sb-tool: cannot read the superblock of '%s': %s\n", argv[1],
			strerror(errno));
		return 1;
	}
	if (le64(sb + 32) != SB_MAGIC || le32(sb) != sb_csum(sb)) {
		fprintf(stderr,
			"thin-sb-tool: '%s' has no valid thin superblock (magic %llu, "
			"csum %u, computed %u)\n",
			argv[1], (unsigned long long)le64(sb + 32), le32(sb), sb_csum(sb));
		return 1;
	}
	flags = le32(sb + 4);
	if (strcmp(argv[2], "show") == 0) {
		printf("needs_check: %s\ntransaction_id: %llu\n",
		       flags & FLAG_NEEDS_CHECK ? "yes" : "no", (unsigned long long)le64(sb + 48));
		return 0;
	}
	if (strcmp(argv[2], "set-needs-check") == 0)
		flags |= FLAG_NEEDS_CHECK;
	else
		flags &= ~FLAG_NEEDS_CHECK;
	put_le32(sb + 4, flags);
	put_le32(sb, sb_csum(sb));
	if (pwrite(fd, sb, SB_SIZE, 0) != SB_SIZE || fsync(fd) < 0) {
		fprintf(stderr, "thin-sb-tool: writing '%s': %s\n", argv[1], strerror(errno));
		return 1;
	}
	close(fd);
	return 0;
}

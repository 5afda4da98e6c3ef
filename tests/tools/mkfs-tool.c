/*
 * thinsnap-mkfs-tool: formats a device or file with thinsnap_mkfs_format() for the
 * integration tests and by hand; then checks it with thinsnap_mkfs_verify().
 * Usage: thinsnap-mkfs-tool DEV [FS_TYPE [FS_OPTIONS [SIZE_BYTES]]]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <thinsnap/error.h>

#include "mkfs/mkfs.h"

int main(int argc, char **argv)
{
	struct thinsnap_mkfs_opts o = { 0 };
	struct thinsnap_error err = { 0 };
	uint64_t size = 0;
	int r;

	if (argc < 2 || argc > 5) {
		fprintf(stderr, "usage: %s DEV [FS_TYPE [FS_OPTIONS [SIZE_BYTES]]]\n", argv[0]);
		return 2;
	}
	o.fs_type = argc > 2 ? argv[2] : "ext4";
	o.fs_options = argc > 3 ? argv[3] : NULL;
	if (argc > 4)
		size = strtoull(argv[4], NULL, 10);
	r = thinsnap_mkfs_format(argv[1], size, &o, &err);
	if (r == 0)
		r = thinsnap_mkfs_verify(argv[1], o.fs_type, &err);
	if (r < 0) {
		fprintf(stderr, "thinsnap-mkfs-tool: %s\n", err.msg);
		return 1;
	}
	return 0;
}

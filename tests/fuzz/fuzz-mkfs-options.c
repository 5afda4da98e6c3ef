/*
 * Fuzzes mkfs/'s fs_options parser (a config string, mkfs.ext4-style) through
 * thinsnap_mkfs_format() on a path that doesn't exist: options are parsed before the device is
 * opened, so every input ends as -EINVAL (bad options) or -ENOENT (parsed, no device), without
 * I/O. Input: fs_options, then optionally a newline and fs_type, another and the label.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mkfs/mkfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	char *fields[3] = { NULL, NULL, NULL };
	struct thinsnap_error err = { 0 };
	struct thinsnap_mkfs_opts o = { 0 };
	int r;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	fields[0] = copy;
	for (int i = 1; i < 3 && fields[i - 1]; i++) {
		char *nl = strchr(fields[i - 1], '\n');
		if (nl) {
			*nl = '\0';
			fields[i] = nl + 1;
		}
	}
	o.fs_options = fields[0];
	o.fs_type = fields[1];
	o.label = fields[2];
	r = thinsnap_mkfs_format("/nonexistent-thinsnap-fuzz/dev", 0, &o, &err);
	if ((r != -EINVAL && r != -ENOENT && r != -ENOMEM) || err.err != r || !err.msg[0])
		abort();
	free(copy);
	return 0;
}

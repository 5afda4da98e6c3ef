/*
 * xfs through xfsprogs' own tools (no C library for it in Debian): mkfs.xfs formats the base
 * device, xfs_growfs grows a mounted filesystem. Both run through thinsnap_spawn_capture(),
 * no shell: the user's fs_options are split on whitespace into arguments. stderr's last line
 * becomes the error message.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/spawn.h"
#include "mkfs/mkfs.h"

#define MAX_ARGS 64

/* Runs argv; returns its exit status (>= 0) or -errno. err gets stderr's last line. */
static int run(char *const argv[], char *err, size_t err_size)
{
	CLEANUP_FREE char *tail = NULL;
	const char *last;
	int r;

	err[0] = '\0';
	r = thinsnap_spawn_capture(argv, NULL, &tail);
	if (r < 0)
		return r;
	last = strrchr(tail, '\n');
	last = last ? last + 1 : tail;
	(void)snprintf(err, err_size, "%s", last);
	return r;
}

static int tool_fail(const char *tool, const char *dev, int r, const char *err,
		     struct thinsnap_error *reterr)
{
	if (r == -ENOENT)
		return thinsnap_error_setf(reterr, -ENOENT, "%s not found (install xfsprogs)",
					   tool);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "cannot run %s: %s", tool, strerror(-r));
	return thinsnap_error_setf(reterr, -EIO, "%s '%s' failed (exit %d): %s", tool, dev, r,
				   err[0] ? err : "no message");
}

int thinsnap_mkfs_format_xfs(const char *dev, const char *fs_options, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *opts = NULL;
	char *argv[MAX_ARGS + 4], err[200];
	size_t n = 0;
	int r;

	if (!dev || !*dev)
		return thinsnap_error_setf(reterr, -EINVAL, "no device to format");
	if (access(dev, W_OK) < 0) /* as ext4's path does, before anything runs */
		return thinsnap_error_setf(reterr, -errno, "cannot open '%s': %m", dev);
	opts = strdup(fs_options ? fs_options : "");
	if (!opts)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	argv[n++] = "mkfs.xfs";
	argv[n++] = "-q";
	argv[n++] = "-f"; /* a new thin device: nothing to protect */
	for (char *save = NULL, *t = strtok_r(opts, " \t\n", &save); t;
	     t = strtok_r(NULL, " \t\n", &save)) {
		if (n == MAX_ARGS)
			return thinsnap_error_setf(reterr, -EINVAL, "too many fs_options");
		argv[n++] = t;
	}
	argv[n++] = (char *)dev;
	argv[n] = NULL;
	r = run(argv, err, sizeof(err));
	if (r != 0)
		return tool_fail("mkfs.xfs", dev, r, err, reterr);
	return 0;
}

int thinsnap_mkfs_grow_xfs(const char *mount_dir, struct thinsnap_error *reterr)
{
	char *argv[] = { "xfs_growfs", "-d", (char *)mount_dir, NULL };
	char err[200];
	int r = run(argv, err, sizeof(err));

	if (r != 0)
		return tool_fail("xfs_growfs", mount_dir, r, err, reterr);
	return 0;
}

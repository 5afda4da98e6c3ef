/*
 * xfs through xfsprogs' own tools (no C library for it in Debian): mkfs.xfs formats the base
 * device, xfs_growfs grows a mounted filesystem. Both run with posix_spawn, no shell: the
 * user's fs_options are split on whitespace into arguments. stderr's last line becomes the
 * error message.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "mkfs/mkfs.h"

extern char **environ;

#define MAX_ARGS 64

static int find_tool(const char *prog, char *buf, size_t size)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin", "/usr/bin", "/bin",
					    "/usr/local/sbin" };
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		if (snprintf(buf, size, "%s/%s", dirs[i], prog) >= (int)size)
			return -ENAMETOOLONG;
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Runs argv; returns its exit status (>= 0) or -errno. err gets stderr's last line. */
static int run(char *const argv[], char *err, size_t err_size)
{
	char path[256], buf[4096];
	CLEANUP_CLOSE int rd = -EBADF;
	posix_spawn_file_actions_t fa;
	int pipefd[2] = { -1, -1 };
	size_t len = 0;
	pid_t pid;
	int r, status;

	err[0] = '\0';
	r = find_tool(argv[0], path, sizeof(path));
	if (r < 0)
		return r;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	rd = pipefd[0];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	r = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	(void)close(pipefd[1]);
	if (r != 0)
		return -r;
	for (;;) {
		ssize_t n;
		if (len == sizeof(buf) - 1) { /* keep the tail */
			memmove(buf, buf + len / 2, len - len / 2);
			len -= len / 2;
		}
		n = read(rd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = '\0';
	const char *last = strrchr(buf, '\n');

	last = last ? last + 1 : buf;
	len = strlen(last) < err_size ? strlen(last) : err_size - 1;
	memcpy(err, last, len);
	err[len] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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

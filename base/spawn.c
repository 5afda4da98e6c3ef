/*
 * Tool spawning (base/spawn.h): posix_spawn, no shell; stdout and stderr are read through
 * pipes with poll() so that a tool writing much to both never blocks on either.
 */
#include "base/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/cleanup.h"

extern char **environ;

int thinsnap_spawn_find(const char *name, char *buf, size_t size)
{
	static const char *const dirs[] = { "/usr/sbin", "/sbin",           "/usr/bin",
					    "/bin",      "/usr/local/sbin", "/usr/local/bin" };

	if (!name || !*name)
		return -EINVAL;
	if (strchr(name, '/')) {
		if (snprintf(buf, size, "%s", name) >= (int)size)
			return -ENAMETOOLONG;
		return access(buf, X_OK) == 0 ? 0 : -ENOENT;
	}
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
		if (snprintf(buf, size, "%s/%s", dirs[i], name) >= (int)size)
			return -ENAMETOOLONG;
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Closes *fd now, if open, so that its cleanup finds nothing left to close. */
static void close_now(int *fd)
{
	if (*fd >= 0)
		(void)close(TAKE_FD(*fd));
}

/* One output of the child: a pipe's read end and what has been kept of it. */
struct sink {
	int fd;
	struct thinsnap_buf b;
	size_t max; /* keep only the last max bytes; 0 = all */
};

static int sink_read(struct sink *s)
{
	uint8_t chunk[4096];
	ssize_t n = read(s->fd, chunk, sizeof(chunk));
	size_t drop;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	if (n == 0)
		return 0;                    /* end of file */
	if (s->max && (size_t)n >= s->max) { /* the chunk alone fills the tail */
		s->b.len = 0;
		return thinsnap_buf_append(&s->b, chunk + ((size_t)n - s->max), s->max) < 0
			       ? -ENOMEM
			       : 1;
	}
	if (s->max && s->b.len + (size_t)n > s->max) { /* drop the oldest bytes */
		drop = s->b.len + (size_t)n - s->max;
		memmove(s->b.p, s->b.p + drop, s->b.len - drop);
		s->b.len -= drop;
	}
	return thinsnap_buf_append(&s->b, chunk, (size_t)n) < 0 ? -ENOMEM : 1;
}

/* Reads both sinks (fd -EBADF = not captured) until both reach end of file. */
static int drain(struct sink *out, struct sink *err)
{
	struct sink *sinks[2] = { out, err };

	for (;;) {
		struct pollfd p[2];
		struct sink *which[2];
		nfds_t n = 0;

		for (size_t i = 0; i < 2; i++)
			if (sinks[i]->fd >= 0) {
				p[n] = (struct pollfd){ .fd = sinks[i]->fd, .events = POLLIN };
				which[n++] = sinks[i];
			}
		if (n == 0)
			return 0;
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (nfds_t i = 0; i < n; i++) {
			int r;

			if (!p[i].revents)
				continue;
			r = sink_read(which[i]);
			if (r < 0)
				return r;
			if (r == 0)
				close_now(&which[i]->fd);
		}
	}
}

/* The sink's bytes as a malloc'd string; trim drops trailing newlines and spaces. */
static char *sink_take(struct sink *s, bool trim)
{
	char *str;

	if (thinsnap_buf_reserve(&s->b, 1) < 0)
		return NULL;
	while (trim && s->b.len && (s->b.p[s->b.len - 1] == '\n' || s->b.p[s->b.len - 1] == ' '))
		s->b.len--;
	s->b.p[s->b.len] = '\0';
	str = (char *)s->b.p;
	s->b = (struct thinsnap_buf){ 0 };
	return str;
}

static void sink_done(struct sink *s)
{
	close_now(&s->fd);
	thinsnap_buf_free(&s->b);
}

/* Points the child's fd at a new pipe's write end (*ret_wr), or at /dev/null. */
static int route(posix_spawn_file_actions_t *fa, int fd, bool capture, struct sink *s, int *ret_wr)
{
	int pipefd[2];

	if (!capture)
		return posix_spawn_file_actions_addopen(fa, fd, "/dev/null", O_WRONLY, 0) == 0
			       ? 0
			       : -ENOMEM;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	s->fd = pipefd[0];
	*ret_wr = pipefd[1];
	return posix_spawn_file_actions_adddup2(fa, pipefd[1], fd) == 0 ? 0 : -ENOMEM;
}

int thinsnap_spawn_capture(char *const argv[], char **ret_stdout, char **ret_stderr)
{
	struct sink out CLEANUP(sink_done) = { .fd = -EBADF };
	struct sink err CLEANUP(sink_done) = { .fd = -EBADF, .max = THINSNAP_SPAWN_STDERR_MAX };
	CLEANUP_CLOSE int out_wr = -EBADF;
	CLEANUP_CLOSE int err_wr = -EBADF;
	CLEANUP_FREE char *out_str = NULL;
	CLEANUP_FREE char *err_str = NULL;
	posix_spawn_file_actions_t fa;
	char path[4096];
	pid_t pid;
	int r, status;

	if (!argv || !argv[0])
		return -EINVAL;
	r = thinsnap_spawn_find(argv[0], path, sizeof(path));
	if (r < 0)
		return r;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) == 0 ? 0 : -ENOMEM;
	if (r == 0)
		r = route(&fa, 1, ret_stdout, &out, &out_wr);
	if (r == 0)
		r = route(&fa, 2, ret_stderr, &err, &err_wr);
	if (r == 0)
		r = -posix_spawn(&pid, path, &fa, NULL, argv, environ);
	(void)posix_spawn_file_actions_destroy(&fa);
	close_now(&out_wr); /* the child holds them now: end of file when it exits */
	close_now(&err_wr);
	if (r < 0)
		return r;
	r = drain(&out, &err);
	if (r < 0) { /* the child gets EPIPE or SIGPIPE on its next write */
		close_now(&out.fd);
		close_now(&err.fd);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (r < 0)
		return r;
	if (ret_stdout && !(out_str = sink_take(&out, false)))
		return -ENOMEM;
	if (ret_stderr && !(err_str = sink_take(&err, true)))
		return -ENOMEM;
	if (ret_stdout)
		*ret_stdout = TAKE_PTR(out_str);
	if (ret_stderr)
		*ret_stderr = TAKE_PTR(err_str);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

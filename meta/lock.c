/*
 * meta/: the state directory's writer lock: flock(LOCK_EX|LOCK_NB) on <state_dir>/lock, which
 * holds the pid of its holder, so that a refused writer can say who holds it. The lock is the
 * open file: closing it releases it, also when the process dies.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "meta/internal.h"

/* The lock holder's command name ("thinsnapd") from /proc, or "" when unknown. */
static void holder_name(long pid, char *buf, size_t len)
{
	char path[64];
	ssize_t k = -1;
	int fd;

	buf[0] = '\0';
	if (pid <= 0)
		return;
	(void)snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		k = read(fd, buf, len - 1);
		(void)close(fd);
	}
	if (k <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[k] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

int thinsnap_meta_lock_take(int dirfd, const char *state_dir, int *ret_fd,
			    struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int fd = -EBADF;
	char comm[32];
	char pid[32];
	int n;

	fd = openat(dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return thinsnap_error_setf(reterr, -errno, "opening '%s/" LOCK_NAME "': %m",
					   state_dir);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		long holder = 0;
		uint64_t v = 0;
		ssize_t k;

		if (e != EWOULDBLOCK)
			return thinsnap_error_setf(reterr, -e, "locking '%s/" LOCK_NAME "': %s",
						   state_dir, strerror(e));
		k = pread(fd, pid, sizeof(pid) - 1, 0);
		if (k > 0) {
			pid[k] = '\0';
			if (thinsnap_parse_u64_prefix(pid, &v, NULL) == 0 && v <= LONG_MAX)
				holder = (long)v; /* "<pid>\n" as written below */
		}
		holder_name(holder, comm, sizeof(comm));
		return thinsnap_error_setf(
			reterr, -EAGAIN,
			"state directory '%s' is locked by another writer (%s%spid %ld)", state_dir,
			comm, comm[0] ? ", " : "", holder);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		return thinsnap_error_setf(reterr, -errno, "writing '%s/" LOCK_NAME "': %m",
					   state_dir);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

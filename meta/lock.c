/*
 * meta/: the state directory's writer lock: flock(LOCK_EX|LOCK_NB) on <state_dir>/lock, which
 * holds "<pid>\n" of its holder, so that a refused writer can say who holds it. The lock is
 * the open file: closing it releases it, also when the process dies. A holder that lets go of
 * it in order first marks the file "<pid> released\n"; a pid without the mark, found by the
 * next holder, says that the last one died holding it (killed mid-operation), and what it may
 * have left half done is looked for. The file never reads empty while held: the pid is
 * written over the old contents, then the rest cut off.
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

#define RELEASED " released\n"

/* The pid the lock file (fd) names, or 0; *ret_released: it carries the release mark. */
static long recorded_pid(int fd, bool *ret_released)
{
	char buf[64];
	uint64_t v = 0;
	ssize_t k = pread(fd, buf, sizeof(buf) - 1, 0);

	if (ret_released)
		*ret_released = false;
	if (k <= 0)
		return 0;
	buf[k] = '\0';
	if (thinsnap_parse_u64_prefix(buf, &v, NULL) < 0 || v > LONG_MAX)
		return 0;
	if (ret_released)
		*ret_released = strstr(buf, RELEASED) != NULL;
	return (long)v;
}

int thinsnap_meta_lock_take(int dirfd, const char *state_dir, int *ret_fd, bool *ret_holder_died,
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
		long holder;

		if (e != EWOULDBLOCK)
			return thinsnap_error_setf(reterr, -e, "locking '%s/" LOCK_NAME "': %s",
						   state_dir, strerror(e));
		holder = recorded_pid(fd, NULL);
		if (holder <= 0) /* not one of ours (flock(1), say): no pid recorded */
			return thinsnap_error_setf(
				reterr, -EAGAIN, "state directory '%s' is locked by another writer",
				state_dir);
		holder_name(holder, comm, sizeof(comm));
		return thinsnap_error_setf(
			reterr, -EAGAIN,
			"state directory '%s' is locked by another writer (%s%spid %ld)", state_dir,
			comm, comm[0] ? ", " : "", holder);
	}
	if (ret_holder_died) {
		bool released;
		*ret_holder_died = recorded_pid(fd, &released) > 0 && !released;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (pwrite(fd, pid, (size_t)n, 0) != n || ftruncate(fd, n) < 0)
		return thinsnap_error_setf(reterr, -errno, "writing '%s/" LOCK_NAME "': %m",
					   state_dir);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

void thinsnap_meta_lock_release(int fd)
{
	char buf[64];
	int n;

	if (fd < 0)
		return;
	/* in order (see the top of this file); if the mark cannot be written, the next holder
	 * only looks for what a killed writer would have left */
	n = snprintf(buf, sizeof(buf), "%ld" RELEASED, (long)getpid());
	if (pwrite(fd, buf, (size_t)n, 0) != n)
		(void)0;
	(void)close(fd);
}

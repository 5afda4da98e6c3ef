/*
 * meta/: the public calls on a state directory without a snapshotter (<thinsnap/snapshotter.h>):
 * whether it holds a journal, its writer lock, and setting a destroyed pool's journal aside.
 * The file names stay here, in meta/internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <thinsnap/snapshotter.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "meta/internal.h"

struct thinsnap_state_lock {
	char *state_dir;
	int dirfd;
	int fd; /* the lock */
};

int thinsnap_state_has_journal(const char *state_dir)
{
	int r = thinsnap_file_exists(state_dir, JOURNAL_NAME);

	return r == 0 ? thinsnap_file_exists(state_dir, COPY_NAME) : r; /* either copy will do */
}

void thinsnap_state_lock_free(struct thinsnap_state_lock *lock)
{
	if (!lock)
		return;
	thinsnap_meta_lock_release(lock->fd);
	if (lock->dirfd >= 0)
		(void)close(lock->dirfd);
	free(lock->state_dir);
	free(lock);
}

DEFINE_CLEANUP(struct thinsnap_state_lock *, thinsnap_state_lock_free)

int thinsnap_state_lock(const char *state_dir, struct thinsnap_state_lock **ret_lock,
			struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_state_lock_freep) struct thinsnap_state_lock *l = NULL;
	int r;

	if (!state_dir || !*state_dir || !ret_lock)
		return thinsnap_error_setf(reterr, -EINVAL, "no state directory");
	l = calloc(1, sizeof(*l));
	if (!l)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	l->dirfd = l->fd = -EBADF;
	l->state_dir = strdup(state_dir);
	if (!l->state_dir)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	l->dirfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->dirfd < 0)
		return thinsnap_error_setf(reterr, -errno, "opening state directory '%s': %m",
					   state_dir);
	r = thinsnap_meta_lock_take(l->dirfd, state_dir, &l->fd, NULL, reterr);
	if (r < 0)
		return r;
	*ret_lock = TAKE_PTR(l);
	return 0;
}

int thinsnap_state_forget_pool(struct thinsnap_state_lock *lock, const char *pool_uuid,
			       struct thinsnap_error *reterr)
{
	char name[128];

	if (!lock || !pool_uuid || !*pool_uuid || strchr(pool_uuid, '/'))
		return thinsnap_error_setf(reterr, -EINVAL, "no lock or no pool uuid");
	if (snprintf(name, sizeof(name), JOURNAL_NAME ".%s.destroyed", pool_uuid) >=
	    (int)sizeof(name))
		return thinsnap_error_setf(reterr, -EINVAL, "pool uuid '%.32s...' too long",
					   pool_uuid);
	if (renameat(lock->dirfd, JOURNAL_NAME, lock->dirfd, name) < 0 && errno != ENOENT)
		return thinsnap_error_setf(reterr, -errno, "setting the journal in '%s' aside: %m",
					   lock->state_dir);
	if (snprintf(name, sizeof(name), COPY_NAME ".%s.destroyed", pool_uuid) >= (int)sizeof(name))
		return thinsnap_error_setf(reterr, -EINVAL, "pool uuid '%.32s...' too long",
					   pool_uuid);
	if (renameat(lock->dirfd, COPY_NAME, lock->dirfd, name) < 0 && errno != ENOENT)
		return thinsnap_error_setf(reterr, -errno,
					   "setting the journal's copy in '%s' aside: %m",
					   lock->state_dir);
	if (fsync(lock->dirfd) < 0)
		return thinsnap_error_setf(reterr, -errno, "syncing state directory '%s': %m",
					   lock->state_dir);
	return 0;
}

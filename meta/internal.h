/*
 * meta/: what its files share: the journal handle and the helpers one file lends another.
 * Internal to meta/. The module by file: format.c the on-disk encoding; index.c the in-memory
 * index and apply.c the validation and undo of changes to it (pure, meta/index.h); journal.c
 * appending, intents, checkpoint and compaction; replay.c open, replay and salvage; query.c
 * the reads; lock.c the writer lock; state.c the public calls on a state directory.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <thinsnap/error.h>

#include "meta/format.h"
#include "meta/index.h"
#include "meta/meta.h"

#define JOURNAL_NAME    "journal"
#define JOURNAL_TMP     ".journal.tmp"
#define COPY_NAME       "journal.copy" /* the second copy (opts.redundant) */
#define COPY_TMP        ".journal.copy.tmp"
#define LOCK_NAME       "lock"
#define DEFAULT_COMPACT (16ull << 20)
/*
 * Zeros kept ahead of the end of both files (written and synced, not fallocate'd: an
 * unwritten extent would change metadata on the first write to it), so an append overwrites
 * in place and its fdatasync changes no size or extent. Extended to a PREALLOC_STEP boundary
 * at least 2 margins ahead once fewer than PREALLOC_MARGIN bytes are left: the zeros past
 * the end stay under a step + 2 margins, well inside the torn-tail window (a maximal record).
 */
#define PREALLOC_STEP   (1ull << 20)
#define PREALLOC_MARGIN (256ull << 10)

struct thinsnap_meta {
	char *state_dir;
	int dirfd;
	int lockfd;
	bool writer_died; /* the lock's last holder died holding it */
	int fd;
	int fd2;        /* the copy (redundant), or -EBADF: the same bytes at the same offsets */
	bool sync_copy; /* the next synced append syncs the copy (they take turns) */
	/* records in the journal not yet written to the copy, from copy_at on: they go there
	 * in one pwrite just before the copy's turn to be synced (or at prealloc and free) */
	struct thinsnap_buf copy_pend;
	uint64_t copy_at;
	bool read_only;
	bool redundant;
	int failed;    /* an append failed: refuse mutations until reopened */
	bool unsynced; /* the last record was appended lazily (not yet fdatasync'd) */
	/* thinsnap_meta_sync_start()'s asynchronous fdatasync: the AIO context (0: none yet) */
	unsigned long aio;
	bool aio_unsupported;
	bool sync_inflight;
	const struct thinsnap_io *io;
	uint64_t compact_threshold;

	struct jnl_header hdr;
	uint64_t end;       /* where the next record goes (the records' end) */
	uint64_t alloc_end; /* both files hold synced zeros from end to here (a writer) */
	uint64_t next_seq;

	struct thinsnap_meta_index ix;
	struct thinsnap_buf wbuf;
	struct op_scratch scratch;
};

/* meta/journal.c */

/* -EROFS (read-only), -EIO (an earlier append failed), else 0. */
int thinsnap_meta_check_writable(struct thinsnap_meta *m, struct thinsnap_error *reterr);

/* Whether the copy's turn to be synced comes next; the file whose turn it is. */
static inline bool thinsnap_meta_copy_turn(const struct thinsnap_meta *m)
{
	return m->sync_copy && m->fd2 >= 0;
}
static inline int thinsnap_meta_turn_fd(const struct thinsnap_meta *m)
{
	return thinsnap_meta_copy_turn(m) ? m->fd2 : m->fd;
}

/* Writes the records the copy lacks (copy_pend) to it, unsynced; -errno. */
int thinsnap_meta_copy_catch_up(struct thinsnap_meta *m);

/* fdatasyncs the copy whose turn it is (the journal, then the copy, caught up first, ...);
 * -errno. */
int thinsnap_meta_sync_turn(struct thinsnap_meta *m);

/* meta/sync.c: waits for a sync in flight and frees the AIO context (thinsnap_meta_free()). */
void thinsnap_meta_sync_release(struct thinsnap_meta *m);
/* Compacts once the journal has grown past its threshold; a failure keeps the old one. */
void thinsnap_meta_maybe_compact(struct thinsnap_meta *m);
/* Where zeros ahead of end reach after an extension: between one and two steps ahead. */
uint64_t thinsnap_meta_prealloc_target(uint64_t end);
/*
 * Extends the zeros ahead of the end in both files (written, then fdatasync'd) once fewer
 * than PREALLOC_MARGIN bytes are left. No room (ENOSPC) leaves them as they are (appends
 * then grow the files); a failed sync fails the handle.
 */
void thinsnap_meta_prealloc(struct thinsnap_meta *m);
/* Writes a new, empty journal (its header) for pool_uuid (NULL: none) and opens it as m->fd. */
int thinsnap_meta_journal_create(struct thinsnap_meta *m, const char *pool_uuid,
				 struct thinsnap_error *reterr);

/* meta/lock.c */

/*
 * Takes flock(LOCK_EX|LOCK_NB) on LOCK_NAME in the state directory (dirfd, named state_dir
 * in messages) and writes this process's pid into it. *ret_fd: the lock, held until
 * thinsnap_meta_lock_release(). *ret_holder_died (optional): the last holder died holding it.
 * -EAGAIN: another writer holds it (the message names it).
 */
int thinsnap_meta_lock_take(int dirfd, const char *state_dir, int *ret_fd, bool *ret_holder_died,
			    struct thinsnap_error *reterr);
/* Lets go of the lock in order: marks the file "<pid> released" (no holder died), then
 * closes it. */
void thinsnap_meta_lock_release(int fd);

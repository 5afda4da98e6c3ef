/*
 * snap/'s private contract between its files: the handle, its locks, the prologues every call
 * shares, the pool transaction and its steps. The snapshotter maps containerd's snapshot model
 * (keys, kinds, parents) onto the thin devices of one pool and the journal; every pool change
 * is one pool transaction (snap/transaction.c), and open resolves what a crash left in between.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#include "base/cleanup.h"
#include "meta/meta.h"
#include "snap/snap.h"

/* Internal keys start with a byte containerd never sends in practice; walk/stat hide them. */
#define INTERNAL_PREFIX "\x1fthinsnap/"

struct thinsnap_snapshotter {
	char *state_dir;
	char *pool_name;
	char *fs_type;
	char *fs_options;
	uint64_t base_size_bytes;
	bool async_remove;
	bool discard_blocks;
	bool read_only;
	bool closed;
	int min_free_data_percent; /* 0: no floor */
	int min_free_metadata_percent;
	void (*log)(void *userdata, enum thinsnap_log_level level, const char *msg);
	void *log_userdata;

	struct thinsnap_pool *pool;  /* for writers, under write_lock */
	struct thinsnap_pool *rpool; /* for readers (usage), under rpool_lock */
	pthread_mutex_t rpool_lock;
	struct thinsnap_pool *epool; /* for thinsnap_wait_pool_event(), under event_lock */
	pthread_mutex_t event_lock;
	/* The last thin_ls result, under rpool_lock: reused for USAGE_CACHE_NS (snap/query.c;
	 * usage_cache_ns 0: none). usage_cache_tid is set to 0 as a walk begins and, with atomic
	 * stores, to UINT64_MAX by every pool transaction after: then only snapshots created
	 * before usage_cache_walk_ns are in the walk under their dev_id. */
	struct thinsnap_pool_thin_usage *usage_cache;
	size_t n_usage_cache;
	int64_t usage_cache_ns;      /* CLOCK_MONOTONIC */
	int64_t usage_cache_walk_ns; /* CLOCK_REALTIME, as created_ns */
	uint64_t usage_cache_tid;
	struct thinsnap_meta *meta;
	uint64_t tid; /* the pool's transaction id as this handle last set it */
	char *base_key;

	/* write_lock serialises mutations; state_lock guards the journal's in-memory state
	 * (readers share it, a writer takes it only around journal updates). */
	pthread_mutex_t write_lock;
	pthread_rwlock_t state_lock;
	/* the committed snapshots a send is reading, under write_lock (stream/send.c) */
	struct snap_pin *pins;
};

/*
 * A send's pin on a committed snapshot: while it is linked into the handle's pins, remove
 * refuses the snapshot (-EBUSY) and its device stays active, though the send reads it
 * without the write lock. The last pin of a dev_id to go deactivates the device if any of
 * its pins had to.
 */
struct snap_pin {
	uint32_t dev_id;
	bool deactivate;
	struct snap_pin *next;
};

/* Whether a send is reading dev_id (under write_lock). */
static inline bool thinsnap_snap_pinned(const struct thinsnap_snapshotter *s, uint32_t dev_id)
{
	for (const struct snap_pin *p = s->pins; p; p = p->next)
		if (p->dev_id == dev_id)
			return true;
	return false;
}

/* ---- locks and clocks ---- */

static inline void unlock_mutexp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}

static inline void unlock_rwlockp(pthread_rwlock_t **l)
{
	if (*l)
		pthread_rwlock_unlock(*l);
}

#define CLEANUP_UNLOCK  CLEANUP(unlock_mutexp)
#define CLEANUP_RUNLOCK CLEANUP(unlock_rwlockp)

static inline pthread_mutex_t *lock_writes(struct thinsnap_snapshotter *s)
{
	pthread_mutex_lock(&s->write_lock);
	return &s->write_lock;
}

static inline pthread_rwlock_t *lock_state_read(struct thinsnap_snapshotter *s)
{
	pthread_rwlock_rdlock(&s->state_lock);
	return &s->state_lock;
}

static inline int64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	(void)clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

/* ---- the handle's prologues (snap/handle.c) ---- */

void thinsnap_snap_logf(struct thinsnap_snapshotter *s, enum thinsnap_log_level level,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int thinsnap_snap_check_open(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr);
/*
 * Mutations need an open, writable handle and a pool in read-write mode. The pool status it
 * read goes to *ret_st (NULL allowed), for thinsnap_snap_check_space_floors_status() under the
 * same write lock.
 */
int thinsnap_snap_check_writable_status(struct thinsnap_snapshotter *s,
					struct thinsnap_pool_status *ret_st,
					struct thinsnap_error *reterr);
int thinsnap_snap_check_writable(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr);
/*
 * The readers' prologue: checks key and handle, takes the state lock for reading (into
 * *locked, released by the caller's CLEANUP_RUNLOCK) and finds key (-ENOENT if absent).
 */
int thinsnap_snap_read_lookup(struct thinsnap_snapshotter *s, const char *key,
			      pthread_rwlock_t **locked, const struct thinsnap_meta_snap **ret,
			      struct thinsnap_error *reterr);
/*
 * The writers' prologue: the handle open and writable, under the write lock (*locked, released
 * by the caller's CLEANUP_UNLOCK), then key's entry or NotFound naming it.
 */
int thinsnap_snap_write_lookup(struct thinsnap_snapshotter *s, const char *key,
			       pthread_mutex_t **locked, const struct thinsnap_meta_snap **ret,
			       struct thinsnap_error *reterr);
/*
 * As thinsnap_snap_write_lookup(), without reading the pool's status first (one ioctl): for a
 * writer whose pool messages the kernel refuses in the modes that status would refuse, and
 * which then asks thinsnap_snap_diagnose_pool() why.
 */
int thinsnap_snap_write_lookup_lazy(struct thinsnap_snapshotter *s, const char *key,
				    pthread_mutex_t **locked, const struct thinsnap_meta_snap **ret,
				    struct thinsnap_error *reterr);
/*
 * After a pool step failed with r: if the pool is in a mode that refuses writes (needs a
 * check, out of metadata space, failed), that error, naming the repair step, replaces r and
 * *reterr; otherwise r is returned and *reterr kept.
 */
int thinsnap_snap_diagnose_pool(struct thinsnap_snapshotter *s, int r,
				struct thinsnap_error *reterr);

/* ---- journal entries as the API's values (snap/entry.c) ---- */

enum thinsnap_kind thinsnap_snap_kind_from_meta(enum thinsnap_meta_kind k);
/* A short, printable form of a key for messages (keys may be 4 KiB of anything). */
const char *thinsnap_snap_shown(const char *key, char buf[static 80]);
void thinsnap_snap_dm_name_of(const struct thinsnap_snapshotter *s,
			      const struct thinsnap_meta_snap *e,
			      char buf[static THINSNAP_POOL_DM_NAME_MAX + 1]);
/* what: "key", "parent", "name" (for the message) */
int thinsnap_snap_check_key(const char *what, const char *key, struct thinsnap_error *reterr);
int thinsnap_snap_check_labels(const struct thinsnap_label *labels, size_t n,
			       struct thinsnap_error *reterr);
/* A unique id as info shows it: 32 hex digits, "" for none. */
void thinsnap_snap_format_uid(const uint8_t uid[static THINSNAP_META_UID_SIZE],
			      char buf[static THINSNAP_ID_LEN + 1]);
/* A new random unique id for a commit. */
int thinsnap_snap_new_uid(uint8_t uid[static THINSNAP_META_UID_SIZE],
			  struct thinsnap_error *reterr);
int thinsnap_snap_info_from_meta(const struct thinsnap_meta_snap *e, struct thinsnap_info **ret);
int thinsnap_snap_mount_for(const struct thinsnap_snapshotter *s,
			    const struct thinsnap_meta_snap *e, struct thinsnap_mount **ret,
			    struct thinsnap_error *reterr);

/* The labels as the journal takes them (a NULL value is ""), borrowing their strings: *ret is
 * malloc'd, NULL when n is 0. -ENOMEM. */
int thinsnap_snap_meta_labels(const struct thinsnap_label *labels, size_t n,
			      struct thinsnap_meta_label **ret);

/* ---- the pool transaction and its steps (snap/transaction.c) ---- */

struct pool_step {
	/* does the pool work; on failure it has undone what it did */
	int (*run)(struct thinsnap_snapshotter *s, void *ctx, struct thinsnap_error *reterr);
	/* undoes a successful run (when the transaction can't complete) */
	void (*undo)(struct thinsnap_snapshotter *s, void *ctx);
	void *ctx;
	/* run is pool messages and (de)activations only: after a crash, whether its dev_ids
	 * are in the pool decides the intent, so the journal's sync overlaps the pool's commit;
	 * false: the transaction id moves once run is done (a format or grow in between) */
	bool decidable;
};

struct create_ctx {
	uint32_t dev_id;
	uint32_t origin_id; /* UINT32_MAX: a fresh thin device */
	const char *origin_dm_name;
	const char *dm_name; /* NULL: leave inactive */
	uint64_t size_bytes;
	bool read_only;
	const char *grow_fs_type; /* non-NULL: grow the origin's filesystem to size_bytes */
};

/* Snapshot sizes (the max-size label, resize) are rounded up to this. */
#define SIZE_ALIGN 4096u

int thinsnap_snap_journal_apply(struct thinsnap_snapshotter *s, const struct thinsnap_meta_op *ops,
				size_t n, struct thinsnap_error *reterr);
/* Journals the intent, runs step (and for a step that is not decidable, sets the transaction
 * id), journals the completion. */
int thinsnap_snap_pool_txn(struct thinsnap_snapshotter *s,
			   const struct thinsnap_meta_pool_op *pool_ops, size_t n_pool_ops,
			   const struct thinsnap_meta_op *ops, size_t n_ops,
			   const struct pool_step *step, struct thinsnap_error *reterr);
int thinsnap_snap_create_run(struct thinsnap_snapshotter *s, void *v,
			     struct thinsnap_error *reterr);
void thinsnap_snap_create_undo(struct thinsnap_snapshotter *s, void *v);
/* Deletes dev_id from the pool, journaling ops on completion. */
int thinsnap_snap_delete_txn(struct thinsnap_snapshotter *s, uint32_t dev_id, uint64_t size_bytes,
			     const struct thinsnap_meta_op *ops, size_t n_ops,
			     struct thinsnap_error *reterr);

/* ---- the base device (snap/base.c) ---- */

int thinsnap_snap_make_base_key(struct thinsnap_snapshotter *s);
/* The base entry for the configured fs, formatting it on first use (under write_lock). */
int thinsnap_snap_ensure_base(struct thinsnap_snapshotter *s, const struct thinsnap_meta_snap **ret,
			      struct thinsnap_error *reterr);

/* ---- open and recovery (snap/open.c, snap/recovery.c) ---- */

/* A handle on the pool recorded in <state_dir>/pool. */
int thinsnap_snap_open_pool(struct thinsnap_snapshotter *s, struct thinsnap_pool **ret,
			    struct thinsnap_error *reterr);
/* The journal, as this handle opens it; a reader of a pool never written to gets NULL. */
int thinsnap_snap_open_meta(struct thinsnap_snapshotter *s, struct thinsnap_meta **ret,
			    struct thinsnap_error *reterr);
/* Resumes what a writer killed holding the lock left suspended, resolves every unfinished
 * intent against the pool, and after a reboot what a lost intent left (a writer's open). */
int thinsnap_snap_recover(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr);
/* Makes the next writer's open look for what a lost intent left, as after a reboot (the
 * journal's sync failed). */
void thinsnap_snap_forget_boot(struct thinsnap_snapshotter *s);

struct reactivate_ctx {
	struct thinsnap_snapshotter *s;
	char **active; /* the pool's active dm names, sorted: skip those without an ioctl each */
	size_t n_active;
	struct thinsnap_error *reterr;
};

/* thinsnap_meta_walk() callback (userdata: struct reactivate_ctx): activates an active
 * snapshot or view whose device is missing. */
int thinsnap_snap_reactivate_one(const struct thinsnap_meta_snap *e, void *userdata);

/* ---- space (snap/space.c) ---- */

/*
 * Before creating a thin device: -ENOSPC while free data or metadata space is below its
 * floor, so that writes to existing devices keep the room they need (under write_lock).
 * known: the pool's status read under this write lock with nothing created since, or NULL
 * to read it here (a status read is an ioctl, a tenth of a prepare).
 */
int thinsnap_snap_check_space_floors_status(struct thinsnap_snapshotter *s,
					    const struct thinsnap_pool_status *known,
					    struct thinsnap_error *reterr);
int thinsnap_snap_check_space_floors(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr);

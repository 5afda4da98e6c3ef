/*
 * meta/: the crash-safe metadata journal (internal contract with snap/, cli/, daemon/).
 * It remembers snapshots (key, kind, parent, dev_id, size, fs type, labels, times, usage),
 * reserved and pending-delete dev_ids, and pool operations in flight (intents).
 * On-disk format and recovery rules: meta/format.c and docs/journal.md.
 *
 * Threads: one thread uses a handle at a time (callers serialise; no group commit).
 * Every mutation is durable (pwrite + fdatasync) before it returns 0.
 * Errors: -errno, with *reterr filled (NULL allowed); ret_* written only on success.
 * Lifetimes: every pointer handed out (entries, labels, intents in callbacks) is borrowed and
 * valid until the next mutation (apply, intent_begin/finish, compact) or thinsnap_meta_free().
 * Ops only read their inputs during the call; nothing is kept.
 *
 * Recipes for snap/ (each line is one call, one record; snap/transaction.c):
 *  prepare/view:  alloc_dev_id; intent_begin_unsynced{pool: create_snap id origin (or
 *                 create_thin id), tid N -> N (the id stays), ops: [SNAP_CREATE key parent
 *                 kind id ...]}; sync_start (the fdatasync runs while the pool commits); pool
 *                 messages; sync_wait; intent_finish_lazy(completed) -> the entry exists.
 *                 After a crash the pool's device list decides the intent (snap/recovery.c).
 *  commit (rename, same device): apply [SNAP_COMMIT key -> name, labels, updated_ns].
 *  commit (kept): the same intent with create_snap new_id origin=active's id and
 *                 ops [SNAP_CREATE name COMMITTED new_id parent=active's parent ...].
 *  remove:        the same intent with pool: delete id, ops: [SNAP_REMOVE key]; or
 *                 apply [SNAP_REMOVE key, DELETE_PENDING_ADD id] now and
 *                 apply [DELETE_PENDING_REMOVE id] once the pool delete is done.
 *  more than pool messages (a base device's create + format): intent_begin (synced),
 *                 tid N -> N+1; the step; set_transaction_id N N+1; intent_finish_lazy.
 *                 After a crash the transaction id decides it.
 *  after open:    thinsnap_meta_unfinished() -> resolve each intent (by the device list, or
 *                 by the pool's transaction id when it moves it);
 *                 thinsnap_meta_each_delete_pending() -> retry deletes.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <thinsnap/error.h>

#include "base/io.h"

#define THINSNAP_META_KEY_MAX      4096u      /* bytes, without the NUL */
#define THINSNAP_META_LABEL_MAX    4096u      /* a label's key + value, bytes */
#define THINSNAP_META_DEV_ID_LIMIT (1u << 24) /* dev_id < this; dev_id 0 is reserved */
#define THINSNAP_META_UID_SIZE     16u        /* bytes of a committed snapshot's unique id */

struct thinsnap_meta;

struct thinsnap_meta_open_opts {
	const char *state_dir; /* created (one level, 0700) by a writer if missing */
	/*
	 * Pool identity bound in the journal header when it is created. On open, a non-NULL
	 * pool_uuid that differs from the header's refuses with -EXDEV; NULL skips the check.
	 * At most 128 bytes (-EINVAL).
	 */
	const char *pool_uuid;
	/*
	 * Read-only: no lock, never modifies any file, a torn tail is ignored in memory;
	 * mutations return -EROFS. Sees a consistent prefix even while a writer appends.
	 */
	bool read_only;
	/*
	 * If the journal is damaged before its tail (in both copies), keep every record that
	 * still verifies and applies instead of failing with -EUCLEAN: unreadable stretches and
	 * records that no longer apply are skipped (salvage_note names each). A writer keeps the
	 * damaged files as "journal.corrupt-<unix time>" (and "journal.copy.corrupt-...") and
	 * checkpoints what was kept into a new generation; a reader (a dry run) only reads.
	 */
	bool salvage;
	/*
	 * Keep a second copy of the journal, "journal.copy": every record and checkpoint goes
	 * to both files at the same offset; appends fdatasync the two in turn (one sync per
	 * record, as with one file), so every record but the newest is durable in both. Open
	 * reads the two record by record and takes whichever copy verifies: a single damaged
	 * region of either file (a flipped or torn sector, a truncated file) loses nothing.
	 * A writer that finds the copy missing, stale or different rewrites both (a
	 * checkpoint): this is how a journal written without a copy is migrated.
	 * With salvage and a read-only open (a dry run), nothing is written either.
	 */
	bool redundant;
	/*
	 * With salvage: called for each thing that could not be kept (unreadable records, a
	 * record that no longer applies), at its file offset; what is one line, what and why.
	 */
	void (*salvage_note)(void *userdata, uint64_t offset, const char *what);
	void *salvage_userdata;
	/* Compact once the journal grows past this many bytes beyond its checkpoint.
	 * 0 = default (16 MiB); UINT64_MAX = never automatically. */
	uint64_t compact_threshold_bytes;
	/* I/O hooks (base/io.h; tests inject crashes and ENOSPC/EIO); NULL = syscalls */
	const struct thinsnap_io *io;
};

enum thinsnap_meta_kind {
	THINSNAP_META_VIEW = 1,
	THINSNAP_META_ACTIVE = 2,
	THINSNAP_META_COMMITTED = 3,
	THINSNAP_META_INTERNAL = 4, /* base devices: a valid parent, skipped by containerd's walk */
};

struct thinsnap_meta_label {
	const char *key; /* non-empty; strlen(key) + strlen(value) <= THINSNAP_META_LABEL_MAX */
	const char *value;
};

/* A snapshot entry. Every pointer is borrowed from the journal's state: valid until the next
 * mutation (apply, intent_begin/finish, compact) or thinsnap_meta_free(). */
struct thinsnap_meta_snap {
	const char *key;
	const char *parent; /* NULL = none; the parent's key */
	enum thinsnap_meta_kind kind;
	uint32_t dev_id;
	uint64_t size_bytes;
	const char *fs_type; /* "" when unset, never NULL */
	const struct thinsnap_meta_label *labels;
	size_t n_labels;
	int64_t created_ns;
	int64_t updated_ns;
	uint64_t usage_bytes;
	uint64_t usage_inodes;
	uint8_t uid[THINSNAP_META_UID_SIZE]; /* a committed snapshot's unique id; zeros: none */
};

enum thinsnap_meta_op_type {
	/* key, parent (NULL = none; must exist and be COMMITTED or INTERNAL), kind, dev_id (not
	 * used by another entry, a pending delete or another intent; a reservation made with
	 * ID_ALLOC is consumed), size_bytes, fs_type (NULL = ""), labels, created_ns,
	 * updated_ns, usage_bytes, usage_inodes */
	THINSNAP_META_OP_SNAP_CREATE = 1,
	/* key (no children); its dev_id becomes free unless the same group adds it as pending
	 * delete (DELETE_PENDING_ADD) or an intent still touches it */
	THINSNAP_META_OP_SNAP_REMOVE = 2,
	/* key (must be ACTIVE) is renamed to name and becomes COMMITTED; its labels are replaced by
	 * labels, created_ns and updated_ns both set to updated_ns (containerd's committed
	 * snapshot is created by the commit). The dev_id stays. ("Kept" commits: a SNAP_CREATE of the
	 * committed entry with its own dev_id, inside an intent with the create_snap pool op.) */
	THINSNAP_META_OP_SNAP_COMMIT = 3,
	/* key: replace the whole label set with labels; updated_ns set */
	THINSNAP_META_OP_LABELS_SET = 4,
	/* key: usage_bytes, usage_inodes */
	THINSNAP_META_OP_USAGE_SET = 5,
	/* dev_id: reserve (not free, not in any use) / release a reservation */
	THINSNAP_META_OP_ID_ALLOC = 6,
	THINSNAP_META_OP_ID_RELEASE = 7,
	/* dev_id whose thin device must still be deleted from the pool: stays reserved until
	 * removed. Add: not used by an entry (remove the entry in the same group first). */
	THINSNAP_META_OP_DELETE_PENDING_ADD = 8,
	THINSNAP_META_OP_DELETE_PENDING_REMOVE = 9,
	/* key: size_bytes (> 0), the thin device's new size (thinsnap resize). The first one
	 * written sets the journal's SIZE_SET incompat bit (a checkpoint), so that older readers
	 * refuse the journal instead of misreading it. */
	THINSNAP_META_OP_SIZE_SET = 10,
	/* key (must be COMMITTED): uid (THINSNAP_META_UID_SIZE bytes, not all zero), its unique
	 * id, set once (-EEXIST if it has one). The first one written sets the journal's UID
	 * incompat bit (a checkpoint), as SIZE_SET does. */
	THINSNAP_META_OP_UID_SET = 11,
};

/* One mutation; unused fields are ignored. Strings are NUL-terminated and only read. */
struct thinsnap_meta_op {
	enum thinsnap_meta_op_type type;
	const char *key;
	const char *name;   /* SNAP_COMMIT: the new key */
	const char *parent; /* SNAP_CREATE */
	enum thinsnap_meta_kind kind;
	uint32_t dev_id;
	uint64_t size_bytes;
	const char *fs_type;
	const struct thinsnap_meta_label *labels;
	size_t n_labels;
	int64_t created_ns;
	int64_t updated_ns;
	uint64_t usage_bytes;
	uint64_t usage_inodes;
	const uint8_t *uid; /* UID_SET: THINSNAP_META_UID_SIZE bytes */
};

enum thinsnap_meta_pool_op_type {
	THINSNAP_META_POOL_CREATE_THIN = 1, /* dev_id */
	THINSNAP_META_POOL_CREATE_SNAP = 2, /* dev_id, origin_id */
	THINSNAP_META_POOL_DELETE = 3,      /* dev_id */
};

struct thinsnap_meta_pool_op {
	enum thinsnap_meta_pool_op_type type;
	uint32_t dev_id;
	uint32_t origin_id; /* CREATE_SNAP only */
};

/* A pool operation in flight: journal it (intent_begin), send the pool messages and
 * `set_transaction_id before after`, then intent_finish(completed = true) applies ops. */
struct thinsnap_meta_intent {
	uint64_t id; /* set by thinsnap_meta_unfinished(); ignored by intent_begin */
	const struct thinsnap_meta_pool_op *pool_ops;
	size_t n_pool_ops;
	uint64_t transaction_id_before;
	uint64_t transaction_id_after;
	const struct thinsnap_meta_op *ops; /* applied atomically on completion */
	size_t n_ops;
};

/*
 * Opens (a writer creates) <state_dir>/journal. Writers take flock(LOCK_EX|LOCK_NB) on
 * <state_dir>/lock: held by another writer -> -EAGAIN ("state directory '...' is locked by
 * another writer (thinsnapd, pid N)", the holder's name from /proc when known). A torn tail
 * is cut off (writer) or ignored (reader).
 * Errors: -ENOENT (read-only and no journal), -EUCLEAN (damage before the tail; the message
 * names the offset; see opts.salvage), -EOPNOTSUPP (newer version / unknown incompat bits),
 * -EXDEV (other pool), -EINVAL, -ENOMEM, I/O errnos. *ret_m: free with thinsnap_meta_free().
 */
int thinsnap_meta_open(const struct thinsnap_meta_open_opts *opts, struct thinsnap_meta **ret_m,
		       struct thinsnap_error *reterr);

/* Closes the journal and releases the lock. NULL is fine. */
void thinsnap_meta_free(struct thinsnap_meta *m);

/*
 * The checks every key and label passes (thinsnap_meta_apply() runs them; snap/ runs them on
 * its callers' input). what names the key in the message ("key", "parent", "name").
 * A key: non-empty, at most THINSNAP_META_KEY_MAX bytes. A label: a non-empty key, key and
 * value (NULL = "") at most THINSNAP_META_LABEL_MAX bytes together; in an array for the
 * journal (check_labels), the value must not be NULL either. -EINVAL, with the reason.
 */
int thinsnap_meta_check_key(const char *what, const char *key, struct thinsnap_error *reterr);
int thinsnap_meta_check_label(const char *key, const char *value, struct thinsnap_error *reterr);
int thinsnap_meta_check_labels(const struct thinsnap_meta_label *labels, size_t n,
			       struct thinsnap_error *reterr);

/* Whether uid (THINSNAP_META_UID_SIZE bytes) is all zeros: no unique id. */
bool thinsnap_meta_uid_is_null(const uint8_t *uid);

/* Borrowed entry for key, or NULL if absent (or key invalid). O(1). */
const struct thinsnap_meta_snap *thinsnap_meta_get(struct thinsnap_meta *m, const char *key);

/* Whether key has children (false when absent). O(1). */
bool thinsnap_meta_has_children(struct thinsnap_meta *m, const char *key);

/* Callback for children/walk: return < 0 to stop; that value is returned. It may call
 * thinsnap_meta_get / has_children, never a mutation. */
typedef int (*thinsnap_meta_snap_cb)(const struct thinsnap_meta_snap *snap, void *userdata);

/* Calls cb for each child of key (any order). -ENOENT if key is absent. */
int thinsnap_meta_children(struct thinsnap_meta *m, const char *key, thinsnap_meta_snap_cb cb,
			   void *userdata);

/* Calls cb for every entry, INTERNAL ones included (callers skip them), in no given order. */
int thinsnap_meta_walk(struct thinsnap_meta *m, thinsnap_meta_snap_cb cb, void *userdata);

size_t thinsnap_meta_count(struct thinsnap_meta *m);

/*
 * Applies ops[0..n) as one atomic group: validated, then one record appended and fdatasync'd.
 * On error nothing changes in memory, and nothing valid is on disk. Errors: -EINVAL (bad key:
 * empty or > 4096 bytes; label too large or empty label key; bad kind/type; group > 4 MiB
 * encoded), -ERANGE (dev_id 0 or >= 2^24), -EEXIST (key exists, dev_id in use), -ENOENT (no such
 * key/parent/reservation/pending delete), -ENOTEMPTY (remove with children), -EBUSY (dev_id
 * touched by an unfinished intent), -EINVAL also for a wrong kind (commit of a non-ACTIVE
 * entry, parent not COMMITTED/INTERNAL), -EROFS (read-only), -EIO and other I/O errnos. After an
 * I/O error the handle refuses further mutations with -EIO: reopen (which recovers).
 */
int thinsnap_meta_apply(struct thinsnap_meta *m, const struct thinsnap_meta_op *ops, size_t n,
			struct thinsnap_error *reterr);

/*
 * Durably records an intent. Its ops are validated now (as apply would, nothing applied) and
 * again at completion. Every dev_id/origin_id of its pool ops and ops is "touched": the
 * allocator never returns it and other intents may not touch it (-EBUSY) until finished.
 * *ret_intent_id: the id for intent_finish.
 */
int thinsnap_meta_intent_begin(struct thinsnap_meta *m, const struct thinsnap_meta_intent *in,
			       uint64_t *ret_intent_id, struct thinsnap_error *reterr);

/*
 * Like intent_begin, but the record is only written, not fdatasync'd: thinsnap_meta_sync_wait()
 * makes it durable. For a caller whose recovery decides the intent also when the record is
 * lost (snap/: from the pool's device list), so that the sync can overlap the pool's commit.
 */
int thinsnap_meta_intent_begin_unsynced(struct thinsnap_meta *m,
					const struct thinsnap_meta_intent *in,
					uint64_t *ret_intent_id, struct thinsnap_error *reterr);

/*
 * An fdatasync of the journal that runs while the caller works (submitted with Linux AIO,
 * IOCB_CMD_FDSYNC), for every record appended so far; thinsnap_meta_sync_wait() waits for it
 * (where asynchronous fsync is missing, or with test I/O hooks, the wait syncs). No other call
 * on m may come in between. A failed sync fails the handle (as an append's).
 */
void thinsnap_meta_sync_start(struct thinsnap_meta *m);
int thinsnap_meta_sync_wait(struct thinsnap_meta *m, struct thinsnap_error *reterr);

/* completed: applies the intent's ops atomically with the completion record (validation
 * errors as in apply; then the intent stays unfinished). Aborted: drops them.
 * -ENOENT: no such unfinished intent. */
int thinsnap_meta_intent_finish(struct thinsnap_meta *m, uint64_t intent_id, bool completed,
				struct thinsnap_error *reterr);

/*
 * Like intent_finish, but the completion record is not fdatasync'd: it becomes durable with
 * the next synced append (every other mutation) or at thinsnap_meta_free(). A crash before
 * that leaves the intent unfinished, and open hands it back for resolution against the pool's
 * transaction id, which decides it: so this is safe for every intent, and saves one sync per
 * pool operation.
 */
int thinsnap_meta_intent_finish_lazy(struct thinsnap_meta *m, uint64_t intent_id, bool completed,
				     struct thinsnap_error *reterr);

/*
 * Lists unfinished intents (oldest first) to resolve against the pool's transaction_id:
 * == after -> finish completed; == before -> roll the pool back, finish aborted.
 * The intent and everything it points to are valid during the callback only; the callback
 * must not mutate. Return < 0 from cb to stop (returned).
 */
typedef int (*thinsnap_meta_intent_cb)(const struct thinsnap_meta_intent *in, void *userdata);
int thinsnap_meta_unfinished(struct thinsnap_meta *m, thinsnap_meta_intent_cb cb, void *userdata);

/*
 * Lowest dev_id >= 1 not used by an entry, an ID_ALLOC reservation, a pending delete or an
 * unfinished intent. Pure in-memory: make it durable with an op or an intent. -ENOSPC if none.
 */
int thinsnap_meta_alloc_dev_id(struct thinsnap_meta *m, uint32_t *ret_dev_id,
			       struct thinsnap_error *reterr);

/* Whether the journal names dev_id: an entry's, a reservation, a pending delete or touched
 * by an unfinished intent (what alloc_dev_id never returns). */
bool thinsnap_meta_dev_id_known(struct thinsnap_meta *m, uint32_t dev_id);

/* Whether the writer lock's last holder died holding it (killed mid-operation): what an
 * operation may leave between two system calls (a suspended device) is to be looked for. */
bool thinsnap_meta_writer_died(const struct thinsnap_meta *m);

/* Whether dev_id is a pending delete. */
bool thinsnap_meta_delete_pending(struct thinsnap_meta *m, uint32_t dev_id);

/* Calls cb(dev_id) for every pending delete, ascending. */
int thinsnap_meta_each_delete_pending(struct thinsnap_meta *m,
				      int (*cb)(uint32_t dev_id, void *userdata), void *userdata);

/* Writes the whole state as a new generation (write, fsync, rename, fsync dir). */
int thinsnap_meta_compact(struct thinsnap_meta *m, struct thinsnap_error *reterr);

/* Journal size in bytes, and bytes past the last checkpoint (for tests and `thinsnap info`). */
uint64_t thinsnap_meta_journal_bytes(struct thinsnap_meta *m);

/* Where the journal stands: equal for two opens iff no record was appended and no compaction
 * ran between them (a reader compares its journal before and after reading the pool). */
bool thinsnap_meta_same_position(struct thinsnap_meta *a, struct thinsnap_meta *b);

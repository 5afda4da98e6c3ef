/*
 * The snapshotter: containerd's snapshot model on the thin volumes of one dm-thin pool.
 * Keys are arbitrary strings (no NUL, up to 4 KiB); kinds view, active, committed; only
 * committed snapshots are parents. Every pool change is journaled (intent, pool messages,
 * transaction id compare-and-swap, completion), so a crash leaks no thin device and loses
 * no key.
 *
 * Errors: functions return >= 0 or -errno and fill *reterr; thinsnap_code_from_errno()
 * gives containerd's code: -ENOENT NotFound, -EEXIST AlreadyExists, -EINVAL InvalidArgument,
 * -EBUSY/-ENOTEMPTY/-ENOSPC/-EROFS FailedPrecondition, -EAGAIN/-ENODEV Unavailable.
 *
 * Threads: one handle may be shared by several threads; the handle serialises pool changes,
 * and reads (stat, walk, mounts, usage) never wait behind a slow pool operation or mkfs.
 * Ownership: **ret results belong to the caller, who frees them with the matching _free.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <thinsnap/common.h>
#include <thinsnap/error.h>

#ifdef __cplusplus
extern "C" {
#endif

struct thinsnap_snapshotter;

/* containerd's numbering (snapshots.Kind). */
enum thinsnap_kind {
	THINSNAP_KIND_UNKNOWN = 0,
	THINSNAP_KIND_VIEW = 1,
	THINSNAP_KIND_ACTIVE = 2,
	THINSNAP_KIND_COMMITTED = 3,
};

/* "view", "active", "committed" or "unknown"; a static string. */
THINSNAP_API const char *thinsnap_kind_name(enum thinsnap_kind kind);

struct thinsnap_label {
	const char *key;
	const char *value;
};

/*
 * The size of a new active snapshot in bytes (decimal digits only), a label of prepare.
 * Rounded up to a multiple of 4096. Larger than the parent's size: the thin device is
 * activated at that size and its filesystem grown online; the same size: no effect; smaller:
 * -EINVAL (InvalidArgument). A view cannot be larger than its parent (-EINVAL).
 */
#define THINSNAP_LABEL_MAX_SIZE "containerd.io/snapshot/max-size"

/* Hex digits of a committed snapshot's unique id (struct thinsnap_info's id). */
#define THINSNAP_ID_LEN 32

/* A snapshot's description. */
struct thinsnap_info {
	char *name;
	char *parent; /* NULL when it has none */
	enum thinsnap_kind kind;
	int64_t created_ns; /* Unix time in nanoseconds */
	int64_t updated_ns;
	struct thinsnap_label *labels; /* n_labels pairs of owned strings */
	size_t n_labels;
	/* A committed snapshot's unique id, given at commit and kept by thinsnap_receive() (32
	 * lowercase hex digits); "" for other kinds and for snapshots committed without one. */
	char id[THINSNAP_ID_LEN + 1];
};

/* Frees an info returned by the library, and its strings. NULL is fine. */
THINSNAP_API void thinsnap_info_free(struct thinsnap_info *info);

/*
 * What to mount for a snapshot: always exactly one block-device mount,
 * source "/dev/mapper/<device name>" (VM runtimes hot-plug it), type the fs type,
 * options including "ro" for views.
 */
struct thinsnap_mount {
	char *type;
	char *source;
	char **options; /* n_options owned strings */
	size_t n_options;
};

/* Frees a mount returned by the library, and its strings. NULL is fine. */
THINSNAP_API void thinsnap_mount_free(struct thinsnap_mount *mount);

struct thinsnap_usage {
	int64_t size_bytes; /* bytes this snapshot maps beyond its parent, never negative */
	int64_t inodes;     /* inodes its filesystem uses beyond its parent's, never negative */
};

/* Log levels for the optional log callback (library code logs only through it). */
enum thinsnap_log_level {
	THINSNAP_LOG_ERROR = 3,
	THINSNAP_LOG_WARNING = 4,
	THINSNAP_LOG_INFO = 6,
	THINSNAP_LOG_DEBUG = 7,
};

/* What thinsnap_open() is given; start from THINSNAP_OPTIONS_INIT (every default). */
struct thinsnap_options {
	unsigned int version;  /* THINSNAP_OPTIONS_VERSION */
	const char *state_dir; /* journal, lock and the pool's identity; containerd's root_path */
	const char
		*pool_name; /* the thin pool's dm name; it must exist or be recorded in state_dir */
	uint64_t base_size_bytes; /* size of parentless snapshots; 0 = 10 GiB */
	const char *fs_type;      /* "ext4" (default), "ext3", "ext2" or "xfs" (mkfs.xfs, nouuid) */
	const char *fs_options;   /* mkfs.ext4-style options for the base, e.g. "-E nodiscard" */
	bool async_remove;        /* remove only marks; cleanup() deletes */
	bool discard_blocks;      /* discard a thin device's blocks before deleting it */
	bool read_only;           /* open for reading (no lock; mutating calls give -EROFS) */
	void (*log)(void *userdata, enum thinsnap_log_level level, const char *msg);
	void *log_userdata;
	/*
	 * Space floors: creating a thin device (prepare, view, a kept commit, a base device)
	 * is refused with -ENOSPC (FailedPrecondition) while the pool's free data or metadata
	 * space is below this percentage. 0 = the default, 10; 1..100 as given; negative =
	 * no floor (disabled). Other values: -EINVAL at open.
	 */
	int min_free_data_percent;
	int min_free_metadata_percent;
};

#define THINSNAP_OPTIONS_VERSION 1
#define THINSNAP_OPTIONS_INIT    THINSNAP_VERSIONED_INIT(THINSNAP_OPTIONS_VERSION)

/*
 * Opens the snapshotter: opens the pool, takes the state directory's writer lock
 * (held by another process: -EAGAIN), replays the journal, resolves unfinished pool
 * operations against the pool's transaction id, re-activates active snapshots and views
 * whose devices are gone (after a reboot), and makes sure the base device exists.
 * opts->version 0 or unknown: -EINVAL before anything is touched.
 */
THINSNAP_API int thinsnap_open(const struct thinsnap_options *opts,
			       struct thinsnap_snapshotter **ret, struct thinsnap_error *reterr);

/* Releases the journal and the lock; a second call is a no-op. Devices stay active. */
THINSNAP_API void thinsnap_close(struct thinsnap_snapshotter *s);

/* Closes (if needed) and frees the handle. NULL is fine. */
THINSNAP_API void thinsnap_free(struct thinsnap_snapshotter *s);

/*
 * The state directory without a snapshotter, for tools that manage its pool (the thinsnap
 * command's pool verbs): the library names the files in it, callers name only the directory.
 */

/*
 * The directory of the snapshotter's pool in state_dir (its identity and loop files), as
 * thinsnap_open() looks for it: the state_dir given to thinsnap_pool_create() and
 * thinsnap_pool_open() for the pool a snapshotter on state_dir uses. Written into buf;
 * -ENAMETOOLONG if it does not fit, -EINVAL for an empty state_dir.
 */
THINSNAP_API int thinsnap_state_pool_dir(const char *state_dir, char *buf, size_t size);

/* Whether state_dir holds a journal: 1 yes, 0 no (never opened for writing), or -errno when
 * that cannot be told (-EACCES, ...). */
THINSNAP_API int thinsnap_state_has_journal(const char *state_dir);

struct thinsnap_state_lock;

/*
 * Takes state_dir's writer lock, the one a writing snapshotter holds: while it is held,
 * thinsnap_open() for writing gets -EAGAIN, and so does this call while a writer has it open.
 * The directory must exist. *ret_lock: release with thinsnap_state_lock_free().
 */
THINSNAP_API int thinsnap_state_lock(const char *state_dir, struct thinsnap_state_lock **ret_lock,
				     struct thinsnap_error *reterr);

/* Releases the lock. NULL is fine. */
THINSNAP_API void thinsnap_state_lock_free(struct thinsnap_state_lock *lock);

/*
 * Forgets the snapshots of the destroyed pool pool_uuid (its journal describes nothing now,
 * and the next pool created in this state directory would refuse it as another pool's): the
 * journal is set aside, durably, as "journal.<pool_uuid>.destroyed". 0 also when there is no
 * journal. Needs the lock; -EINVAL for a pool_uuid that is empty, too long or holds a '/'.
 */
THINSNAP_API int thinsnap_state_forget_pool(struct thinsnap_state_lock *lock, const char *pool_uuid,
					    struct thinsnap_error *reterr);

/*
 * A new active snapshot `key` on top of committed `parent` (NULL or "" for an empty
 * filesystem). labels may be NULL. *ret_mount (optional) receives its mount.
 */
THINSNAP_API int thinsnap_prepare(struct thinsnap_snapshotter *s, const char *key,
				  const char *parent, const struct thinsnap_label *labels,
				  size_t n_labels, struct thinsnap_mount **ret_mount,
				  struct thinsnap_error *reterr);

/* Like prepare, but read-only: the device is read-only at the dm level, the mount has "ro". */
THINSNAP_API int thinsnap_view(struct thinsnap_snapshotter *s, const char *key, const char *parent,
			       const struct thinsnap_label *labels, size_t n_labels,
			       struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr);

/* The mount of an active snapshot or view. Committed: -EROFS (FailedPrecondition). */
THINSNAP_API int thinsnap_mounts(struct thinsnap_snapshotter *s, const char *key,
				 struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr);

/* commit flag: snapshot the active device and keep `key` active and writable. */
#define THINSNAP_COMMIT_KEEP_ACTIVE 0x1u

/*
 * Commits active `key` as `name`. Without flags the key is retired and its device becomes
 * the committed snapshot (no copy), deactivated. labels replace the snapshot's labels.
 */
THINSNAP_API int thinsnap_commit(struct thinsnap_snapshotter *s, const char *name, const char *key,
				 const struct thinsnap_label *labels, size_t n_labels,
				 unsigned flags, struct thinsnap_error *reterr);

/*
 * Grows active snapshot `key` to size_bytes (rounded up to a multiple of 4096), journaled
 * first: its device is reloaded at the new size and its filesystem grown online, mounted or
 * not (ext2/3/4 with EXT4_IOC_RESIZE_FS, xfs with xfs_growfs). The same size only finishes
 * an earlier, interrupted resize. -EINVAL if size_bytes is smaller than the snapshot or 0;
 * -EROFS (FailedPrecondition) for a view or a committed snapshot; -ENOENT if absent;
 * -EOPNOTSUPP for filesystems that can't grow.
 */
THINSNAP_API int thinsnap_resize(struct thinsnap_snapshotter *s, const char *key,
				 uint64_t size_bytes, struct thinsnap_error *reterr);

/* Removes a snapshot; -ENOENT if absent, -ENOTEMPTY (FailedPrecondition) if it has children. */
THINSNAP_API int thinsnap_remove(struct thinsnap_snapshotter *s, const char *key,
				 struct thinsnap_error *reterr);

THINSNAP_API int thinsnap_stat(struct thinsnap_snapshotter *s, const char *key,
			       struct thinsnap_info **ret, struct thinsnap_error *reterr);

/*
 * Updates the labels of info->name. fieldpaths: "labels" replaces all, "labels.<k>" sets or
 * (when info has no such label) removes one; none = replace all labels. Anything else: -EINVAL.
 * *ret (optional) receives the updated info.
 */
THINSNAP_API int thinsnap_update(struct thinsnap_snapshotter *s, const struct thinsnap_info *info,
				 const char *const *fieldpaths, size_t n_fieldpaths,
				 struct thinsnap_info **ret, struct thinsnap_error *reterr);

THINSNAP_API int thinsnap_usage(struct thinsnap_snapshotter *s, const char *key,
				struct thinsnap_usage *ret, struct thinsnap_error *reterr);

/* Usage that says what removing a snapshot gives back. */
struct thinsnap_usage_detail {
	int64_t size_bytes;      /* as thinsnap_usage(): what it maps beyond its parent */
	int64_t exclusive_bytes; /* pool blocks only it maps: what removing it frees */
	int64_t shared_bytes;    /* blocks it maps that its parent, children or siblings map too */
	int64_t inodes;
};

/*
 * thinsnap_usage() plus exclusive and shared bytes for n_keys keys, into ret[0..n_keys),
 * from one pool metadata snapshot read with `thin_ls` (cost: a walk of the pool's mappings,
 * so ask for many keys at once). One walk serves the handle's calls for up to a second while
 * no snapshot is created or deleted, or while it has every key asked for (the kernel commits
 * the metadata thin_ls reads about once a second anyway). -ENOENT if any key is absent; -EAGAIN if another reader holds the pool's
 * metadata snapshot; -ENOENT/-EIO if thin_ls is missing or fails.
 */
THINSNAP_API int thinsnap_usage_detail(struct thinsnap_snapshotter *s, const char *const *keys,
				       size_t n_keys, struct thinsnap_usage_detail *ret,
				       struct thinsnap_error *reterr);

/*
 * Calls fn for every snapshot matching the filters (containerd's filter syntax; several
 * filters are OR'ed; none matches all). info is borrowed for the call. fn may call
 * thinsnap_stat(); a negative return from fn stops the walk and is returned.
 */
typedef int (*thinsnap_walk_fn)(void *userdata, const struct thinsnap_info *info);
THINSNAP_API int thinsnap_walk(struct thinsnap_snapshotter *s, const char *const *filters,
			       size_t n_filters, thinsnap_walk_fn fn, void *userdata,
			       struct thinsnap_error *reterr);

/* Deletes devices whose removal is pending (busy at remove time, or async remove). */
THINSNAP_API int thinsnap_cleanup(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr);

/* What the next writer's open does with an unfinished operation (a crashed writer's). */
enum thinsnap_recovery {
	THINSNAP_RECOVERY_ROLL_BACK = 0, /* the pool never committed it: undone */
	THINSNAP_RECOVERY_ROLL_FORWARD,  /* committed by the pool, or a delete: completed */
	THINSNAP_RECOVERY_MISMATCH,      /* the pool's transaction id is neither side's: the
					  * open refuses (-EUCLEAN) */
};

/* An unfinished operation in the journal. */
struct thinsnap_check_intent {
	uint64_t id;           /* the operation's journal id */
	const char *operation; /* static: "prepare", "view", "commit", "remove", "cleanup",
				* "repair", "base" (formatting a base device) or "unknown" */
	char *key;             /* the snapshot it is about; NULL for cleanup, repair, base */
	uint32_t dev_id;       /* the thin id its pool step creates or deletes */
	enum thinsnap_recovery recovery;
};

/*
 * What check found: journal and pool agree when there is no leak, no dangling key and no
 * MISMATCH intent. A crashed writer's unfinished operations (a reader such as check does not
 * recover) are listed in intents: their thin ids are neither leaks nor dangling, since the
 * next writer's open rolls each back or forward.
 */
struct thinsnap_check_report {
	uint32_t *leaked_ids; /* thin ids in the pool that the journal does not know */
	size_t n_leaked;
	char **dangling_keys; /* keys whose thin id is missing from the pool */
	size_t n_dangling;
	size_t n_pending_deletes;              /* deletes waiting for cleanup (not an error) */
	size_t n_unfinished;                   /* unresolved intents (0 after a successful open) */
	struct thinsnap_check_intent *intents; /* n_unfinished of them */
	uint64_t transaction_id;               /* the pool's, when checked */
};

/* Frees a report returned by check or repair, and its arrays. NULL is fine. */
THINSNAP_API void thinsnap_check_report_free(struct thinsnap_check_report *r);

/* Compares the journal with the pool's own device list. */
THINSNAP_API int thinsnap_check(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
				struct thinsnap_error *reterr);

/*
 * Fixes what check reports: deletes leaked thin ids from the pool, removes dangling keys
 * (and their descendants) from the journal. *ret (optional) receives what was found.
 */
THINSNAP_API int thinsnap_repair(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
				 struct thinsnap_error *reterr);

/* How many snapshots of each kind the journal holds (for `pool status`). */
struct thinsnap_counts {
	size_t active;
	size_t views;
	size_t committed;
	size_t base_devices;    /* formatted base devices (one per fs configuration) */
	size_t pending_deletes; /* devices waiting for cleanup */
	uint64_t virtual_bytes; /* the sum of their thin devices' sizes (what they may fill) */
};

THINSNAP_API int thinsnap_counts(struct thinsnap_snapshotter *s, struct thinsnap_counts *ret,
				 struct thinsnap_error *reterr);

/* Declared in <thinsnap/pool.h>; include it to fill one. */
struct thinsnap_autogrow_policy;

/* The pool's space, after what thinsnap_autogrow() did. */
struct thinsnap_space_report {
	bool loop_backed; /* on loop files (LVM logical volumes grow too; plain devices only
			     take the size the operator grew them to) */
	bool grown;       /* data grew from old_data_bytes to total_data_bytes */
	bool capped;      /* at or above the threshold but at the cap or the filesystem's limit */
	uint64_t old_data_bytes;
	uint64_t used_data_bytes, total_data_bytes;
	uint64_t used_metadata_bytes, total_metadata_bytes;
	uint64_t low_water_blocks; /* the pool's low-water mark now (0: none) */
	int min_free_data_percent; /* the handle's space floors; 0 = none */
	int min_free_metadata_percent;
	bool data_capped, metadata_capped; /* which part made capped true */
};

/*
 * Auto-grow of a loop-file pool's data, as lvm's thin_pool_autoextend (thinsnapd's monitor).
 * Reads the pool's space and, with a policy on a loop-file pool whose data use reached
 * policy->threshold_percent, grows the data file (thinsnap_pool_autogrow_size(): steps of
 * grow_percent until below the threshold, capped) and reloads the pool; then sets the pool's
 * low-water mark to the threshold, so the kernel raises a dm event when it is reached again.
 * Serialised with every other pool change of the handle. policy NULL: report only. A writable
 * handle is needed when a policy is given (-EROFS); its version 0 or unknown: -EINVAL.
 */
THINSNAP_API int thinsnap_autogrow(struct thinsnap_snapshotter *s,
				   const struct thinsnap_autogrow_policy *policy,
				   struct thinsnap_space_report *ret,
				   struct thinsnap_error *reterr);

/*
 * Waits up to timeout_ms for a dm event on the pool (low water, out of data space, a mode
 * change, a reload) after *event_nr, the pool's event counter as last seen: 1 and *event_nr
 * updated, or 0 on timeout. Does not wait behind pool operations (one waiter at a time).
 */
THINSNAP_API int thinsnap_wait_pool_event(struct thinsnap_snapshotter *s, uint32_t *event_nr,
					  int timeout_ms, struct thinsnap_error *reterr);
/* Declared in <thinsnap/pool.h>; include it to read the result. */
struct thinsnap_pool_status;

/*
 * The status of the snapshotter's pool (mode, needs_check, data and metadata space), as
 * thinsnap_pool_status() reads it: one status ioctl on the readers' pool handle, no journal
 * lock, never behind a pool change (at most behind another reader's thin_ls); cheap enough
 * for a monitoring scrape.
 */
THINSNAP_API int thinsnap_status(struct thinsnap_snapshotter *s, struct thinsnap_pool_status *ret,
				 struct thinsnap_error *reterr);

/* Declared in <thinsnap/pool.h>; include it to read the result. */
struct thinsnap_pool_capacity;

/*
 * The capacity picture of the snapshotter's pool (thinsnap_pool_capacity(): room to grow,
 * what auto-grow added, as last recorded) on the readers' pool handle, never behind a pool
 * change. Runs `lvs` for an LVM-backed pool: a monitoring scrape should cache it.
 */
THINSNAP_API int thinsnap_capacity(struct thinsnap_snapshotter *s,
				   struct thinsnap_pool_capacity *ret,
				   struct thinsnap_error *reterr);

#ifdef __cplusplus
}
#endif

/*
 * A dm-thin pool and its thin devices: create (on two devices or on sparse loop files under a
 * state directory), open, destroy, grow; thin devices by 24-bit dev_id; the pool's
 * transaction id (compare-and-swap); status. One thread uses a struct thinsnap_pool at a time.
 *
 * Errors: functions return 0 or a negative errno and fill reterr (may be NULL). Common ones:
 * -EINVAL caller mistakes, -ERANGE dev_id > THINSNAP_POOL_DEV_ID_MAX, -ENOENT unknown pool or
 * dev_id, -EEXIST taken name or dev_id, -EBUSY in use, -ESTALE transaction id mismatch,
 * -EUCLEAN metadata that thin_check rejects, -ENXIO pool not active.
 * The pool's dm uuid is "THINSNAP-<pool uuid>-pool"; a thin device activated through this API
 * gets "THINSNAP-<pool uuid>-<dev_id>", which is how an active dev_id is found (a device made
 * by other tools without that uuid is not recognised). pool/ takes no lock on state_dir: the
 * writer that owns the state dir (snap/, the CLI) serialises access.
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

/* dev_id is 24 bits: 0 .. THINSNAP_POOL_DEV_ID_MAX. */
#define THINSNAP_POOL_DEV_ID_MAX  ((1u << 24) - 1)
/* Longest dm name of a pool or a thin device. */
#define THINSNAP_POOL_DM_NAME_MAX 127

struct thinsnap_pool;

/* What thinsnap_pool_create() is given; start from THINSNAP_POOL_CREATE_OPTS_INIT. */
struct thinsnap_pool_create_opts {
	unsigned int version;  /* THINSNAP_POOL_CREATE_OPTS_VERSION */
	const char *name;      /* dm name of the pool device (required) */
	const char *state_dir; /* holds "identity", and "data"/"metadata" loop files (required) */
	const char *data_dev;  /* both NULL: sparse loop files under state_dir */
	const char *metadata_dev;
	uint64_t data_size_bytes;     /* loop files: required; devices: 0 = the whole device */
	uint64_t metadata_size_bytes; /* loop files: 0 = 48 * data size / block size, >= 4 MiB */
	uint32_t data_block_sectors;  /* 0 = 128 (64 KiB); 128 .. 2097152, a multiple of 128 */
	uint64_t low_water_blocks;    /* 0 = no low-water event */
	bool force;                   /* overwrite devices that hold a filesystem/RAID/partitions */
	bool error_if_no_space;       /* else queue I/O when full */
	bool no_discard_passdown;
};

#define THINSNAP_POOL_CREATE_OPTS_VERSION 1
#define THINSNAP_POOL_CREATE_OPTS_INIT    THINSNAP_VERSIONED_INIT(THINSNAP_POOL_CREATE_OPTS_VERSION)

/*
 * Creates a pool and activates it; records its identity in <state_dir>/identity (with the
 * devices' dm uuids, when they are dm devices such as LVs). Devices holding a filesystem,
 * RAID member, LVM physical volume or partition table are refused (-EBUSY) unless force; a
 * device of a thin pool (LVM's "VG-pool-tpool", its _tdata/_tmeta) always (-EINVAL).
 * The metadata device's first 4 KiB are zeroed (a fresh pool). -EEXIST if the name is taken
 * or state_dir already records a pool. On success *ret_pool is owned by the caller.
 * opts->version 0 or unknown: -EINVAL before anything is touched.
 */
THINSNAP_API int thinsnap_pool_create(const struct thinsnap_pool_create_opts *opts,
				      struct thinsnap_pool **ret_pool,
				      struct thinsnap_error *reterr);

/*
 * Opens the pool recorded in <state_dir>/identity under name. If the pool is active, its live
 * table must match the identity (block size, data and metadata devices) else -EINVAL ("not
 * the recorded pool"). If it is not active (after a reboot), the loop files are re-attached,
 * `thin_check -q` checks the metadata (-EUCLEAN if it fails), and the pool is activated.
 * Recorded dm devices are found by their dm uuid when their path names another device or
 * none (kernel names differ after a reboot); a different device at the path with the
 * recorded one absent is refused (-EINVAL), a recorded device not present is -ENOENT.
 * -ENOENT if state_dir records no pool or another name.
 */
THINSNAP_API int thinsnap_pool_open(const char *name, const char *state_dir,
				    struct thinsnap_pool **ret_pool, struct thinsnap_error *reterr);

/* Whether state_dir records a pool (holds its identity), without opening it: 1 yes, 0 no, or
 * -errno when that cannot be told (-EACCES, ...). */
THINSNAP_API int thinsnap_pool_recorded(const char *state_dir);

/*
 * Repairs a pool the kernel flagged needs_check (or put in read-only or failed mode): removes
 * the pool device, runs `thin_check --clear-needs-check-flag` on its metadata (-EUCLEAN if
 * it finds errors: then only thin_repair onto a new metadata device helps, which this does
 * not do) and activates the pool again, read-write unless the kernel finds other trouble.
 * -EBUSY if thin devices of the pool are active (deactivate them first). The open path does
 * not clear the flag: a pool that needs a check comes up read-only until this runs.
 */
THINSNAP_API int thinsnap_pool_repair(struct thinsnap_pool *pool, struct thinsnap_error *reterr);

/* Closes the handle; the pool stays active. NULL is fine. */
THINSNAP_API void thinsnap_pool_free(struct thinsnap_pool *pool);

/*
 * Removes the pool device, detaches its loop devices, deletes the loop files and the identity,
 * and on success frees pool (on failure pool stays valid and still owned by the caller).
 * -EBUSY if thin devices of the pool are active. Device-backed pools keep their devices' data.
 */
THINSNAP_API int thinsnap_pool_destroy(struct thinsnap_pool *pool, struct thinsnap_error *reterr);

/* Borrowed strings, valid until free: the random pool uuid (32 hex chars) and the dm name. */
THINSNAP_API const char *thinsnap_pool_uuid(const struct thinsnap_pool *pool);
THINSNAP_API const char *thinsnap_pool_name(const struct thinsnap_pool *pool);
/* Data block size of the pool in 512-byte sectors. */
THINSNAP_API uint32_t thinsnap_pool_data_block_sectors(const struct thinsnap_pool *pool);

/*
 * Thin devices. dev_id > THINSNAP_POOL_DEV_ID_MAX gives -ERANGE. create_thin: -EEXIST if the
 * id is taken. create_snap: snapshot of origin_id; if the origin is active (under
 * origin_dm_name, or found by its dm uuid when NULL) it is suspended around the kernel message,
 * with everything that can fail done before the suspend and a resume on every path; -ENOENT if
 * origin_id does not exist, -EEXIST if dev_id does. delete_thin: -EBUSY if the device is
 * active, -ENOENT if dev_id does not exist.
 */
THINSNAP_API int thinsnap_pool_create_thin(struct thinsnap_pool *pool, uint32_t dev_id,
					   struct thinsnap_error *reterr);
THINSNAP_API int thinsnap_pool_create_snap(struct thinsnap_pool *pool, uint32_t dev_id,
					   uint32_t origin_id, const char *origin_dm_name,
					   struct thinsnap_error *reterr);
THINSNAP_API int thinsnap_pool_delete_thin(struct thinsnap_pool *pool, uint32_t dev_id,
					   struct thinsnap_error *reterr);

/*
 * Activates dev_id as /dev/mapper/<dm_name> of size_bytes (a multiple of 512), read-only if
 * asked (the dm read-only flag: writes fail with EROFS/EPERM). Idempotent: 0 if dm_name is
 * already active with the same table and read-only flag; -EEXIST if dm_name is something else;
 * -EBUSY if dev_id is already active under another name (one activation per dev_id);
 * -ENOENT if dev_id does not exist in the pool.
 */
THINSNAP_API int thinsnap_pool_activate_thin(struct thinsnap_pool *pool, uint32_t dev_id,
					     const char *dm_name, uint64_t size_bytes,
					     bool read_only, struct thinsnap_error *reterr);

/*
 * Grows the active, writable thin device dm_name of this pool to size_bytes (a multiple of
 * 512): its table is reloaded at the new length, then the device is suspended (I/O flushed)
 * and resumed. The filesystem on it is not touched. 0 if it already has that size; -EINVAL if
 * size_bytes is smaller than now (thin devices don't shrink here) or dm_name is not a thin
 * device of this pool; -ENXIO if dm_name is not active; -EROFS if it is read-only.
 */
THINSNAP_API int thinsnap_pool_resize_thin(struct thinsnap_pool *pool, const char *dm_name,
					   uint64_t size_bytes, struct thinsnap_error *reterr);

/*
 * Removes /dev/mapper/<dm_name> (a thin device of this pool), retrying about 1 s while busy:
 * -EBUSY if it stays open or mounted. An absent device is a no-op returning 0 (so that undo
 * paths can call it blindly); -EINVAL if dm_name is not a thin device of this pool.
 */
THINSNAP_API int thinsnap_pool_deactivate_thin(struct thinsnap_pool *pool, const char *dm_name,
					       struct thinsnap_error *reterr);

struct thinsnap_pool_thin_info {
	bool exists; /* the rest is zero when false */
	bool read_only;
	bool suspended;
	int32_t open_count;
	uint32_t dev_id;
	uint32_t major, minor;
	uint64_t size_bytes;
	uint64_t mapped_sectors;   /* allocated in the pool for this device */
	uint64_t mapped_end_bytes; /* end of its highest mapped sector; 0 when nothing is mapped */
};

/* Info on the active thin device dm_name; absent gives 0 and exists false. -EINVAL if it is
 * not a thin device of this pool. */
THINSNAP_API int thinsnap_pool_thin_info(struct thinsnap_pool *pool, const char *dm_name,
					 struct thinsnap_pool_thin_info *ret_info,
					 struct thinsnap_error *reterr);

/* The path of dm_name's device node, "/dev/mapper/<dm_name>", into buf; -ENAMETOOLONG. */
THINSNAP_API int thinsnap_pool_dev_path(const char *dm_name, char *buf, size_t size);

/* The pool's transaction id; set: kernel compare-and-swap, -ESTALE if old is not current
 * (nothing changes). */
THINSNAP_API int thinsnap_pool_transaction_id(struct thinsnap_pool *pool, uint64_t *ret_tid,
					      struct thinsnap_error *reterr);
THINSNAP_API int thinsnap_pool_set_transaction_id(struct thinsnap_pool *pool, uint64_t old_tid,
						  uint64_t new_tid, struct thinsnap_error *reterr);

enum thinsnap_pool_mode {
	THINSNAP_POOL_MODE_RW = 0,
	THINSNAP_POOL_MODE_RO,
	THINSNAP_POOL_MODE_OUT_OF_DATA_SPACE,
	THINSNAP_POOL_MODE_FAIL,
};

struct thinsnap_pool_status {
	enum thinsnap_pool_mode mode;
	bool needs_check;
	uint64_t transaction_id;
	uint32_t data_block_sectors;
	uint64_t used_data_blocks, total_data_blocks;
	uint64_t used_metadata_blocks, total_metadata_blocks; /* 4 KiB blocks */
	uint64_t used_data_bytes, total_data_bytes;
	uint64_t used_metadata_bytes, total_metadata_bytes;
};

THINSNAP_API int thinsnap_pool_status(struct thinsnap_pool *pool,
				      struct thinsnap_pool_status *ret_status,
				      struct thinsnap_error *reterr);
/*
 * As thinsnap_pool_status(), without the metadata commit the kernel makes before it reports a
 * pool's status (a superblock write and two flushes, even with nothing to commit): mode,
 * needs_check and transaction id are current, the block counts as of the pool's last commit
 * (every pool message commits, and the kernel commits every second while data changes).
 */
THINSNAP_API int thinsnap_pool_status_nocommit(struct thinsnap_pool *pool,
					       struct thinsnap_pool_status *ret_status,
					       struct thinsnap_error *reterr);
/* "rw", "ro", "out_of_data_space", "fail"; a static string. */
THINSNAP_API const char *thinsnap_pool_mode_name(enum thinsnap_pool_mode mode);

/*
 * Grows the pool's data to new_data_size_bytes and reloads the pool with the new length (the
 * table is loaded before a noflush suspend, so I/O in flight to thin devices waits and goes
 * on; nothing is lost). A loop-backed pool grows its data file and refreshes the loop device.
 * A device-backed pool does not touch its device: the operator grows it (lvextend, a grown
 * partition or LUN) and this takes its size: new_data_size_bytes 0 means the device's current
 * size; a larger size than the device holds is -ENOSPC (nothing changes). -EINVAL if the size
 * is smaller than now, or 0 on a loop-backed pool.
 */
THINSNAP_API int thinsnap_pool_grow(struct thinsnap_pool *pool, uint64_t new_data_size_bytes,
				    struct thinsnap_error *reterr);

/* Whether the pool is on loop files in its state directory. */
THINSNAP_API bool thinsnap_pool_loop_backed(const struct thinsnap_pool *pool);

/*
 * The largest data size a loop-backed pool's data file can reach on its filesystem: what the
 * file already allocates plus the filesystem's free space for unprivileged users (a sparse file
 * grown past that would fail writes, and the pool with them). -EOPNOTSUPP for device pools.
 */
THINSNAP_API int thinsnap_pool_grow_limit(struct thinsnap_pool *pool, uint64_t *ret_bytes,
					  struct thinsnap_error *reterr);

/*
 * Sets the pool's low-water mark (the table's <low water mark>: the kernel raises one dm
 * event when free data blocks fall to it, again only after the next resume); reloads the
 * table and suspends/resumes the pool (noflush) when it differs, and records it in the
 * identity. 0 = no low-water event. -EINVAL if it is not below the data block count.
 */
THINSNAP_API int thinsnap_pool_set_low_water(struct thinsnap_pool *pool, uint64_t low_water_blocks,
					     struct thinsnap_error *reterr);

/*
 * Waits up to timeout_ms for a dm event on the pool device (low water, out of space, mode
 * change, a resume) after *event_nr, the pool device's event counter as last seen: returns 1
 * and updates *event_nr if it moved (a first call with 0 returns at once), 0 on timeout.
 * -ENXIO if the pool is not active.
 */
THINSNAP_API int thinsnap_pool_wait_event(struct thinsnap_pool *pool, uint32_t *event_nr,
					  int timeout_ms, struct thinsnap_error *reterr);

/*
 * The auto-grow policy of a loop-file pool's data, as lvm's
 * thin_pool_autoextend_threshold/_percent plus a size cap: what thinsnap_autogrow() (a
 * snapshotter's pool) and thinsnap_pool_autogrow_size() follow. Start from
 * THINSNAP_AUTOGROW_POLICY_INIT (never grows).
 */
struct thinsnap_autogrow_policy {
	unsigned int version;         /* THINSNAP_AUTOGROW_POLICY_VERSION */
	unsigned threshold_percent;   /* grow once data used >= this percent; 0 or >= 100: never */
	unsigned grow_percent;        /* each step adds this percent of the data size; 0: never */
	uint64_t max_data_size_bytes; /* cap; 0 = none but the data file's filesystem's space */
	/* version 2: the metadata's cap (device-backed pools); 0 or above the kernel's limit
	 * (THINSNAP_POOL_METADATA_MAX_BYTES): that limit */
	uint64_t max_metadata_size_bytes;
};

#define THINSNAP_AUTOGROW_POLICY_VERSION 2
#define THINSNAP_AUTOGROW_POLICY_INIT    THINSNAP_VERSIONED_INIT(THINSNAP_AUTOGROW_POLICY_VERSION)

/* The most metadata the kernel uses (THIN_METADATA_MAX_SECTORS: about 15.9 GiB). */
#define THINSNAP_POOL_METADATA_MAX_BYTES (255ull * 16384 * 8 * 512)

enum thinsnap_pool_autogrow_verdict {
	THINSNAP_POOL_AUTOGROW_NONE = 0, /* off, or below the threshold */
	THINSNAP_POOL_AUTOGROW_GROW,     /* grow to *ret_new_size_bytes */
	THINSNAP_POOL_AUTOGROW_CAPPED,   /* at or above the threshold, but at the cap or limit */
};

/*
 * Pure arithmetic (no pool, no kernel): the data size auto-grow asks for. From size_bytes
 * (the data file's size), adds grow_percent of the size (at least one block) step by step
 * until used_bytes is below threshold_percent of the new size, then clamps to the cap and to
 * limit_bytes (thinsnap_pool_grow_limit(); 0 = none) and rounds down to whole blocks of
 * block_bytes. Returns a verdict; *ret_new_size_bytes is written only for GROW. -EINVAL if
 * block_bytes is 0 or the policy's version is 0 or unknown.
 */
THINSNAP_API int thinsnap_pool_autogrow_size(const struct thinsnap_autogrow_policy *policy,
					     uint64_t size_bytes, uint64_t used_bytes,
					     uint64_t block_bytes, uint64_t limit_bytes,
					     uint64_t *ret_new_size_bytes);

/*
 * The low-water mark (in data blocks) that makes the kernel raise its event when data use
 * reaches threshold_percent of total_blocks; 0 (none) when the threshold is 0 or >= 100.
 */
THINSNAP_API uint64_t thinsnap_pool_low_water_for(unsigned threshold_percent,
						  uint64_t total_blocks);

/*
 * The same for the metadata file or device (0 on a device-backed pool: the device's size):
 * the kernel resizes its metadata space on the resume, and a pool that ran out of metadata
 * space (read-only, without needs_check) returns to read-write. A pool flagged needs_check
 * does not grow its metadata until repaired (thinsnap_pool_repair).
 */
THINSNAP_API int thinsnap_pool_grow_metadata(struct thinsnap_pool *pool,
					     uint64_t new_metadata_size_bytes,
					     struct thinsnap_error *reterr);

/* How long the handle's last table reload kept the pool suspended (thin devices' I/O
 * paused), in nanoseconds; 0 before any. */
THINSNAP_API uint64_t thinsnap_pool_last_pause_ns(const struct thinsnap_pool *pool);

/* What thinsnap_pool_autogrow() did. */
struct thinsnap_pool_autogrow_result {
	bool data_grown, metadata_grown;
	bool data_capped, metadata_capped;   /* past the threshold, but nothing left to grow into */
	uint64_t old_data_bytes, data_bytes; /* the pool's sizes before and after */
	uint64_t old_metadata_bytes, metadata_bytes;
};

/*
 * One auto-grow step, as lvm's thin_pool_autoextend: when data use has reached
 * policy->threshold_percent, grows the data (thinsnap_pool_autogrow_size() steps, capped by
 * policy->max_data_size_bytes and by the room there is): a loop file up to its filesystem's
 * free space; an LVM logical volume with `lvextend` up to its volume group's free space; a
 * plain device up to its own size (grown by the operator). The metadata of a device-backed
 * pool likewise (same threshold and steps, up to policy->max_metadata_size_bytes and the
 * kernel's limit); a policy of version 1 caps the metadata at the kernel's limit only. The
 * amounts added are recorded (thinsnap_pool_capacity()). -EIO if lvextend fails.
 */
THINSNAP_API int thinsnap_pool_autogrow(struct thinsnap_pool *pool,
					const struct thinsnap_autogrow_policy *policy,
					struct thinsnap_pool_autogrow_result *ret,
					struct thinsnap_error *reterr);

/* The capacity picture for planning (thinsnap_pool_capacity()). */
struct thinsnap_pool_capacity {
	bool lvm;  /* both devices are LVM logical volumes */
	bool loop; /* loop files in the state directory */
	uint64_t data_device_bytes, metadata_device_bytes; /* the devices' (files') sizes */
	uint64_t data_room_bytes;     /* what the data can still grow by: the volume group's free
					 space, the loop file's filesystem's free space, or what
					 a plain device holds beyond the pool */
	uint64_t metadata_room_bytes; /* likewise (LVM: the same, shared, free space) */
	uint64_t autogrow_data_bytes, autogrow_metadata_bytes; /* added by auto-grow */
	char volume_group[128];                                /* "" unless lvm */
};

/* Fills *ret (runs `lvs` for an LVM-backed pool; the auto-grown bytes as the pool's identity
 * file records them, whichever handle grew it). -EIO if lvs fails. */
THINSNAP_API int thinsnap_pool_capacity(struct thinsnap_pool *pool,
					struct thinsnap_pool_capacity *ret,
					struct thinsnap_error *reterr);

/*
 * The dev_ids in the pool's metadata (a metadata snapshot read by `thin_dump -m`), sorted.
 * *ret_ids is an array of *ret_n (NULL when 0); free it with thinsnap_pool_thin_ids_free().
 */
THINSNAP_API int thinsnap_pool_list_thin_ids(struct thinsnap_pool *pool, uint32_t **ret_ids,
					     size_t *ret_n, struct thinsnap_error *reterr);
/* Frees what thinsnap_pool_list_thin_ids() returned. NULL is fine. */
THINSNAP_API void thinsnap_pool_thin_ids_free(uint32_t *ids);

/*
 * The names of the active dm devices whose name starts with "<pool name>-" (this pool's thin
 * devices), sorted by strcmp, from one list ioctl: cheaper than asking device by device.
 * *ret_names is an array of *ret_n strings (NULL when 0); free it with
 * thinsnap_pool_names_free().
 */
THINSNAP_API int thinsnap_pool_active_names(struct thinsnap_pool *pool, char ***ret_names,
					    size_t *ret_n, struct thinsnap_error *reterr);
/* Frees the n names and the array thinsnap_pool_active_names() returned. NULL is fine. */
THINSNAP_API void thinsnap_pool_names_free(char **names, size_t n);

/* What one thin device maps, from the pool's metadata. */
struct thinsnap_pool_thin_usage {
	uint32_t dev_id;
	uint64_t mapped_bytes;
	uint64_t exclusive_bytes; /* blocks no other device maps: freed by deleting it */
	uint64_t shared_bytes;    /* blocks other devices (origins, snapshots) map too */
};

/*
 * Every thin device's usage, from a metadata snapshot (reserve_metadata_snap) read by
 * `thin_ls -m`, sorted by dev_id; *ret_usage is an array of *ret_n (NULL when 0): free it with
 * thinsnap_pool_thin_usage_free(). A metadata snapshot held by someone else for over a
 * second: -EAGAIN. thin_ls missing: -ENOENT; failing: -EIO.
 */
THINSNAP_API int thinsnap_pool_thin_usage(struct thinsnap_pool *pool,
					  struct thinsnap_pool_thin_usage **ret_usage,
					  size_t *ret_n, struct thinsnap_error *reterr);
/* Frees what thinsnap_pool_thin_usage() returned. NULL is fine. */
THINSNAP_API void thinsnap_pool_thin_usage_free(struct thinsnap_pool_thin_usage *usage);

#ifdef __cplusplus
}
#endif

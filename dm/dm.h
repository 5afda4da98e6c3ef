/*
 * dm/: the only code that talks to libdevmapper. Intents on device-mapper devices (create,
 * reload, suspend, resume, remove, info, table, status, message, list, wait) and pure parsers
 * for the thin-pool and thin status lines. Internal contract with pool/; not public.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <thinsnap/error.h>

/* Longest dm name and uuid (without the NUL), as the kernel's DM_NAME_LEN/DM_UUID_LEN - 1. */
#define THINSNAP_DM_NAME_MAX 127
#define THINSNAP_DM_UUID_MAX 128

/*
 * Sets up the libdm glue once per process (later calls are no-ops): a log callback that keeps
 * the last libdm error line for messages (libdm prints nothing), a mutex that serialises every
 * libdm call made through dm/, udev synchronisation only when udev runs (/run/udev/control
 * exists; otherwise libdm makes and removes /dev/mapper nodes itself), and close-on-exec on the
 * control fd. Every thinsnap_dm_* calls it; calling it first is optional. Returns 0 or -errno
 * (-ENODEV: no device-mapper in this kernel).
 */
int thinsnap_dm_init(struct thinsnap_error *reterr);

/* Whether udev synchronisation is in use (after thinsnap_dm_init()). */
bool thinsnap_dm_udev_sync(void);

struct thinsnap_dm_info {
	bool exists;
	bool suspended;
	bool read_only;
	bool live_table;
	int32_t open_count;
	uint32_t major;
	uint32_t minor;
	uint32_t event_nr;
	char uuid[THINSNAP_DM_UUID_MAX + 1]; /* "" if none */
};

/* A one-target table: "0 <length_sectors> <target> <params>". */
struct thinsnap_dm_table {
	uint64_t length_sectors;
	const char *target; /* "thin-pool", "thin", ... */
	const char *params;
};

/*
 * Creates and resumes device name (uuid may be NULL) with table, read-only if asked; makes
 * /dev/mapper/<name>. -EBUSY (the kernel's errno) when name or uuid is taken, or a table
 * device is claimed by another holder; on failure nothing is left behind.
 */
int thinsnap_dm_create(const char *name, const char *uuid, const struct thinsnap_dm_table *table,
		       bool read_only, struct thinsnap_dm_info *ret_info,
		       struct thinsnap_error *reterr);

/* Loads table as name's inactive table (a resume makes it live). -ENXIO if name is absent. */
int thinsnap_dm_reload(const char *name, const struct thinsnap_dm_table *table,
		       struct thinsnap_error *reterr);

/* Suspends name; noflush keeps queued I/O (thin-pool reloads), else I/O is flushed. */
int thinsnap_dm_suspend(const char *name, bool noflush, struct thinsnap_error *reterr);

/* Resumes name (activating an inactive table if one is loaded). */
int thinsnap_dm_resume(const char *name, struct thinsnap_error *reterr);

/*
 * Removes name, retrying a bounded number of times (about 1 s) while it is busy: -EBUSY if it
 * stays open. deferred: if open, the kernel removes it on last close (returns 0). -ENXIO if
 * absent.
 */
int thinsnap_dm_remove(const char *name, bool deferred, struct thinsnap_error *reterr);

/*
 * Removes the device whose dm uuid is uuid, and its /dev/mapper node, retrying while busy as
 * thinsnap_dm_remove() does: one ioctl, and only that device (a name can be taken by anyone,
 * a uuid says whose the device is). -ENXIO if absent.
 */
int thinsnap_dm_remove_by_uuid(const char *uuid, struct thinsnap_error *reterr);

/* Info on name; an absent device gives 0 with ret_info->exists false. */
int thinsnap_dm_info(const char *name, struct thinsnap_dm_info *ret_info,
		     struct thinsnap_error *reterr);

/*
 * Info on the device with dm uuid; absent gives 0 with exists false. If present and ret_name is
 * not NULL, *ret_name is its malloc'd name.
 */
int thinsnap_dm_info_by_uuid(const char *uuid, struct thinsnap_dm_info *ret_info, char **ret_name,
			     struct thinsnap_error *reterr);

/*
 * The live table (status false) or status (true) of a one-target device name: *ret_target and
 * *ret_params are malloc'd, *ret_length_sectors its length. -ENXIO if absent, -ENODATA if it has
 * no (or more than one) target. Any ret_ may be NULL.
 */
int thinsnap_dm_table(const char *name, bool status, uint64_t *ret_length_sectors,
		      char **ret_target, char **ret_params, struct thinsnap_error *reterr);

/*
 * The status, as thinsnap_dm_table(name, true, ...), read with the no-flush flag: a thin-pool
 * then reports without committing its metadata first (else every status read writes the
 * pool's superblock and flushes).
 */
int thinsnap_dm_status_noflush(const char *name, char **ret_target, char **ret_params,
			       struct thinsnap_error *reterr);

/* Sends message to sector 0 of name; *ret_response (may be NULL) is a malloc'd response or NULL. */
int thinsnap_dm_message(const char *name, const char *message, char **ret_response,
			struct thinsnap_error *reterr);

/* All dm device names: *ret_names is a malloc'd NULL-terminated array (free with the below). */
int thinsnap_dm_list(char ***ret_names, size_t *ret_n, struct thinsnap_error *reterr);
void thinsnap_dm_list_free(char **names);

/*
 * Waits until name's event number differs from event_nr or timeout_ms passes (-ETIMEDOUT);
 * *ret_event_nr is the new one. Sleeps in poll() on a control fd armed with DM_DEV_ARM_POLL
 * (woken by any dm device's event, then re-checks name's), or where the kernel refuses that,
 * re-reads the event number every 10 ms. Never a blocking DM_DEV_WAIT, which could hang.
 */
int thinsnap_dm_wait_event(const char *name, uint32_t event_nr, int timeout_ms,
			   uint32_t *ret_event_nr, struct thinsnap_error *reterr);

/*
 * dm/ internal (event.c): an O_CLOEXEC fd on /dev/mapper/control armed for poll() (POLLIN
 * once any dm event follows the arming), or -errno; re-arm after each wake-up.
 */
int thinsnap_dm_event_fd_open(void);
int thinsnap_dm_event_fd_arm(int fd);

/* --- status lines (pure functions: no libdm, no kernel) --- */

enum thinsnap_dm_pool_mode {
	THINSNAP_DM_POOL_RW = 0,
	THINSNAP_DM_POOL_RO,
	THINSNAP_DM_POOL_OUT_OF_DATA_SPACE,
	THINSNAP_DM_POOL_FAIL, /* "Fail" or "Error": nothing else is known */
};

struct thinsnap_dm_pool_status {
	enum thinsnap_dm_pool_mode mode;
	uint64_t transaction_id;
	uint64_t used_metadata_blocks; /* metadata blocks are 4 KiB */
	uint64_t total_metadata_blocks;
	uint64_t used_data_blocks; /* data blocks are data_block_sectors long */
	uint64_t total_data_blocks;
	bool has_held_root;
	uint64_t held_metadata_root;
	bool discard_passdown;
	bool discard_ignored;    /* "ignore_discard" */
	bool discard_nopassdown; /* "no_discard_passdown" */
	bool error_if_no_space;  /* else queue_if_no_space */
	bool needs_check;
	bool has_metadata_low_watermark; /* absent on old kernels */
	uint64_t metadata_low_watermark;
};

/*
 * Parses a thin-pool status (the params after "thin-pool"; a leading "<start> <len> thin-pool"
 * is accepted too). Returns 0, or -EINVAL for anything it does not understand (no partial
 * result: *ret is written only on success).
 */
int thinsnap_dm_parse_pool_status(const char *line, struct thinsnap_dm_pool_status *ret);

struct thinsnap_dm_thin_status {
	bool fail;
	uint64_t mapped_sectors;
	bool has_highest_mapped;
	uint64_t highest_mapped_sector;
};

/* Parses a thin status ("<mapped sectors> <highest mapped sector>|-" or "Fail"); -EINVAL else. */
int thinsnap_dm_parse_thin_status(const char *line, struct thinsnap_dm_thin_status *ret);

/*
 * Parses a thin-pool table's params: "<meta maj:min> <data maj:min> <block sectors> <low water>
 * <n> <features...>". -EINVAL if malformed.
 */
struct thinsnap_dm_pool_table {
	uint32_t metadata_major, metadata_minor;
	uint32_t data_major, data_minor;
	uint32_t data_block_sectors;
	uint64_t low_water_blocks;
};
int thinsnap_dm_parse_pool_table(const char *params, struct thinsnap_dm_pool_table *ret);

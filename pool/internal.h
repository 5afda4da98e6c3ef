/*
 * pool/'s private header: the pool handle (struct thinsnap_pool) and what the files of pool/
 * share. The handle's life is in create.c, the identity file in identity.c, thin devices in
 * thin.c, status in space.c, growth in grow.c, the metadata-snapshot tools in metadata-snap.c.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <thinsnap/pool.h>

#include "base/cleanup.h"
#include "dm/dm.h"

#define IDENTITY_FILE      "identity"
#define DATA_FILE          "data"
#define METADATA_FILE      "metadata"
#define METASNAP_LOCK_FILE "metadata-snap.lock"
#define UUID_PREFIX        "THINSNAP-"

struct thinsnap_pool {
	char *name;
	char *state_dir;
	char uuid[33];
	char dm_uuid[64];     /* THINSNAP-<uuid>-pool */
	char thin_prefix[64]; /* THINSNAP-<uuid>- */
	bool loop;
	char *data_dev; /* device paths (device-backed) */
	char *metadata_dev;
	uint32_t data_block_sectors;
	uint64_t low_water_blocks;
	uint64_t data_size_bytes;
	uint64_t metadata_size_bytes;
	bool error_if_no_space;
	bool no_discard_passdown;
	dev_t data_rdev, metadata_rdev, pool_rdev;
	/* device-backed: the devices' dm uuids when they are dm devices ("" if not) */
	char data_dm_uuid[THINSNAP_DM_UUID_MAX + 1];
	char metadata_dm_uuid[THINSNAP_DM_UUID_MAX + 1];
	uint64_t autogrow_data_bytes; /* what auto-grow added since create */
	uint64_t autogrow_metadata_bytes;
	uint64_t last_pause_ns; /* how long the last table reload kept the pool suspended */
};

DEFINE_CLEANUP(struct thinsnap_pool *, thinsnap_pool_free)

static inline void set_uuids(struct thinsnap_pool *pool)
{
	(void)snprintf(pool->dm_uuid, sizeof(pool->dm_uuid), UUID_PREFIX "%s-pool", pool->uuid);
	(void)snprintf(pool->thin_prefix, sizeof(pool->thin_prefix), UUID_PREFIX "%s-", pool->uuid);
}

static inline int path_in(const struct thinsnap_pool *pool, const char *file, char *buf,
			  size_t size)
{
	if (snprintf(buf, size, "%s/%s", pool->state_dir, file) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static inline uint64_t pool_length_sectors(const struct thinsnap_pool *pool)
{
	uint64_t s = pool->data_size_bytes / 512;
	return s - s % pool->data_block_sectors;
}

static inline int pool_message(struct thinsnap_pool *pool, const char *msg,
			       struct thinsnap_error *reterr)
{
	return thinsnap_dm_message(pool->name, msg, NULL, reterr);
}

/* identity.c: writes <state_dir>/identity from *pool (atomically). */
int thinsnap_pool_write_identity(const struct thinsnap_pool *pool, struct thinsnap_error *reterr);

/* identity.c: a new handle from <state_dir>/identity (-ENOENT without one, -EUCLEAN if bad). */
int thinsnap_pool_read_identity(const char *state_dir, struct thinsnap_pool **ret,
				struct thinsnap_error *reterr);

/* create.c: the pool's one-target table from *pool, its params in buf. */
int thinsnap_pool_table(const struct thinsnap_pool *pool, char *buf, size_t size,
			struct thinsnap_dm_table *ret, struct thinsnap_error *reterr);

/*
 * create.c: checks the live pool device is the recorded pool (block size, its devices) and
 * refreshes pool->data_rdev and pool->metadata_rdev.
 */
int thinsnap_pool_check_live_table(struct thinsnap_pool *pool, struct thinsnap_error *reterr);

/*
 * metadata-snap.c: runs thin_check on meta_path; clear_needs_check: and clear the
 * superblock's needs_check flag if the metadata is sound. -EUCLEAN if it found errors.
 */
int thinsnap_pool_run_thin_check(const char *pool_name, const char *meta_path,
				 bool clear_needs_check, struct thinsnap_error *reterr);

/* grow.c: the size of the block device or file at path; -errno. */
int thinsnap_pool_device_size(const char *path, uint64_t *ret_bytes);

/* grow.c: grows data or metadata; size 0 on a device-backed pool: the device's own size. */
int thinsnap_pool_grow_part(struct thinsnap_pool *pool, bool metadata, uint64_t new_size_bytes,
			    struct thinsnap_error *reterr);

/* lvm.c: an LVM logical volume, from `lvs`. */
struct thinsnap_pool_lv {
	char vg[128], lv[128];
	char segtype[32];
	uint64_t size_bytes, vg_free_bytes, extent_bytes;
};

/* lvm.c: the dm uuid (or dm name) of block device rdev from sysfs; "" when it is not a dm
 * device. -errno only when sysfs cannot be read. */
int thinsnap_pool_dm_uuid_of(dev_t rdev, char *buf, size_t size);
int thinsnap_pool_dm_name_of(dev_t rdev, char *buf, size_t size);

/* lvm.c: whether dm_uuid is LVM's ("LVM-..."). */
bool thinsnap_pool_lvm_uuid(const char *dm_uuid);

/* lvm.c: for a device of an LVM thin pool (its uuid ends -tpool, -pool, -tdata or -tmeta),
 * that part's name ("tpool"); NULL for anything else. */
const char *thinsnap_pool_lvm_thin_pool_part(const char *dm_uuid);

/* lvm.c: the line for device rdev in `lvs --noheadings --nosuffix --units b --separator '|'
 * -o vg_name,lv_name,lv_kernel_major,lv_kernel_minor,lv_size,vg_free,vg_extent_size,segtype`
 * output (out is cut up): 1 and *ret, 0 when no line has rdev, -EIO for a malformed line. */
int thinsnap_pool_lvm_parse(char *out, dev_t rdev, struct thinsnap_pool_lv *ret);

/* lvm.c: 1 and *ret when rdev is an LVM logical volume lvs lists, 0 when it is not one;
 * -errno (-EIO: lvs failed) else. */
int thinsnap_pool_lvm_find(dev_t rdev, struct thinsnap_pool_lv *ret, struct thinsnap_error *reterr);

/* lvm.c: `lvextend -l` lv to new_size_bytes rounded down to whole extents (above its size). */
int thinsnap_pool_lvm_extend(const struct thinsnap_pool_lv *lv, uint64_t new_size_bytes,
			     struct thinsnap_error *reterr);

/* identity.c: for a device-backed pool, finds the recorded devices again by their dm uuid
 * (after a reboot the kernel names may differ) and refuses a device that is not the recorded
 * one; sets pool->data_dev/metadata_dev to the paths found. */
int thinsnap_pool_resolve_devices(struct thinsnap_pool *pool, struct thinsnap_error *reterr);

/* metadata-snap.c: the metadata device's path, for the tools that read the pool's metadata. */
int thinsnap_pool_metadata_path(struct thinsnap_pool *pool, char *buf, size_t size,
				struct thinsnap_error *reterr);
/*
 * metadata-snap.c: runs argv (a tool reading the metadata device with -m) with the pool's one
 * metadata snapshot reserved, taking turns with other users; its stdout into *ret_out.
 */
int thinsnap_pool_run_on_metadata_snap(struct thinsnap_pool *pool, char *const argv[],
				       char **ret_out, struct thinsnap_error *reterr);

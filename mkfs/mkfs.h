/*
 * mkfs/: filesystems on thin devices (libext2fs) and probing what a device holds (libblkid).
 * The only folder that includes ext2fs and blkid headers.
 */
#pragma once

#include <thinsnap/error.h>

/*
 * Probes dev for a filesystem, RAID member or partition table. On success *ret_fstype is a
 * malloc'd type name ("ext4", "linux_raid_member", "partition table (gpt)"), or NULL for a
 * blank device. -EIO if dev cannot be probed, -EBUSY if the signatures are ambiguous.
 */
int thinsnap_mkfs_probe(const char *dev, char **ret_fstype, struct thinsnap_error *reterr);

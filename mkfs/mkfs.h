/*
 * mkfs/: formats the base thin device in-process with libext2fs (no mke2fs process) and
 * checks what a device holds with libblkid. The only folder that includes ext2fs or blkid.
 * The base device of a pool must be a perfect empty filesystem: ext4 with a journal, root
 * 0755 owned 0:0, no lost+found, because every parentless snapshot is a thin snapshot of it.
 */
#pragma once

#include <stdint.h>

#include <thinsnap/error.h>

struct thinsnap_mkfs_opts {
	/* "ext4" (NULL means "ext4"), "ext3", "ext2", or "xfs" (formatted by the mkfs.xfs
	 * binary, fs_options passed to it as arguments); anything else is -EINVAL. */
	const char *fs_type;
	/*
	 * mkfs.ext4-style arguments split on whitespace, like containerd devmapper's fs_options;
	 * NULL or "" for none. Understood: -E key[=val][,...] (lazy_itable_init, lazy_journal_init,
	 * discard, nodiscard, stride, stripe_width/stripe-width), -O feat,^feat (or "none"),
	 * -b BLOCKSIZE, -i BYTES_PER_INODE, -I INODE_SIZE, -N INODES, -m PERCENT, -L LABEL,
	 * -J size=MB, -j, -T USAGE (floppy, small, default, big, huge), -q and -F (no effect).
	 * Anything else is -EINVAL with a message naming it, before the device is opened.
	 */
	const char *fs_options;
	/* Volume label, at most 16 bytes; NULL keeps -L from fs_options (or no label). */
	const char *label;
};

/*
 * Writes a new, empty filesystem on dev_path (a block device or a regular file) covering its
 * first size_bytes (0: the whole device). Root is 0755 owned 0:0 and there is no lost+found.
 * o may be NULL (ext4, defaults). The device is opened O_EXCL: -EBUSY while it is mounted.
 * The device must read as zeros where nothing was written (a new thin device or sparse file):
 * the blocks are discarded first (unless -E nodiscard), and then inode tables and the journal are
 * marked initialised without being written, so formatting a large thin device provisions little.
 * Pass -E lazy_itable_init=0,lazy_journal_init=0 to write them out on a device that isn't zero.
 * Errors: -EINVAL bad options or fs_type, size too small; -EBUSY device in use (opened with
 * O_EXCL); -ENOENT no such device; -EIO (with libext2fs' message) and other -errno otherwise.
 */
int thinsnap_mkfs_format(const char *dev_path, uint64_t size_bytes,
			 const struct thinsnap_mkfs_opts *o, struct thinsnap_error *reterr);

/*
 * Probes dev for a filesystem, RAID member or partition table. On success *ret_fstype is a
 * malloc'd type name ("ext4", "linux_raid_member", "partition table (gpt)"), or NULL for a
 * blank device. -EIO if dev cannot be probed, -EBUSY if the signatures are ambiguous.
 */
int thinsnap_mkfs_probe(const char *dev, char **ret_fstype, struct thinsnap_error *reterr);

/*
 * Checks with libblkid that dev holds a filesystem of type want_fstype ("ext4"): 0 if so;
 * -EUCLEAN if it holds something else (the message names it) or nothing at all; -EBUSY if
 * the probe is ambiguous; -EINVAL if want_fstype is NULL or empty; -EIO if it can't be read.
 */
int thinsnap_mkfs_verify(const char *dev, const char *want_fstype, struct thinsnap_error *reterr);

/*
 * Inodes in use in the ext2/3/4 or xfs filesystem on dev, from its superblock (while mounted,
 * as of the filesystem's last superblock write; xfs with lazy counters: its last unmount).
 * -EUCLEAN if dev holds neither superblock.
 */
int thinsnap_mkfs_inodes_used(const char *dev, uint64_t *ret_inodes, struct thinsnap_error *reterr);

/* The size of the ext2/3/4 or xfs filesystem on dev (its block count times its block size),
 * from its superblock. -EUCLEAN if dev holds neither superblock. */
int thinsnap_mkfs_fs_size(const char *dev, uint64_t *ret_bytes, struct thinsnap_error *reterr);

/*
 * Grows the filesystem on dev (already grown) to size_bytes, rounded down to its block size,
 * online: dev is mounted on a new directory under scratch_dir (which should be private, e.g.
 * the state directory), then ext2/3/4 get EXT4_IOC_RESIZE_FS, xfs runs `xfs_growfs -d` (to the
 * whole device), and it is unmounted. dev may be mounted elsewhere meanwhile. Growing to the
 * current size is a no-op. Errors: -EOPNOTSUPP for other fs types; -EINVAL if size_bytes is below the filesystem's
 * size (the kernel's answer); mount errors (-EBUSY, -EINVAL for no filesystem); -errno.
 */
int thinsnap_mkfs_grow(const char *dev, const char *fs_type, uint64_t size_bytes,
		       const char *scratch_dir, struct thinsnap_error *reterr);

/*
 * Formats dev as xfs with xfsprogs' mkfs.xfs (-q -f, then fs_options split on whitespace as
 * its arguments; no shell). -ENOENT if mkfs.xfs is missing; -EIO with its last stderr line.
 */
int thinsnap_mkfs_format_xfs(const char *dev, const char *fs_options,
			     struct thinsnap_error *reterr);

/* Runs `xfs_growfs -d mount_dir` (internal to mkfs/). */
int thinsnap_mkfs_grow_xfs(const char *mount_dir, struct thinsnap_error *reterr);

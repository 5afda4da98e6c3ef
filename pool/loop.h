/*
 * Loop devices for loop-file-backed pools (pool/ internal): attach a file with autoclear,
 * find a loop device's node and backing file, refresh its capacity.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/*
 * Attaches file to a free loop device with LO_FLAGS_AUTOCLEAR (it detaches on last close, so
 * keep *ret_fd open until dm holds the device). *ret_fd is an O_CLOEXEC fd on the loop
 * device, *ret_rdev its device number. Returns 0 or -errno.
 */
int thinsnap_pool_loop_attach(const char *file, int *ret_fd, dev_t *ret_rdev);

/* The node path ("/dev/loop3") of block device rdev into buf (made if missing); -errno. */
int thinsnap_pool_blockdev_path(dev_t rdev, char *buf, size_t size);

/* Whether block device rdev is a loop device backed by file (same inode). */
int thinsnap_pool_loop_backs(dev_t rdev, const char *file);

/* LOOP_SET_CAPACITY on rdev: the loop device takes its file's new size. */
int thinsnap_pool_loop_refresh(dev_t rdev);

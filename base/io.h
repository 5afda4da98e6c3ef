/*
 * An optional I/O hook for code whose durability is tested by simulating crashes and
 * ENOSPC/EIO (tests/lib/crashio.c): writes and syncs go through it when it is set, else
 * through the plain syscalls. Each member returns >= 0 (pwrite: bytes written) or -errno.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct thinsnap_io {
	ssize_t (*pwrite)(void *userdata, int fd, const void *buf, size_t len, off_t off);
	/* datasync: fdatasync(fd) when true, fsync(fd) when false (files and directories) */
	int (*sync)(void *userdata, int fd, bool datasync);
	void *userdata;
};

/* One pwrite through io (NULL io or NULL member = pwrite(2)): bytes written or -errno. */
ssize_t thinsnap_io_pwrite(const struct thinsnap_io *io, int fd, const void *buf, size_t len,
			   off_t off);
/* fdatasync (datasync) or fsync through io (NULL io or NULL member = the syscall). -errno. */
int thinsnap_io_sync(const struct thinsnap_io *io, int fd, bool datasync);
/* Writes all len bytes at off, looping over short writes and EINTR; a write of 0 is -EIO. */
int thinsnap_io_pwrite_all(const struct thinsnap_io *io, int fd, const void *buf, size_t len,
			   uint64_t off);

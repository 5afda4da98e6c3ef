/*
 * Whole-file writes: write(2) until done, mkdir -p, and the atomic replace of a small file
 * (temp file, fsync, rename, fsync the directory) that the state files are written with.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/io.h"

/* write(2) of all len bytes, looping over short writes and EINTR. -errno. */
int thinsnap_write_all(int fd, const void *buf, size_t len);

/*
 * mkdir -p: creates path and its missing parents with mode; an existing entry is accepted
 * (the caller's open reports one that is not a directory). -EINVAL for an empty path, -ENOMEM,
 * or mkdir's -errno.
 */
int thinsnap_mkdir_p(const char *path, mode_t mode);

/*
 * Whether dir/name exists (any kind of entry): 1 yes, 0 no, or -errno when that cannot be told
 * (-EACCES, ...; -EINVAL for an empty dir or name, -ENOMEM).
 */
int thinsnap_file_exists(const char *dir, const char *name);

struct thinsnap_file_replace_opts {
	mode_t mode;                     /* 0 = 0600 */
	const struct thinsnap_io *io;    /* NULL = syscalls; the data write and both syncs */
	const char *tmp_name;            /* NULL = ".<name>.tmp"; the caller's lock makes it safe */
	const char *fault_before_rename; /* a THINSNAP_FAULT point after the fsync, or NULL */
	/*
	 * Optional: set to true once the rename is done, also when the directory fsync after it
	 * fails (then the new file may or may not survive a crash; both names are gone but one).
	 */
	bool *ret_renamed;
};

/*
 * Replaces dirfd/name with len bytes of buf: writes them to the temp name (O_NOFOLLOW,
 * truncated), fsyncs it, renames it over name (the commit point) and fsyncs dirfd. On
 * failure before the rename the temp file is removed and name is untouched. opts NULL =
 * defaults. ret_fd (optional): on success the new file, still open O_RDWR (its offset at 0);
 * NULL closes it before the rename. -ENAMETOOLONG for a temp name over 255 bytes, else -errno.
 */
int thinsnap_file_replace(int dirfd, const char *name, const void *buf, size_t len,
			  const struct thinsnap_file_replace_opts *opts, int *ret_fd);

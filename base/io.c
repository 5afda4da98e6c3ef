/*
 * The I/O hook of base/io.h: each call goes to the hook's member when there is one, else to
 * the syscall, so crash tests see every write and sync of the code under test.
 */
#include "base/io.h"

#include <errno.h>
#include <unistd.h>

ssize_t thinsnap_io_pwrite(const struct thinsnap_io *io, int fd, const void *buf, size_t len,
			   off_t off)
{
	ssize_t n;

	if (io && io->pwrite)
		return io->pwrite(io->userdata, fd, buf, len, off);
	n = pwrite(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

int thinsnap_io_sync(const struct thinsnap_io *io, int fd, bool datasync)
{
	if (io && io->sync)
		return io->sync(io->userdata, fd, datasync);
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		return -errno;
	return 0;
}

int thinsnap_io_pwrite_all(const struct thinsnap_io *io, int fd, const void *buf, size_t len,
			   uint64_t off)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = thinsnap_io_pwrite(io, fd, p, len, (off_t)off);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/*
 * Waiting for dm events without libdm: a private fd on /dev/mapper/control armed with
 * DM_DEV_ARM_POLL polls readable once any dm device raised an event after the arming (the
 * kernel keeps one global event counter per open control file). Kept apart from dm.c because
 * <linux/dm-ioctl.h> and <libdevmapper.h> don't share a translation unit well.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dm/dm.h"

int thinsnap_dm_event_fd_open(void)
{
	int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (thinsnap_dm_event_fd_arm(fd) < 0) {
		int r = -errno;
		(void)close(fd);
		return r < 0 ? r : -EIO;
	}
	return fd;
}

int thinsnap_dm_event_fd_arm(int fd)
{
	struct dm_ioctl io;

	memset(&io, 0, sizeof(io));
	io.version[0] = DM_VERSION_MAJOR; /* the kernel accepts any minor up to its own */
	io.data_size = sizeof(io);
	io.data_start = sizeof(io);
	return ioctl(fd, DM_DEV_ARM_POLL, &io) < 0 ? -errno : 0;
}

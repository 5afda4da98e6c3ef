/*
 * unpack/: the private mount namespace that thinsnap_unpack() mounts in, so that its mounts
 * are never seen by other processes and vanish with the process when it is killed. The
 * library makes it itself rather than trusting its caller to have done so.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>

#include "unpack/unpack.h"

int thinsnap_unpack_private_mounts(struct thinsnap_error *reterr)
{
	/* a copy of the caller's mounts for this thread alone (CLONE_NEWNS implies CLONE_FS);
	 * done on every call: idempotent, cheap, and no state to keep */
	if (unshare(CLONE_NEWNS) < 0)
		return thinsnap_error_setf(reterr, -errno,
					   "unpack needs a private mount namespace for its mounts: "
					   "unshare(CLONE_NEWNS): %s",
					   strerror(errno));
	/* the copies are still peers of the caller's mounts where those are shared (systemd
	 * makes / shared): without this, a mount below them would propagate back */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return thinsnap_error_setf(reterr, -errno,
					   "unpack needs a private mount namespace for its mounts: "
					   "making '/' private (MS_REC|MS_PRIVATE): %s",
					   strerror(errno));
	return 0;
}

/*
 * meta/: the journal's sync that runs while the caller works (an intent's, while the pool
 * commits: snap/transaction.c): Linux AIO's IOCB_CMD_FDSYNC of the file whose turn it is, its
 * completion read from the ring the kernel shares with the process when it is there, without
 * a system call; where AIO is missing (or with test I/O hooks) the wait syncs.
 */
#include <errno.h>
#include <linux/aio_abi.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/io.h"
#include "meta/internal.h"

void thinsnap_meta_sync_start(struct thinsnap_meta *m)
{
	struct iocb cb = { .aio_lio_opcode = IOCB_CMD_FDSYNC };
	struct iocb *cbs[1] = { &cb };

	m->sync_inflight = false;
	if (m->io || m->failed || m->aio_unsupported)
		return; /* test I/O hooks, or no AIO: thinsnap_meta_sync_wait() syncs */
	if (!m->aio && syscall(SYS_io_setup, 1, &m->aio) < 0) {
		m->aio = 0;
		m->aio_unsupported = true;
		return;
	}
	if (thinsnap_meta_copy_turn(m) && thinsnap_meta_copy_catch_up(m) < 0)
		return; /* thinsnap_meta_sync_wait() tries again and fails the handle */
	cb.aio_fildes = (uint32_t)thinsnap_meta_turn_fd(m);
	if (syscall(SYS_io_submit, m->aio, 1, cbs) == 1)
		m->sync_inflight = true;
	else if (errno == EINVAL) /* a kernel without asynchronous fsync (before 4.18) */
		m->aio_unsupported = true;
}

/*
 * The AIO completion ring the kernel shares with the process at the context's address
 * (fs/aio.c "struct aio_ring"): a completion already there, as it mostly is once the pool has
 * committed, is taken without a system call (libaio and fio read it so too).
 */
struct aio_ring_view {
	unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length;
	struct io_event events[];
};
#define AIO_RING_MAGIC 0xa10a10a1u

static bool reap_from_ring(unsigned long ctx, struct io_event *ret)
{
	struct aio_ring_view *ring = (struct aio_ring_view *)ctx;
	unsigned head, tail;

	if (ring->magic != AIO_RING_MAGIC || ring->incompat_features != 0 || ring->nr == 0)
		return false;
	head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
	tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
	if (head == tail || head >= ring->nr)
		return false;
	*ret = ring->events[head];
	__atomic_store_n(&ring->head, (head + 1) % ring->nr, __ATOMIC_RELEASE);
	return true;
}

static int aio_wait(struct thinsnap_meta *m)
{
	struct io_event ev;
	long n = 1;

	if (!reap_from_ring(m->aio, &ev))
		do
			n = syscall(SYS_io_getevents, m->aio, 1, 1, &ev, NULL);
		while (n < 0 && errno == EINTR);
	return n == 1 ? (int)ev.res : n < 0 ? -errno : -EIO;
}

int thinsnap_meta_sync_wait(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	int r;

	if (m->sync_inflight) {
		r = aio_wait(m);
		m->sync_inflight = false;
		if (r == 0)
			m->sync_copy = !m->sync_copy; /* as thinsnap_meta_sync_turn() does */
	} else {
		if ((r = thinsnap_meta_check_writable(m, reterr)) < 0)
			return r;
		r = thinsnap_meta_sync_turn(m);
	}
	if (r < 0) {
		m->failed = r;
		return thinsnap_error_setf(reterr, r, "syncing the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	}
	m->unsynced = false;
	return 0;
}

void thinsnap_meta_sync_release(struct thinsnap_meta *m)
{
	if (m->sync_inflight)
		(void)thinsnap_meta_sync_wait(m, NULL);
	if (m->aio)
		(void)syscall(SYS_io_destroy, m->aio);
	m->aio = 0;
}

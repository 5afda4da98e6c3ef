/*
 * meta/: the journal's durability. Every mutation (an op group, an intent and its end) is
 * validated in memory first (meta/apply.c), encoded as one record, written with one pwrite
 * at the known end (over zeros written ahead of it) and fdatasync'd, and only then committed
 * in memory. Compaction writes the
 * whole state as a new generation (header + checkpoint records, a new salt) and renames it
 * over the journal; a new journal is the same with no records.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/aio_abi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "base/fileio.h"
#include "meta/internal.h"

/* ---- appending ---- */

static int check_writable(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	if (!m)
		return thinsnap_error_setf(reterr, -EINVAL, "no journal");
	if (m->read_only)
		return thinsnap_error_setf(reterr, -EROFS, "journal in '%s' is open read-only",
					   m->state_dir);
	if (m->failed)
		return thinsnap_error_setf(reterr, -EIO,
					   "journal in '%s' failed earlier (%s); reopen it",
					   m->state_dir, strerror(-m->failed));
	return 0;
}

/* the file whose turn it is to be synced: the journal, then its copy, ... */
static int turn_fd(const struct thinsnap_meta *m)
{
	return m->sync_copy && m->fd2 >= 0 ? m->fd2 : m->fd;
}

int thinsnap_meta_copy_catch_up(struct thinsnap_meta *m)
{
	int r;

	if (m->fd2 < 0 || m->copy_pend.len == 0)
		return 0;
	r = thinsnap_io_pwrite_all(m->io, m->fd2, m->copy_pend.p, m->copy_pend.len, m->copy_at);
	if (r == 0)
		m->copy_pend.len = 0;
	return r;
}

/* whether the copy's turn to be synced comes next */
static bool copy_turn(const struct thinsnap_meta *m)
{
	return m->sync_copy && m->fd2 >= 0;
}

int thinsnap_meta_sync_turn(struct thinsnap_meta *m)
{
	int r = copy_turn(m) ? thinsnap_meta_copy_catch_up(m) : 0;

	if (r == 0)
		r = thinsnap_io_sync(m->io, turn_fd(m), true);
	if (r == 0)
		m->sync_copy = !m->sync_copy;
	return r;
}

/*
 * Appends the record in m->wbuf: one pwrite at the known end of the journal, then one
 * fdatasync (unless lazy: then the record is durable with the next synced append, or at
 * free). The copy gets the records it lacks in one pwrite when its turn to be synced comes:
 * the two take turns, and the one synced now also makes the records before, written to it
 * unsynced, durable, so every record but the newest is durable in both.
 */
static int append_record(struct thinsnap_meta *m, bool lazy, struct thinsnap_error *reterr)
{
	int r;

	r = THINSNAP_FAULT("meta.append.before_write");
	if (r == 0)
		r = thinsnap_io_pwrite_all(m->io, m->fd, m->wbuf.p, m->wbuf.len, m->end);
	if (r == 0 && m->fd2 >= 0) {
		if (m->copy_pend.len == 0)
			m->copy_at = m->end;
		r = thinsnap_buf_append(&m->copy_pend, m->wbuf.p, m->wbuf.len);
	}
	if (r == 0)
		r = THINSNAP_FAULT("meta.append.before_sync");
	if (r == 0 && !lazy)
		r = thinsnap_meta_sync_turn(m);
	if (r == 0)
		m->unsynced = lazy;
	if (r < 0) {
		m->failed = r;
		return thinsnap_error_setf(reterr, r, "appending to the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	}
	(void)THINSNAP_FAULT("meta.append.after_sync");
	m->end += m->wbuf.len;
	m->next_seq++;
	return 0;
}

/*
 * Seals the record begun at start in m->wbuf, its payload encoded with result r (< 0: out of
 * memory); what names it in the error for a payload over REC_PAYLOAD_MAX.
 */
static int end_record(struct thinsnap_meta *m, size_t start, int r, enum rec_type type,
		      const char *what, struct thinsnap_error *reterr)
{
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	if (m->wbuf.len - REC_HEADER_SIZE > REC_PAYLOAD_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "%s larger than %u bytes", what,
					   REC_PAYLOAD_MAX);
	thinsnap_meta_fmt_rec_end(&m->wbuf, start, type, m->next_seq, m->hdr.salt);
	return 0;
}

/*
 * Incompatible features the ops need: the first SIZE_SET (UID_SET) sets its header bit through
 * a checkpoint (the header is only ever replaced whole), before the op is written.
 */
static uint32_t missing_features(const struct thinsnap_meta *m, const struct thinsnap_meta_op *ops,
				 size_t n)
{
	uint32_t need = 0;

	for (size_t i = 0; i < n && ops; i++) {
		if (ops[i].type == THINSNAP_META_OP_SIZE_SET)
			need |= JNL_INCOMPAT_SIZE_SET;
		else if (ops[i].type == THINSNAP_META_OP_UID_SET)
			need |= JNL_INCOMPAT_UID;
	}
	return need & ~m->hdr.incompat;
}

static bool lacks_features(const struct thinsnap_meta *m, const struct thinsnap_meta_op *ops,
			   size_t n)
{
	return missing_features(m, ops, n) != 0;
}

static int require_features(struct thinsnap_meta *m, const struct thinsnap_meta_op *ops, size_t n,
			    struct thinsnap_error *reterr)
{
	uint32_t need = missing_features(m, ops, n);
	int r;

	if (!need)
		return 0;
	m->hdr.incompat |= need;
	r = thinsnap_meta_compact(m, reterr);
	if (r < 0)
		m->hdr.incompat &= ~need;
	return r;
}

void thinsnap_meta_maybe_compact(struct thinsnap_meta *m)
{
	if (m->compact_threshold != UINT64_MAX &&
	    m->end - m->hdr.checkpoint_end > m->compact_threshold)
		(void)thinsnap_meta_compact(m, NULL); /* failure leaves the old generation */
}

uint64_t thinsnap_meta_prealloc_target(uint64_t end)
{
	return (end + 2 * PREALLOC_MARGIN + PREALLOC_STEP - 1) / PREALLOC_STEP * PREALLOC_STEP;
}

void thinsnap_meta_prealloc(struct thinsnap_meta *m)
{
	int fds[2] = { m->fd, m->fd2 };
	uint64_t from = m->alloc_end > m->end ? m->alloc_end : m->end, target;
	uint8_t *zeros;
	int r = 0;

	if (m->read_only || m->failed || m->fd < 0 || m->alloc_end >= m->end + PREALLOC_MARGIN)
		return;
	target = thinsnap_meta_prealloc_target(m->end);
	zeros = calloc(1, (size_t)(target - from));
	if (!zeros)
		return;
	r = THINSNAP_FAULT("meta.prealloc.before_write");
	if (r == 0)
		r = thinsnap_meta_copy_catch_up(m); /* then both are synced below */
	for (int i = 0; i < 2 && r == 0; i++)
		if (fds[i] >= 0)
			r = thinsnap_io_pwrite_all(m->io, fds[i], zeros, (size_t)(target - from),
						   from);
	free(zeros);
	if (r < 0)
		return; /* no room: appends grow the files, and the next one tries again */
	for (int i = 0; i < 2 && r == 0; i++)
		if (fds[i] >= 0)
			r = thinsnap_io_sync(m->io, fds[i], true);
	if (r < 0) {
		m->failed = r; /* the records' pages may be lost with it: never trust a retry */
		return;
	}
	m->alloc_end = target;
	m->unsynced = false; /* both files are durable now */
}

/* After an append: a checkpoint when due, zeros ahead when they run short. */
static void after_append(struct thinsnap_meta *m)
{
	thinsnap_meta_maybe_compact(m);
	thinsnap_meta_prealloc(m);
}

/* Appends the record in m->wbuf, then keeps the in-memory changes made for it (the undo log),
 * or rolls them back when the append fails. */
static int append_commit(struct thinsnap_meta *m, bool lazy, struct thinsnap_error *reterr)
{
	int r = append_record(m, lazy, reterr);

	if (r < 0) {
		thinsnap_meta_undo_rollback(&m->ix);
		return r;
	}
	thinsnap_meta_undo_commit(&m->ix);
	after_append(m);
	return 0;
}

int thinsnap_meta_apply(struct thinsnap_meta *m, const struct thinsnap_meta_op *ops, size_t n,
			struct thinsnap_error *reterr)
{
	size_t start = 0;
	int r;

	if ((r = check_writable(m, reterr)) < 0)
		return r;
	r = thinsnap_meta_ops_apply(&m->ix, ops, n,
				    reterr); /* validates: nothing encoded from bad input */
	if (r < 0)
		return r;
	if (lacks_features(m, ops, n)) {
		thinsnap_meta_undo_rollback(&m->ix); /* the checkpoint must not hold the ops yet */
		r = require_features(m, ops, n, reterr);
		if (r < 0)
			return r;
		r = thinsnap_meta_ops_apply(&m->ix, ops, n, reterr);
		if (r < 0)
			return r;
	}
	m->wbuf.len = 0;
	r = thinsnap_meta_fmt_rec_begin(&m->wbuf, &start);
	if (r == 0)
		r = thinsnap_meta_fmt_put_ops(&m->wbuf, ops, n);
	r = end_record(m, start, r, REC_GROUP, "operation group", reterr);
	if (r < 0) {
		thinsnap_meta_undo_rollback(&m->ix);
		return r;
	}
	return append_commit(m, false, reterr);
}

/* ---- intents ---- */

/* Encodes an intent payload into b (after the record header). */
static int put_intent(struct thinsnap_buf *b, uint64_t id, uint64_t before, uint64_t after,
		      const struct thinsnap_meta_pool_op *p, size_t n_pool, const uint8_t *ops,
		      size_t ops_len)
{
	int r = thinsnap_meta_fmt_put_u64(b, id);

	if (r == 0)
		r = thinsnap_meta_fmt_put_u64(b, before);
	if (r == 0)
		r = thinsnap_meta_fmt_put_u64(b, after);
	if (r == 0)
		r = thinsnap_meta_fmt_put_u32(b, (uint32_t)n_pool);
	for (size_t i = 0; r == 0 && i < n_pool; i++) {
		r = thinsnap_meta_fmt_put_u8(b, (uint8_t)p[i].type);
		if (r == 0)
			r = thinsnap_meta_fmt_put_u32(b, p[i].dev_id);
		if (r == 0)
			r = thinsnap_meta_fmt_put_u32(b, p[i].type == THINSNAP_META_POOL_CREATE_SNAP
								 ? p[i].origin_id
								 : 0);
	}
	if (r == 0)
		r = thinsnap_buf_append(b, ops, ops_len);
	return r;
}

static int intent_begin(struct thinsnap_meta *m, const struct thinsnap_meta_intent *src, bool lazy,
			uint64_t *ret_intent_id, struct thinsnap_error *reterr)
{
	CLEANUP_FREE struct intent *in = NULL;
	struct thinsnap_buf ops = { 0 };
	size_t start = 0;
	uint64_t id;
	int r;

	if (!m || !src)
		return thinsnap_error_setf(reterr, -EINVAL, "no journal or intent");
	if ((r = check_writable(m, reterr)) < 0 ||
	    (r = thinsnap_meta_pool_ops_check(src, reterr)) < 0)
		return r;
	r = thinsnap_meta_ops_apply(&m->ix, src->ops, src->n_ops, reterr); /* a dry run */
	if (r < 0)
		return r;
	thinsnap_meta_undo_rollback(&m->ix);
	r = require_features(m, src->ops, src->n_ops, reterr);
	if (r < 0)
		return r;
	id = m->next_seq;
	r = thinsnap_meta_fmt_put_ops(&ops, src->ops, src->n_ops);
	if (r == 0)
		r = thinsnap_meta_intent_new(src, id, ops.p, ops.len, src->ops, src->n_ops, &in);
	thinsnap_buf_free(&ops);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	for (size_t i = 0; i < in->n_touched; i++) {
		const struct intent *o = thinsnap_meta_intent_touching(&m->ix, in->touched[i]);
		if (o)
			return thinsnap_error_setf(reterr, -EBUSY,
						   "dev_id %" PRIu32
						   " is touched by unfinished intent %" PRIu64,
						   in->touched[i], o->id);
	}
	m->wbuf.len = 0;
	r = thinsnap_meta_fmt_rec_begin(&m->wbuf, &start);
	if (r == 0)
		r = put_intent(&m->wbuf, id, in->tid_before, in->tid_after, in->pool_ops,
			       in->n_pool, in->ops, in->ops_len);
	r = end_record(m, start, r, REC_INTENT, "intent", reterr);
	if (r == 0)
		r = append_record(m, lazy, reterr);
	if (r < 0)
		return r;
	thinsnap_meta_intent_link(&m->ix, TAKE_PTR(in));
	*ret_intent_id = id;
	after_append(m);
	return 0;
}

int thinsnap_meta_intent_begin(struct thinsnap_meta *m, const struct thinsnap_meta_intent *src,
			       uint64_t *ret_intent_id, struct thinsnap_error *reterr)
{
	return intent_begin(m, src, false, ret_intent_id, reterr);
}

int thinsnap_meta_intent_begin_unsynced(struct thinsnap_meta *m,
					const struct thinsnap_meta_intent *src,
					uint64_t *ret_intent_id, struct thinsnap_error *reterr)
{
	return intent_begin(m, src, true, ret_intent_id, reterr);
}

/* ---- a sync that runs while the caller works: Linux AIO's IOCB_CMD_FDSYNC ---- */

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
	if (copy_turn(m) && thinsnap_meta_copy_catch_up(m) < 0)
		return; /* thinsnap_meta_sync_wait() tries again and fails the handle */
	cb.aio_fildes = (uint32_t)turn_fd(m);
	if (syscall(SYS_io_submit, m->aio, 1, cbs) == 1)
		m->sync_inflight = true;
	else if (errno == EINVAL) /* a kernel without asynchronous fsync (before 4.18) */
		m->aio_unsupported = true;
}

/*
 * The completion ring the kernel shares with the process at the AIO context's address (fs/aio.c
 * "struct aio_ring"): when the completion is there already, as it mostly is once the pool has
 * committed, it is taken without a system call (libaio and fio read it so too).
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

int thinsnap_meta_sync_wait(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	struct io_event ev;
	long n = 1;
	int r;

	if (m->sync_inflight) {
		if (!reap_from_ring(m->aio, &ev))
			do
				n = syscall(SYS_io_getevents, m->aio, 1, 1, &ev, NULL);
			while (n < 0 && errno == EINTR);
		m->sync_inflight = false;
		r = n == 1 ? (int)ev.res : n < 0 ? -errno : -EIO;
		if (r == 0)
			m->sync_copy = !m->sync_copy; /* as thinsnap_meta_sync_turn() does */
	} else {
		if ((r = check_writable(m, reterr)) < 0)
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

static int intent_finish(struct thinsnap_meta *m, uint64_t intent_id, bool completed, bool lazy,
			 struct thinsnap_error *reterr)
{
	struct intent *in;
	size_t start = 0;
	int r;

	if ((r = check_writable(m, reterr)) < 0)
		return r;
	in = thinsnap_meta_intent_find(&m->ix, intent_id);
	if (!in)
		return thinsnap_error_setf(reterr, -ENOENT, "no unfinished intent %" PRIu64,
					   intent_id);
	m->wbuf.len = 0;
	r = thinsnap_meta_fmt_rec_begin(&m->wbuf, &start);
	if (r == 0)
		r = thinsnap_meta_fmt_put_u64(&m->wbuf, intent_id);
	if (r == 0)
		r = thinsnap_meta_fmt_put_u8(&m->wbuf, completed ? 1 : 0);
	r = end_record(m, start, r, REC_INTENT_END, "intent end", reterr);
	if (r < 0)
		return r;
	r = thinsnap_meta_intent_resolve(&m->ix, &m->scratch, in, completed, reterr);
	if (r < 0)
		return r;
	return append_commit(m, lazy, reterr);
}

int thinsnap_meta_intent_finish(struct thinsnap_meta *m, uint64_t intent_id, bool completed,
				struct thinsnap_error *reterr)
{
	return intent_finish(m, intent_id, completed, false, reterr);
}

int thinsnap_meta_intent_finish_lazy(struct thinsnap_meta *m, uint64_t intent_id, bool completed,
				     struct thinsnap_error *reterr)
{
	return intent_finish(m, intent_id, completed, true, reterr);
}

/* ---- new generations: checkpoint, compaction, a new journal ---- */

static int64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int random_salt(uint64_t *ret)
{
	uint64_t s = 0;
	ssize_t n;

	do
		n = getrandom(&s, sizeof(s), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(s))
		return n < 0 ? -errno : -EIO;
	*ret = s;
	return 0;
}

/*
 * Writes a whole new journal file: temp name, fsync, rename over JOURNAL_NAME, fsync the
 * directory. On success *ret_fd is the new file, open read-write. *ret_renamed is set once
 * the rename is done, also when the directory fsync after it fails.
 */
static int replace_one(struct thinsnap_meta *m, const char *name, const char *tmp,
		       const uint8_t *buf, size_t len, int *ret_fd, bool *ret_renamed)
{
	return thinsnap_file_replace(m->dirfd, name, buf, len,
				     &(struct thinsnap_file_replace_opts){
					     .io = m->io,
					     .tmp_name = tmp,
					     .fault_before_rename = "meta.compact.before_rename",
					     .ret_renamed = ret_renamed,
				     },
				     ret_fd);
}

/*
 * With a copy, the copy is replaced first, then the journal: a crash in between leaves two
 * generations that hold the same state (open takes the newer, or the older if the newer
 * does not read). *ret_renamed: a rename was done (the files may now differ). On success
 * *ret_fd2 is the new copy (or -EBADF without one).
 */
static int replace_journal(struct thinsnap_meta *m, const uint8_t *buf, size_t len, int *ret_fd,
			   int *ret_fd2, bool *ret_renamed)
{
	int fd2 = -EBADF, r;

	*ret_fd2 = -EBADF;
	if (m->redundant) {
		r = replace_one(m, COPY_NAME, COPY_TMP, buf, len, &fd2, ret_renamed);
		if (r < 0)
			return r;
	}
	r = replace_one(m, JOURNAL_NAME, JOURNAL_TMP, buf, len, ret_fd, ret_renamed);
	if (r < 0) {
		if (fd2 >= 0)
			(void)close(fd2);
		if (m->redundant)
			*ret_renamed = true;
		return r;
	}
	*ret_fd2 = fd2;
	return 0;
}

static int emit_entry(struct thinsnap_buf *b, uint64_t *seq, uint64_t salt, const struct entry *e)
{
	struct thinsnap_meta_op o[2] = {
		{
			.type = THINSNAP_META_OP_SNAP_CREATE,
			.key = e->pub.key,
			.parent = e->pub.parent,
			.kind = e->pub.kind,
			.dev_id = e->pub.dev_id,
			.size_bytes = e->pub.size_bytes,
			.fs_type = e->pub.fs_type,
			.labels = e->pub.labels,
			.n_labels = e->pub.n_labels,
			.created_ns = e->pub.created_ns,
			.updated_ns = e->pub.updated_ns,
			.usage_bytes = e->pub.usage_bytes,
			.usage_inodes = e->pub.usage_inodes,
		},
		{ .type = THINSNAP_META_OP_UID_SET, .key = e->pub.key, .uid = e->pub.uid }
	};
	size_t start = 0;
	int r = thinsnap_meta_fmt_rec_begin(b, &start);

	if (r == 0) /* with its unique id in the same group, if it has one */
		r = thinsnap_meta_fmt_put_ops(b, o, thinsnap_meta_uid_is_null(e->pub.uid) ? 1 : 2);
	if (r == 0)
		thinsnap_meta_fmt_rec_end(b, start, REC_GROUP, (*seq)++, salt);
	return r;
}

/* Checkpoint records of the ids in a bitmap: groups of up to 4096 ops of one type. */
struct emit_ids {
	struct thinsnap_buf *b;
	uint64_t *seq;
	uint64_t salt;
	enum thinsnap_meta_op_type type;
	size_t start, count_at;
	uint32_t count;
};

static void emit_ids_end(struct emit_ids *c)
{
	put_le32(c->b->p + c->count_at, c->count);
	thinsnap_meta_fmt_rec_end(c->b, c->start, REC_GROUP, (*c->seq)++, c->salt);
	c->count = 0;
}

static int emit_id(uint32_t id, void *userdata)
{
	struct emit_ids *c = userdata;
	int r;

	if (c->count == 0) {
		if ((r = thinsnap_meta_fmt_rec_begin(c->b, &c->start)) < 0 ||
		    (r = thinsnap_meta_fmt_put_u32(c->b, 0)) < 0)
			return r;
		c->count_at = c->b->len - 4;
	}
	if ((r = thinsnap_meta_fmt_put_u8(c->b, (uint8_t)c->type)) < 0 ||
	    (r = thinsnap_meta_fmt_put_u32(c->b, id)) < 0)
		return r;
	if (++c->count == 4096)
		emit_ids_end(c);
	return 0;
}

static int emit_ids(struct thinsnap_meta *m, struct thinsnap_buf *b, uint64_t *seq, uint64_t salt,
		    int map, enum thinsnap_meta_op_type type)
{
	struct emit_ids c = { .b = b, .seq = seq, .salt = salt, .type = type };
	int r = thinsnap_meta_map_each(&m->ix, map, emit_id, &c);

	if (r < 0)
		return r;
	if (c.count)
		emit_ids_end(&c);
	return 0;
}

/* The whole state as a new journal generation: header + checkpoint records. */
static int build_checkpoint(struct thinsnap_meta *m, struct thinsnap_buf *b, struct jnl_header *h)
{
	uint64_t seq;
	size_t start = 0;
	int r;

	*h = m->hdr;
	h->generation++;
	h->first_seq = m->next_seq;
	h->created_ns = now_ns();
	r = random_salt(&h->salt);
	if (r < 0)
		return r;
	seq = h->first_seq;
	if ((r = thinsnap_buf_reserve(b, JNL_HEADER_SIZE)) < 0)
		return r;
	b->len = JNL_HEADER_SIZE;
	/* entries parent first: a pre-order walk from every root */
	for (size_t i = 0; i < m->ix.n_slots; i++) {
		struct entry *root = m->ix.slots[i], *e;
		if (!root || root->parent)
			continue;
		e = root;
		for (;;) {
			if ((r = emit_entry(b, &seq, h->salt, e)) < 0)
				return r;
			if (e->first_child) {
				e = e->first_child;
				continue;
			}
			while (e != root && !e->next_sib)
				e = e->parent;
			if (e == root)
				break;
			e = e->next_sib;
		}
	}
	if ((r = emit_ids(m, b, &seq, h->salt, MAP_RESERVED, THINSNAP_META_OP_ID_ALLOC)) < 0 ||
	    (r = emit_ids(m, b, &seq, h->salt, MAP_PENDING, THINSNAP_META_OP_DELETE_PENDING_ADD)) <
		    0)
		return r;
	for (struct intent *in = m->ix.intents_head; in; in = in->next) {
		if ((r = thinsnap_meta_fmt_rec_begin(b, &start)) < 0 ||
		    (r = put_intent(b, in->id, in->tid_before, in->tid_after, in->pool_ops,
				    in->n_pool, in->ops, in->ops_len)) < 0)
			return r;
		thinsnap_meta_fmt_rec_end(b, start, REC_INTENT, seq++, h->salt);
	}
	h->checkpoint_end = b->len;
	thinsnap_meta_fmt_header_encode(h, b->p);
	m->next_seq = seq; /* restored by the caller on failure */
	return 0;
}

/* Appends the zeros the new file keeps ahead of its end: written with it, no extra sync. */
static int pad_zeros(struct thinsnap_buf *b)
{
	return thinsnap_meta_fmt_put_zeros(
		b, (size_t)(thinsnap_meta_prealloc_target(b->len) - b->len));
}

int thinsnap_meta_compact(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	struct thinsnap_buf b = { 0 };
	struct jnl_header h;
	uint64_t old_seq;
	int fd = -EBADF, fd2 = -EBADF, r;
	bool renamed = false;

	if ((r = check_writable(m, reterr)) < 0)
		return r;
	old_seq = m->next_seq;
	r = build_checkpoint(m, &b, &h);
	if (r == 0)
		r = pad_zeros(&b);
	if (r < 0) {
		m->next_seq = old_seq;
		thinsnap_buf_free(&b);
		return thinsnap_error_setf(reterr, r, "checkpointing the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	}
	r = replace_journal(m, b.p, b.len, &fd, &fd2, &renamed);
	if (r < 0) {
		thinsnap_buf_free(&b);
		m->next_seq = old_seq;
		/* unknown whether the rename is durable: both files hold the same state, but
		 * appends must not go to a file that may vanish */
		if (renamed)
			m->failed = r;
		return thinsnap_error_setf(reterr, r, "checkpointing the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	}
	(void)close(m->fd);
	if (m->fd2 >= 0)
		(void)close(m->fd2);
	m->fd = fd;
	m->fd2 = fd2;
	m->sync_copy = false;
	m->unsynced = false;
	m->copy_pend.len = 0; /* the new generation holds every record */
	m->hdr = h;
	m->end = h.checkpoint_end;
	m->alloc_end = b.len;
	thinsnap_buf_free(&b);
	(void)THINSNAP_FAULT("meta.compact.after_rename");
	return 0;
}

int thinsnap_meta_journal_create(struct thinsnap_meta *m, const char *pool_uuid,
				 struct thinsnap_error *reterr)
{
	struct thinsnap_buf b = { 0 };
	bool renamed = false;
	int r;

	m->hdr = (struct jnl_header){
		.version = JNL_VERSION,
		.first_seq = 1,
		.generation = 1,
		.checkpoint_end = JNL_HEADER_SIZE,
		.created_ns = now_ns(),
	};
	if (pool_uuid)
		strcpy(m->hdr.pool_id, pool_uuid);
	r = random_salt(&m->hdr.salt);
	if (r == 0)
		r = thinsnap_buf_reserve(&b, JNL_HEADER_SIZE);
	if (r == 0) {
		thinsnap_meta_fmt_header_encode(&m->hdr, b.p);
		b.len = JNL_HEADER_SIZE;
		r = pad_zeros(&b);
	}
	if (r == 0)
		r = replace_journal(m, b.p, b.len, &m->fd, &m->fd2, &renamed);
	m->alloc_end = b.len;
	thinsnap_buf_free(&b);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "creating the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	m->end = JNL_HEADER_SIZE;
	m->next_seq = 1;
	return 0;
}

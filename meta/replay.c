/*
 * meta/: opening the journal: the state directory, the writer lock, then replay: records are
 * read through a window and applied while their crc, seq and salt check; a torn tail is cut
 * off (writer) or ignored (reader), damage before it is -EUCLEAN, or with salvage the file is
 * kept aside and the valid prefix checkpointed into a new generation. Also free.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "meta/internal.h"

/* ---- records ---- */

static int replay_record(struct thinsnap_meta *m, const struct rec_view *v,
			 struct thinsnap_error *reterr)
{
	struct rd rd = { .p = v->payload, .len = v->len };
	const struct thinsnap_meta_op *ops = NULL;
	size_t n = 0;
	int r;

	switch (v->type) {
	case REC_GROUP:
		r = thinsnap_meta_fmt_get_ops(&rd, &m->scratch, &ops, &n);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "malformed group");
		if (rd.pos != rd.len)
			return thinsnap_error_setf(reterr, -EBADMSG, "trailing bytes");
		return thinsnap_meta_ops_apply(&m->ix, ops, n, reterr);
	case REC_INTENT: {
		struct thinsnap_meta_pool_op pool[1024];
		struct thinsnap_meta_intent src = { 0 };
		struct intent *in = NULL;
		uint64_t id = thinsnap_meta_fmt_get_u64(&rd);
		size_t ops_at;
		uint32_t np;

		src.transaction_id_before = thinsnap_meta_fmt_get_u64(&rd);
		src.transaction_id_after = thinsnap_meta_fmt_get_u64(&rd);
		np = thinsnap_meta_fmt_get_u32(&rd);
		if (rd.bad || np > ELEMENTSOF(pool))
			return thinsnap_error_setf(reterr, -EBADMSG, "malformed intent");
		for (uint32_t i = 0; i < np; i++) {
			pool[i].type = thinsnap_meta_fmt_get_u8(&rd);
			pool[i].dev_id = thinsnap_meta_fmt_get_u32(&rd);
			pool[i].origin_id = thinsnap_meta_fmt_get_u32(&rd);
		}
		src.pool_ops = pool;
		src.n_pool_ops = np;
		if (rd.bad || thinsnap_meta_pool_ops_check(&src, reterr) < 0)
			return thinsnap_error_setf(reterr, -EBADMSG, "malformed intent");
		ops_at = rd.pos;
		r = thinsnap_meta_fmt_get_ops(&rd, &m->scratch, &ops, &n);
		if (r < 0 || rd.pos != rd.len)
			return thinsnap_error_setf(reterr, r == -ENOMEM ? r : -EBADMSG,
						   "malformed intent ops");
		if (thinsnap_meta_intent_find(&m->ix, id))
			return thinsnap_error_setf(reterr, -EBADMSG, "duplicate intent %" PRIu64,
						   id);
		r = thinsnap_meta_intent_new(&src, id, v->payload + ops_at, v->len - ops_at, ops, n,
					     &in);
		if (r == 0)
			r = thinsnap_meta_undo_reserve(&m->ix, 1);
		if (r < 0) {
			free(in);
			return thinsnap_error_setf(reterr, r, "out of memory");
		}
		thinsnap_meta_intent_link(&m->ix, in);
		thinsnap_meta_undo_push(&m->ix, (struct undo){ .type = U_INTENT_ADD, .in = in });
		return 0;
	}
	case REC_INTENT_END: {
		uint64_t id = thinsnap_meta_fmt_get_u64(&rd);
		uint8_t done = thinsnap_meta_fmt_get_u8(&rd);
		struct intent *in;

		if (rd.bad || rd.pos != rd.len || done > 1)
			return thinsnap_error_setf(reterr, -EBADMSG, "malformed intent end");
		in = thinsnap_meta_intent_find(&m->ix, id);
		if (!in)
			return thinsnap_error_setf(reterr, -EBADMSG,
						   "end of unknown intent %" PRIu64, id);
		return thinsnap_meta_intent_resolve(&m->ix, &m->scratch, in, done, reterr);
	}
	}
	return thinsnap_error_setf(reterr, -EBADMSG, "unknown record type %u", v->type);
}

/* ---- reading the file ---- */

/* A record's length from its header: its payload length when that is plausible, else the
 * most any record may take (a bad header: load all the tail check may look at). */
static size_t record_len(const uint8_t *p)
{
	uint32_t len = get_le32(p + 8);

	return len <= REC_PAYLOAD_MAX ? len : REC_PAYLOAD_MAX;
}

/* Whether a valid record of this generation starts anywhere in (from, size). */
static bool valid_record_after(const uint8_t *p, size_t size, size_t from, uint64_t salt)
{
	for (size_t o = from + 1; o + REC_HEADER_SIZE <= size; o++) {
		struct rec_view v;
		if (p[o] == (REC_MAGIC & 0xff) &&
		    thinsnap_meta_fmt_rec_check(p + o, size - o, &v) && v.salt == salt)
			return true;
	}
	return false;
}

/*
 * Reads the journal through a window refilled as replay moves on: open stays cache-friendly
 * and needs no memory proportional to the file. The window starts at WINDOW_START bytes and
 * grows (up to two maximal records) only when a record, or the tail check, needs more: a
 * daemon's peak memory does not pay for a 4 MiB record it never reads. Asked for
 * min(one maximal record, the rest of the file), it holds all of it, so a torn tail (which
 * is within one maximal record of the end) is always wholly in it.
 */
#define WINDOW_MAX   (2 * (size_t)(REC_HEADER_SIZE + REC_PAYLOAD_MAX))
#define WINDOW_START ((size_t)256 << 10)

struct window {
	int fd;
	uint8_t *buf;
	size_t cap;
	size_t len;    /* valid bytes in buf */
	uint64_t base; /* file offset of buf[0] */
	uint64_t size; /* file size when opened (a writer may append meanwhile) */
	bool eof;
};

/* Makes [off, off + min(want, rest)) available; returns a pointer to off and *ret_avail. */
static int window_at(struct window *w, uint64_t off, size_t want, const uint8_t **ret,
		     size_t *ret_avail)
{
	if (off < w->base || off > w->base + w->len)
		return -EINVAL;
	if (w->base + w->len - off < want && !w->eof) {
		size_t keep = (size_t)(w->base + w->len - off);
		if (want > w->cap && w->cap < w->size && w->cap < WINDOW_MAX) {
			size_t cap = want > WINDOW_MAX / 2 ? WINDOW_MAX : 2 * want;
			uint8_t *b;
			if (cap > w->size)
				cap = (size_t)w->size;
			b = realloc(w->buf, cap);
			if (!b)
				return -ENOMEM;
			w->buf = b;
			w->cap = cap;
		}
		memmove(w->buf, w->buf + (off - w->base), keep);
		w->base = off;
		w->len = keep;
		while (w->len < w->cap && w->base + w->len < w->size) {
			size_t n = (size_t)(w->size - w->base - w->len);
			ssize_t k;
			if (n > w->cap - w->len)
				n = w->cap - w->len;
			k = pread(w->fd, w->buf + w->len, n, (off_t)(w->base + w->len));
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -errno;
			if (k == 0) { /* shrank (a writer cut a torn tail): use what is there */
				w->size = w->base + w->len;
				break;
			}
			w->len += (size_t)k;
		}
		if (w->base + w->len >= w->size)
			w->eof = true;
	}
	*ret = w->buf + (off - w->base);
	*ret_avail = (size_t)(w->base + w->len - off);
	return 0;
}

static int window_open(struct window *w, int fd)
{
	struct stat st;

	*w = (struct window){ .fd = fd };
	if (fstat(fd, &st) < 0)
		return -errno;
	w->size = (uint64_t)st.st_size;
	w->cap = w->size < WINDOW_START ? (size_t)w->size : WINDOW_START;
	w->buf = malloc(w->cap ? w->cap : 1);
	return w->buf ? 0 : -ENOMEM;
}

/* ---- replay ---- */

static int replay(struct thinsnap_meta *m, const char *pool_uuid, bool salvage, bool *ret_damaged,
		  struct thinsnap_error *reterr)
{
	struct thinsnap_error rerr = { 0 };
	struct window w;
	const uint8_t *p = NULL;
	size_t avail = 0;
	uint64_t off = JNL_HEADER_SIZE;
	int r;

	r = window_open(&w, m->fd);
	if (r == 0)
		r = window_at(&w, 0, JNL_HEADER_SIZE, &p, &avail);
	if (r < 0) {
		free(w.buf);
		return thinsnap_error_setf(reterr, r, "reading the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	}
	r = thinsnap_meta_fmt_header_decode(p, avail, &m->hdr);
	if (r == -EOPNOTSUPP) {
		free(w.buf);
		return thinsnap_error_setf(reterr, r,
					   "journal in '%s' needs a newer thinsnap (version or "
					   "incompatible features)",
					   m->state_dir);
	}
	if (r < 0 || m->hdr.checkpoint_end < JNL_HEADER_SIZE) {
		free(w.buf);
		return thinsnap_error_setf(reterr, -EUCLEAN, "journal in '%s': damaged header",
					   m->state_dir);
	}
	if (pool_uuid && strcmp(pool_uuid, m->hdr.pool_id) != 0) { /* before touching anything */
		free(w.buf);
		return thinsnap_error_setf(reterr, -EXDEV,
					   "journal in '%s' belongs to pool '%s', not '%s'",
					   m->state_dir, m->hdr.pool_id, pool_uuid);
	}
	m->next_seq = m->hdr.first_seq;
	*ret_damaged = false;
	for (;;) {
		struct rec_view v;
		r = window_at(&w, off, REC_HEADER_SIZE, &p, &avail);
		/* the whole record, or as much as there is (the tail check wants it all) */
		if (r == 0 && avail >= REC_HEADER_SIZE)
			r = window_at(&w, off, REC_HEADER_SIZE + record_len(p), &p, &avail);
		if (r < 0) {
			free(w.buf);
			return thinsnap_error_setf(reterr, r, "reading the journal in '%s': %s",
						   m->state_dir, strerror(-r));
		}
		if (avail == 0)
			break;
		if (!thinsnap_meta_fmt_rec_check(p, avail, &v) || v.salt != m->hdr.salt ||
		    v.seq != m->next_seq)
			break;
		r = replay_record(m, &v, &rerr);
		if (r == -ENOMEM) {
			free(w.buf);
			return thinsnap_error_setf(reterr, r, "out of memory");
		}
		if (r < 0) {
			if (!salvage) {
				free(w.buf);
				return thinsnap_error_setf(
					reterr, -EUCLEAN,
					"journal in '%s': record at offset %" PRIu64
					" does not apply: %s",
					m->state_dir, off, rerr.msg);
			}
			*ret_damaged = true;
			break;
		}
		thinsnap_meta_undo_commit(&m->ix);
		m->next_seq++;
		off += REC_HEADER_SIZE + v.len;
	}
	if (avail > 0 && !*ret_damaged) {
		/* p, avail: the rest of the file, if it is within one maximal record */
		r = window_at(&w, off, REC_HEADER_SIZE + REC_PAYLOAD_MAX, &p, &avail);
		if (r < 0) {
			free(w.buf);
			return thinsnap_error_setf(reterr, r, "reading the journal in '%s': %s",
						   m->state_dir, strerror(-r));
		}
		bool torn = off >= m->hdr.checkpoint_end && w.size - off == avail &&
			    avail <= REC_HEADER_SIZE + REC_PAYLOAD_MAX &&
			    !valid_record_after(p, avail, 0, m->hdr.salt);
		if (!torn && !salvage) {
			free(w.buf);
			return thinsnap_error_setf(reterr, -EUCLEAN,
						   "journal in '%s' is damaged at offset %" PRIu64
						   " of %" PRIu64 " (before its tail); open with "
						   "salvage to keep the valid prefix",
						   m->state_dir, off, w.size);
		}
		*ret_damaged = !torn;
		if (torn && !m->read_only) {
			free(w.buf);
			w.buf = NULL;
			if (ftruncate(m->fd, (off_t)off) < 0)
				return thinsnap_error_setf(
					reterr, -errno,
					"truncating the torn tail of the journal "
					"in '%s': %m",
					m->state_dir);
			r = thinsnap_io_sync(m->io, m->fd, true);
			if (r < 0)
				return thinsnap_error_setf(reterr, r,
							   "syncing the journal in '%s': %s",
							   m->state_dir, strerror(-r));
		}
	}
	free(w.buf);
	if (off < m->hdr.checkpoint_end && !*ret_damaged)
		return thinsnap_error_setf(reterr, -EUCLEAN,
					   "journal in '%s': checkpoint truncated", m->state_dir);
	m->end = off;
	return 0;
}

/* ---- open and free ---- */

static int keep_corrupt(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	char name[64];

	snprintf(name, sizeof(name), JOURNAL_NAME ".corrupt-%lld", (long long)time(NULL));
	if (linkat(m->dirfd, JOURNAL_NAME, m->dirfd, name, 0) < 0 && errno != EEXIST)
		return thinsnap_error_setf(reterr, -errno,
					   "keeping the damaged journal in '%s': %m", m->state_dir);
	return 0;
}

/* Makes a new state directory's name durable: fsync its parent. */
static int sync_parent(struct thinsnap_meta *m)
{
	CLEANUP_FREE char *parent = strdup(m->state_dir);
	CLEANUP_CLOSE int fd = -EBADF;
	char *slash;

	if (!parent)
		return -ENOMEM;
	while ((slash = strrchr(parent, '/')) && slash[1] == '\0' && slash != parent)
		*slash = '\0'; /* "a/b/" -> "a/b" */
	slash = strrchr(parent, '/');
	if (!slash)
		strcpy(parent, ".");
	else if (slash == parent)
		parent[1] = '\0';
	else
		*slash = '\0';
	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return thinsnap_io_sync(m->io, fd, false);
}

void thinsnap_meta_free(struct thinsnap_meta *m)
{
	if (!m)
		return;
	thinsnap_meta_undo_rollback(&m->ix); /* nothing pending normally */
	thinsnap_meta_sync_release(m);
	if (m->unsynced && m->fd >= 0) /* a lazy completion: make it durable now */
		(void)thinsnap_io_sync(m->io, m->fd, true);
	thinsnap_meta_index_free(&m->ix);
	thinsnap_buf_free(&m->wbuf);
	thinsnap_meta_fmt_scratch_free(&m->scratch);
	if (m->fd >= 0)
		(void)close(m->fd);
	if (m->lockfd >= 0)
		(void)close(m->lockfd);
	if (m->dirfd >= 0)
		(void)close(m->dirfd);
	free(m->state_dir);
	free(m);
}

DEFINE_CLEANUP(struct thinsnap_meta *, thinsnap_meta_free)

int thinsnap_meta_open(const struct thinsnap_meta_open_opts *opts, struct thinsnap_meta **ret_m,
		       struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_meta_freep) struct thinsnap_meta *m = NULL;
	bool damaged = false;
	int r;

	if (!opts || !opts->state_dir || !*opts->state_dir || !ret_m)
		return thinsnap_error_setf(reterr, -EINVAL, "no state directory");
	if (opts->pool_uuid && strlen(opts->pool_uuid) > JNL_POOL_ID_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "pool identity longer than %u bytes",
					   JNL_POOL_ID_MAX);
	if (opts->read_only && opts->salvage)
		return thinsnap_error_setf(reterr, -EINVAL, "salvage needs a writer");
	m = calloc(1, sizeof(*m));
	if (!m)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	m->dirfd = m->lockfd = m->fd = -EBADF;
	m->read_only = opts->read_only;
	m->io = opts->io;
	m->compact_threshold =
		opts->compact_threshold_bytes ? opts->compact_threshold_bytes : DEFAULT_COMPACT;
	m->state_dir = strdup(opts->state_dir);
	if (!m->state_dir)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (!m->read_only) {
		if (mkdir(m->state_dir, 0700) == 0)
			r = sync_parent(m);
		else
			r = errno == EEXIST ? 0 : -errno;
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "creating state directory '%s': %s",
						   m->state_dir, strerror(-r));
	}
	m->dirfd = open(m->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->dirfd < 0)
		return thinsnap_error_setf(reterr, -errno, "opening state directory '%s': %m",
					   m->state_dir);
	if (!m->read_only &&
	    (r = thinsnap_meta_lock_take(m->dirfd, m->state_dir, &m->lockfd, reterr)) < 0)
		return r;
	m->fd = openat(m->dirfd, JOURNAL_NAME,
		       (m->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (m->fd < 0 && (errno != ENOENT || m->read_only))
		return thinsnap_error_setf(reterr, -errno, "opening the journal in '%s': %m",
					   m->state_dir);
	if (m->fd < 0) {
		r = thinsnap_meta_journal_create(m, opts->pool_uuid, reterr);
		if (r < 0)
			return r;
	} else {
		if (!m->read_only)
			(void)unlinkat(m->dirfd, JOURNAL_TMP, 0);
		r = replay(m, opts->pool_uuid, opts->salvage, &damaged, reterr);
		if (r < 0)
			return r;
	}
	if (damaged) {
		r = keep_corrupt(m, reterr);
		if (r < 0)
			return r;
		r = thinsnap_meta_compact(m, reterr);
		if (r < 0)
			return r;
	}
	if (!m->read_only)
		thinsnap_meta_maybe_compact(m);
	*ret_m = TAKE_PTR(m);
	return 0;
}

/*
 * meta/: opening the journal: the state directory, the writer lock, then replay: records are
 * read through a window and applied while their crc, seq and salt check; the zeros written
 * ahead of the end end them; a torn tail is cut off (writer) or ignored (reader), damage before it is -EUCLEAN, or with salvage the file is
 * kept aside and the valid prefix checkpointed into a new generation. Also free.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
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
	if (off >= w->size) { /* past the end (a shorter copy): nothing there */
		*ret = w->buf;
		*ret_avail = 0;
		return 0;
	}
	if (off < w->base || off > w->base + w->len) { /* a jump: start the window there */
		w->base = off;
		w->len = 0;
		w->eof = false;
	}
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
	if (fd < 0) /* a missing copy: an empty file */
		st.st_size = 0;
	else if (fstat(fd, &st) < 0)
		return -errno;
	w->size = (uint64_t)st.st_size;
	w->cap = w->size < WINDOW_START ? (size_t)w->size : WINDOW_START;
	w->buf = malloc(w->cap ? w->cap : 1);
	return w->buf ? 0 : -ENOMEM;
}

/* ---- replay ---- */

/* One copy of the journal as replay reads it. */
struct source {
	struct window w;
	bool open; /* the file exists */
	bool use;  /* its records count: its header is the chosen one's, or is damaged */
	int hdr_r; /* its header: 0, -EUCLEAN or -EOPNOTSUPP */
	struct jnl_header hdr;
};

/* Reads s's record at off into *v; *ret_ok: it is complete, its crc verifies and its salt is
 * salt (the caller checks its seq). */
static int source_record(struct source *s, uint64_t off, uint64_t salt, struct rec_view *v,
			 bool *ret_ok, size_t *ret_avail)
{
	const uint8_t *p = NULL;
	size_t avail = 0;
	int r = 0;

	*ret_ok = false;
	*ret_avail = 0;
	if (!s->use)
		return 0;
	r = window_at(&s->w, off, REC_HEADER_SIZE, &p, &avail);
	/* the whole record, or as much as there is (the tail check wants it all) */
	if (r == 0 && avail >= REC_HEADER_SIZE)
		r = window_at(&s->w, off, REC_HEADER_SIZE + record_len(p), &p, &avail);
	if (r < 0)
		return r;
	*ret_avail = avail;
	*ret_ok = thinsnap_meta_fmt_rec_check(p, avail, v) && v->salt == salt;
	return 0;
}

/* Whether s's bytes from off on are a torn tail: within one maximal record of its end, and
 * no valid record of this generation after off. A copy that ends at off has none. */
static int source_torn(struct source *s, uint64_t off, uint64_t salt, bool *ret_torn)
{
	const uint8_t *p = NULL;
	size_t avail = 0;
	int r;

	*ret_torn = true;
	if (!s->use || s->w.size <= off)
		return 0;
	r = window_at(&s->w, off, REC_HEADER_SIZE + REC_PAYLOAD_MAX, &p, &avail);
	if (r < 0)
		return r;
	*ret_torn = s->w.size - off == avail && avail <= REC_HEADER_SIZE + REC_PAYLOAD_MAX &&
		    !valid_record_after(p, avail, 0, salt);
	return 0;
}

/* Whether s's bytes from off to its end are all zero: the zeros written ahead of the end
 * (thinsnap_meta_prealloc()), not a torn record. Only for a torn tail (it fits the window). */
static int source_zero_from(struct source *s, uint64_t off, bool *ret_zero)
{
	const uint8_t *p = NULL;
	size_t avail = 0;
	int r;

	*ret_zero = true;
	if (s->w.size <= off)
		return 0;
	r = window_at(&s->w, off, (size_t)(s->w.size - off), &p, &avail);
	if (r < 0)
		return r;
	for (size_t i = 0; i < avail && *ret_zero; i++)
		*ret_zero = p[i] == 0;
	*ret_zero = *ret_zero && avail == s->w.size - off;
	return 0;
}

/* Salvage: the first offset > from where a record of this generation with seq >= min_seq
 * verifies in s (UINT64_MAX: none), scanned a window at a time. */
static int source_next(struct source *s, uint64_t from, uint64_t salt, uint64_t min_seq,
		       uint64_t *ret_off)
{
	uint64_t pos = from + 1;

	*ret_off = UINT64_MAX;
	while (s->use && pos + REC_HEADER_SIZE <= s->w.size) {
		const uint8_t *p = NULL;
		size_t avail = 0, step;
		int r = window_at(&s->w, pos, WINDOW_MAX, &p, &avail);
		if (r < 0)
			return r;
		if (avail < REC_HEADER_SIZE)
			break;
		/* a record starting before step lies wholly in the window */
		step = s->w.eof || avail <= REC_HEADER_SIZE + REC_PAYLOAD_MAX
			       ? avail
			       : avail - (REC_HEADER_SIZE + REC_PAYLOAD_MAX);
		for (size_t o = 0; o < step && o + REC_HEADER_SIZE <= avail; o++) {
			struct rec_view v;
			/* magic and salt before the crc: a scan over garbage stays linear */
			if (p[o] == (REC_MAGIC & 0xff) && get_le64(p + o + 20) == salt &&
			    thinsnap_meta_fmt_rec_check(p + o, avail - o, &v) && v.seq >= min_seq) {
				*ret_off = pos + o;
				return 0;
			}
		}
		pos += step;
	}
	return 0;
}

static void note(const struct thinsnap_meta_open_opts *o, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void note(const struct thinsnap_meta_open_opts *o, uint64_t off, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (!o->salvage_note)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	o->salvage_note(o->salvage_userdata, off, what);
}

/*
 * Salvage, stuck at off with seq next_seq unreadable in every copy: moves *off and
 * m->next_seq to the next record that verifies in any copy, noting what was skipped.
 * *ret_end: there is none (the rest of the files is lost).
 */
static int skip_damage(struct thinsnap_meta *m, const struct thinsnap_meta_open_opts *o,
		       struct source *src, uint64_t *off, bool *ret_end)
{
	uint64_t best = UINT64_MAX, size = 0, seq = 0;

	for (int i = 0; i < 2; i++) {
		uint64_t at;
		int r = source_next(&src[i], *off, m->hdr.salt, m->next_seq, &at);
		if (r < 0)
			return r;
		if (at < best)
			best = at;
		if (src[i].use && src[i].w.size > size)
			size = src[i].w.size;
	}
	*ret_end = best == UINT64_MAX;
	if (*ret_end) {
		note(o, *off,
		     "records from seq %" PRIu64 " (bytes %" PRIu64 "..%" PRIu64
		     ") are unreadable in every copy of the journal",
		     m->next_seq, *off, size);
		return 0;
	}
	for (int i = 0; i < 2; i++) {
		struct rec_view v;
		bool ok = false;
		size_t avail = 0;
		int r = source_record(&src[i], best, m->hdr.salt, &v, &ok, &avail);
		if (r < 0)
			return r;
		if (ok && v.seq >= m->next_seq) {
			seq = v.seq;
			break;
		}
	}
	note(o, *off,
	     "records seq %" PRIu64 "..%" PRIu64 " (bytes %" PRIu64 "..%" PRIu64
	     ") are unreadable in every copy of the journal",
	     m->next_seq, seq - 1, *off, best);
	m->next_seq = seq;
	*off = best;
	return 0;
}

/* Reads each copy's header and picks the one replay follows: the newest generation that
 * verifies. Copies with another salt (an older generation) are left out. */
static int pick_header(struct thinsnap_meta *m, const struct thinsnap_meta_open_opts *o,
		       struct source *src, struct thinsnap_error *reterr)
{
	int best = -1;

	for (int i = 0; i < 2; i++) {
		const uint8_t *p = NULL;
		size_t avail = 0;
		int r;
		if (!src[i].open)
			continue;
		r = window_at(&src[i].w, 0, JNL_HEADER_SIZE, &p, &avail);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "reading the journal in '%s': %s",
						   m->state_dir, strerror(-r));
		r = thinsnap_meta_fmt_header_decode(p, avail, &src[i].hdr);
		if (r == 0 && src[i].hdr.checkpoint_end < JNL_HEADER_SIZE)
			r = -EUCLEAN;
		src[i].hdr_r = r < 0 && r != -EOPNOTSUPP ? -EUCLEAN : r;
		if (r == 0 && (best < 0 || src[i].hdr.generation > src[best].hdr.generation))
			best = i;
	}
	if (best < 0) {
		if (src[0].hdr_r == -EOPNOTSUPP || src[1].hdr_r == -EOPNOTSUPP)
			return thinsnap_error_setf(
				reterr, -EOPNOTSUPP,
				"journal in '%s' needs a newer thinsnap (version or "
				"incompatible features)",
				m->state_dir);
		if (o->salvage) { /* without the salt no record can be told from garbage */
			note(o, 0,
			     "the journal's header is unreadable in every copy: no record "
			     "in it can be kept");
			return 1;
		}
		return thinsnap_error_setf(
			reterr, -EUCLEAN,
			"journal in '%s': damaged header%s; run 'thinsnap repair "
			"--salvage' to rebuild it",
			m->state_dir, m->redundant ? " in every copy" : "");
	}
	m->hdr = src[best].hdr;
	for (int i = 0; i < 2; i++)
		src[i].use = src[i].open && (src[i].hdr_r == -EUCLEAN ||
					     (src[i].hdr_r == 0 && src[i].hdr.salt == m->hdr.salt));
	return 0;
}

/*
 * Replays the journal from its copies (src[1] is the copy; not open without one), record by
 * record, taking whichever copy verifies. *ret_damaged: salvage skipped something.
 * *ret_differ: the copies are not the same (a writer rewrites them).
 */
static int replay(struct thinsnap_meta *m, const struct thinsnap_meta_open_opts *o,
		  struct source *src, bool *ret_damaged, bool *ret_differ,
		  struct thinsnap_error *reterr)
{
	struct thinsnap_error rerr = { 0 };
	uint64_t off = JNL_HEADER_SIZE, size = 0;
	bool torn = true;
	int r;

	r = pick_header(m, o, src, reterr);
	if (r != 0) {
		*ret_damaged = r > 0;
		return r;
	}
	if (o->pool_uuid &&
	    strcmp(o->pool_uuid, m->hdr.pool_id) != 0) /* before touching anything */
		return thinsnap_error_setf(reterr, -EXDEV,
					   "journal in '%s' belongs to pool '%s', not '%s'",
					   m->state_dir, m->hdr.pool_id, o->pool_uuid);
	*ret_damaged = false;
	*ret_differ = m->redundant &&
		      !(src[0].use && src[1].use && src[0].hdr_r == 0 && src[1].hdr_r == 0);
	m->next_seq = m->hdr.first_seq;
	for (;;) {
		struct rec_view v[2];
		bool ok[2];
		size_t av[2];
		int pick;
		for (int i = 0; i < 2; i++) {
			r = source_record(&src[i], off, m->hdr.salt, &v[i], &ok[i], &av[i]);
			ok[i] = ok[i] && v[i].seq == m->next_seq;
			if (r < 0)
				return thinsnap_error_setf(reterr, r,
							   "reading the journal in '%s': %s",
							   m->state_dir, strerror(-r));
		}
		if (!ok[0] && !ok[1]) {
			bool end = false;
			if (av[0] == 0 && av[1] == 0)
				break; /* the end of every copy */
			torn = true;
			for (int i = 0; i < 2 && torn; i++)
				if ((r = source_torn(&src[i], off, m->hdr.salt, &torn)) < 0)
					return thinsnap_error_setf(
						reterr, r, "reading the journal in '%s': %s",
						m->state_dir, strerror(-r));
			torn = torn && off >= m->hdr.checkpoint_end;
			if (torn || !o->salvage)
				break;
			r = skip_damage(m, o, src, &off, &end);
			if (r < 0)
				return thinsnap_error_setf(reterr, r,
							   "reading the journal in '%s': %s",
							   m->state_dir, strerror(-r));
			*ret_damaged = true;
			if (end)
				break;
			continue;
		}
		pick = ok[0] ? 0 : 1;
		if (ok[0] != ok[1] && src[0].use && src[1].use)
			*ret_differ = true;
		r = replay_record(m, &v[pick], &rerr);
		if (r == -ENOMEM)
			return thinsnap_error_setf(reterr, r, "out of memory");
		if (r < 0 && !o->salvage)
			return thinsnap_error_setf(reterr, -EUCLEAN,
						   "journal in '%s': record at offset %" PRIu64
						   " does not apply: %s",
						   m->state_dir, off, rerr.msg);
		if (r < 0) {
			thinsnap_meta_undo_rollback(&m->ix);
			note(o, off, "record seq %" PRIu64 " no longer applies: %s", m->next_seq,
			     rerr.msg);
			*ret_damaged = true;
		} else {
			thinsnap_meta_undo_commit(&m->ix);
		}
		m->next_seq++;
		off += REC_HEADER_SIZE + v[pick].len;
	}
	for (int i = 0; i < 2; i++)
		if (src[i].use && src[i].w.size > size)
			size = src[i].w.size;
	if (size > off && !torn && !*ret_damaged)
		return thinsnap_error_setf(reterr, -EUCLEAN,
					   "journal in '%s' is damaged at offset %" PRIu64
					   " of %" PRIu64 "%s (before its tail); "
					   "run 'thinsnap repair --salvage' to keep what is valid",
					   m->state_dir, off, size,
					   m->redundant ? " in every copy" : "");
	if (off < m->hdr.checkpoint_end && !*ret_damaged && o->salvage) {
		note(o, off,
		     "the checkpoint ends early (at byte %" PRIu64 " of %" PRIu64
		     "): the records after it are gone",
		     off, m->hdr.checkpoint_end);
		*ret_damaged = true;
	}
	if (off < m->hdr.checkpoint_end && !*ret_damaged)
		return thinsnap_error_setf(reterr, -EUCLEAN,
					   "journal in '%s': checkpoint truncated; run 'thinsnap "
					   "repair --salvage' to keep what is valid",
					   m->state_dir);
	for (int i = 0; i < 2; i++) /* a copy that ends early misses records */
		if (m->redundant && src[i].use && src[i].w.size < off)
			*ret_differ = true;
	m->alloc_end = off;
	if (!m->read_only && !*ret_damaged) {
		/* a torn tail: cut it off each copy that has one; zeros ahead of the end stay */
		int fds[2] = { m->fd, m->fd2 };
		uint64_t alloc = UINT64_MAX;
		for (int i = 0; i < 2; i++) {
			bool zero = true;
			if (!src[i].use || fds[i] < 0)
				continue;
			if ((r = source_zero_from(&src[i], off, &zero)) < 0)
				return thinsnap_error_setf(reterr, r,
							   "reading the journal in '%s': %s",
							   m->state_dir, strerror(-r));
			if (zero) {
				alloc = src[i].w.size < alloc ? src[i].w.size : alloc;
				continue;
			}
			alloc = off;
			if (ftruncate(fds[i], (off_t)off) < 0)
				return thinsnap_error_setf(reterr, -errno,
							   "truncating the torn tail of the "
							   "journal in '%s': %m",
							   m->state_dir);
			r = thinsnap_io_sync(m->io, fds[i], true);
			if (r < 0)
				return thinsnap_error_setf(reterr, r,
							   "syncing the journal in '%s': %s",
							   m->state_dir, strerror(-r));
		}
		if (alloc != UINT64_MAX && alloc > off)
			m->alloc_end = alloc;
	}
	m->end = off;
	return 0;
}

/* ---- open and free ---- */

static int keep_corrupt(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	static const char *const names[] = { JOURNAL_NAME, COPY_NAME };
	char name[64];

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		snprintf(name, sizeof(name), "%s.corrupt-%lld", names[i], (long long)time(NULL));
		if (linkat(m->dirfd, names[i], m->dirfd, name, 0) < 0 && errno != EEXIST &&
		    errno != ENOENT)
			return thinsnap_error_setf(reterr, -errno,
						   "keeping the damaged journal in '%s': %m",
						   m->state_dir);
	}
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
	if (!m->failed && m->fd >= 0 && (m->unsynced || m->copy_pend.len)) {
		/* a lazy completion, the copy's last records: make both durable now */
		if (thinsnap_meta_copy_catch_up(m) == 0 && m->fd2 >= 0)
			(void)thinsnap_io_sync(m->io, m->fd2, true);
		(void)thinsnap_io_sync(m->io, m->fd, true);
	}
	thinsnap_buf_free(&m->copy_pend);
	thinsnap_meta_index_free(&m->ix);
	thinsnap_buf_free(&m->wbuf);
	thinsnap_meta_fmt_scratch_free(&m->scratch);
	if (m->fd >= 0)
		(void)close(m->fd);
	if (m->fd2 >= 0)
		(void)close(m->fd2);
	thinsnap_meta_lock_release(m->lockfd);
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
	struct source src[2] = { 0 };
	bool damaged = false, differ = false;
	int flags, r;

	if (!opts || !opts->state_dir || !*opts->state_dir || !ret_m)
		return thinsnap_error_setf(reterr, -EINVAL, "no state directory");
	if (opts->pool_uuid && strlen(opts->pool_uuid) > JNL_POOL_ID_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "pool identity longer than %u bytes",
					   JNL_POOL_ID_MAX);
	m = calloc(1, sizeof(*m));
	if (!m)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	m->dirfd = m->lockfd = m->fd = m->fd2 = -EBADF;
	m->read_only = opts->read_only;
	m->redundant = opts->redundant;
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
	if (!m->read_only && (r = thinsnap_meta_lock_take(m->dirfd, m->state_dir, &m->lockfd,
							  &m->writer_died, reterr)) < 0)
		return r;
	flags = (m->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW;
	m->fd = openat(m->dirfd, JOURNAL_NAME, flags);
	if (m->fd < 0 && errno != ENOENT)
		return thinsnap_error_setf(reterr, -errno, "opening the journal in '%s': %m",
					   m->state_dir);
	if (m->redundant) {
		m->fd2 = openat(m->dirfd, COPY_NAME, flags);
		if (m->fd2 < 0 && errno != ENOENT)
			return thinsnap_error_setf(reterr, -errno,
						   "opening the journal's copy in '%s': %m",
						   m->state_dir);
	}
	if (m->fd < 0 && m->fd2 < 0) {
		if (m->read_only)
			return thinsnap_error_setf(reterr, -ENOENT, "no journal in '%s'",
						   m->state_dir);
		r = thinsnap_meta_journal_create(m, opts->pool_uuid, reterr);
		if (r < 0)
			return r;
		*ret_m = TAKE_PTR(m);
		return 0;
	}
	if (!m->read_only) {
		(void)unlinkat(m->dirfd, JOURNAL_TMP, 0);
		(void)unlinkat(m->dirfd, COPY_TMP, 0);
	}
	r = 0;
	for (int i = 0; i < 2 && r == 0; i++) {
		int fd = i ? m->fd2 : m->fd;
		src[i].open = fd >= 0;
		r = window_open(&src[i].w, fd);
	}
	if (r < 0)
		r = thinsnap_error_setf(reterr, r, "reading the journal in '%s': %s", m->state_dir,
					strerror(-r));
	else
		r = replay(m, opts, src, &damaged, &differ, reterr);
	free(src[0].w.buf);
	free(src[1].w.buf);
	if (r < 0)
		return r;
	if (r > 0) { /* salvage, and no header verifies: an empty journal */
		if (m->read_only) {
			*ret_m = TAKE_PTR(m);
			return 0;
		}
		if ((r = keep_corrupt(m, reterr)) < 0)
			return r;
		(void)close(m->fd);
		if (m->fd2 >= 0)
			(void)close(m->fd2);
		m->fd = m->fd2 = -EBADF;
		r = thinsnap_meta_journal_create(m, opts->pool_uuid, reterr);
		if (r < 0)
			return r;
		*ret_m = TAKE_PTR(m);
		return 0;
	}
	if (!m->read_only && damaged && (r = keep_corrupt(m, reterr)) < 0)
		return r;
	/* damage salvaged, or copies to rewrite (missing, stale, different): a new generation */
	if (!m->read_only && (damaged || differ || m->fd < 0) &&
	    (r = thinsnap_meta_compact(m, reterr)) < 0)
		return r;
	if (!m->read_only) {
		thinsnap_meta_maybe_compact(m);
		thinsnap_meta_prealloc(m); /* a journal written before it, or a tail cut off */
	}
	*ret_m = TAKE_PTR(m);
	return 0;
}

/*
 * meta/: the journal's state and its durability: replay into an in-memory index (open-addressing
 * hash by key, intrusive child lists, dev_id bitmaps), atomic op groups with an undo log,
 * append + fdatasync, intents, checkpoint/compaction, locking and salvage.
 */
#include "meta/meta.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "meta/format.h"

#define JOURNAL_NAME    "journal"
#define JOURNAL_TMP     ".journal.tmp"
#define LOCK_NAME       "lock"
#define DEFAULT_COMPACT (16ull << 20)
#define ID_WORDS        (THINSNAP_META_DEV_ID_LIMIT / 64)
#define CHUNK_WORDS     1024u /* dev_id bitmaps in 8 KiB chunks, allocated on first use */
#define N_CHUNKS        (ID_WORDS / CHUNK_WORDS)

struct lblk { /* fs_type and labels of an entry, one allocation, replaced as a whole */
	size_t n;
	const char *fs_type;
	struct thinsnap_meta_label labels[];
};

struct entry {
	struct thinsnap_meta_snap pub; /* pub.key points to key[] */
	uint64_t hash;
	struct entry *parent;
	struct entry *first_child;
	struct entry *next_sib;
	struct entry *prev_sib;
	struct lblk *lb;
	struct lblk *lb_inline; /* the one allocated with the entry (not freed on its own) */
	size_t key_len;
	char key[];
};

struct intent {
	struct intent *next;
	struct intent *prev;
	uint64_t id;
	uint64_t tid_before;
	uint64_t tid_after;
	size_t n_pool;
	struct thinsnap_meta_pool_op *pool_ops;
	size_t n_touched;
	uint32_t *touched;
	size_t ops_len;
	uint8_t *ops; /* the encoded ops group */
};

enum undo_type { U_INSERT, U_REMOVE, U_LABELS, U_USAGE, U_SIZE, U_BIT, U_INTENT_ADD, U_INTENT_DEL };
enum { MAP_ENTRY, MAP_RESERVED, MAP_PENDING, N_MAPS };

struct undo {
	enum undo_type type;
	struct entry *e;
	struct lblk *lb;
	struct intent *in;
	int64_t updated_ns;
	uint64_t a, b;
	int map;
	uint32_t id;
	bool old;
};

struct thinsnap_meta {
	char *state_dir;
	int dirfd;
	int lockfd;
	int fd;
	bool read_only;
	int failed;    /* an append failed: refuse mutations until reopened */
	bool unsynced; /* the last record was appended lazily (not yet fdatasync'd) */
	const struct thinsnap_meta_io *io;
	uint64_t compact_threshold;

	struct jnl_header hdr;
	uint64_t end; /* file size: where the next record goes */
	uint64_t next_seq;

	struct entry **slots;
	uint64_t *slot_hash; /* the key hash of each slot, to skip entries without touching them */
	size_t n_slots;      /* power of 2 */
	size_t count;
	uint64_t *maps[N_MAPS][N_CHUNKS];
	struct intent *intents_head;
	struct intent *intents_tail;
	size_t n_intents;
	const struct intent *exclude; /* the intent being completed: its ids are not "touched" */
	struct entry *last_created;   /* often the next create's parent (checkpoints, chains) */

	struct undo *undo;
	size_t n_undo;
	size_t undo_cap;
	struct buf wbuf;
	struct op_scratch scratch;
};

/* ---- small helpers ---- */

static uint64_t hash_key(const char *s, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) { /* 8 bytes at a time, multiply-xorshift */
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 31;
	}
	w = 0;
	memcpy(&w, s + i, n - i);
	h = (h ^ w) * 0x94d049bb133111ebull;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 32);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t map_word(struct thinsnap_meta *m, int map, size_t w)
{
	const uint64_t *c = m->maps[map][w / CHUNK_WORDS];

	return c ? c[w % CHUNK_WORDS] : 0;
}

static bool map_get(struct thinsnap_meta *m, int map, uint32_t id)
{
	return (map_word(m, map, id / 64) >> (id % 64)) & 1;
}

/* Allocates the chunk holding id, so that setting its bit cannot fail. */
static int map_prepare(struct thinsnap_meta *m, int map, uint32_t id)
{
	uint64_t **c = &m->maps[map][id / 64 / CHUNK_WORDS];

	if (!*c)
		*c = calloc(CHUNK_WORDS, sizeof(uint64_t));
	return *c ? 0 : -ENOMEM;
}

static void map_put(struct thinsnap_meta *m, int map, uint32_t id, bool v)
{
	uint64_t *c = m->maps[map][id / 64 / CHUNK_WORDS];
	size_t w = id / 64 % CHUNK_WORDS;

	if (!c) {
		if (v)
			abort(); /* map_prepare() first */
		return;
	}
	if (v)
		c[w] |= 1ull << (id % 64);
	else
		c[w] &= ~(1ull << (id % 64));
}

static const struct intent *intent_touching(struct thinsnap_meta *m, uint32_t id)
{
	for (struct intent *in = m->intents_head; in; in = in->next) {
		if (in == m->exclude)
			continue;
		for (size_t i = 0; i < in->n_touched; i++)
			if (in->touched[i] == id)
				return in;
	}
	return NULL;
}

static ssize_t io_pwrite(struct thinsnap_meta *m, int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n;

	if (m->io && m->io->pwrite)
		return m->io->pwrite(m->io->userdata, fd, buf, len, off);
	n = pwrite(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static int io_sync(struct thinsnap_meta *m, int fd, bool datasync)
{
	if (m->io && m->io->sync)
		return m->io->sync(m->io->userdata, fd, datasync);
	if ((datasync ? fdatasync(fd) : fsync(fd)) < 0)
		return -errno;
	return 0;
}

static int write_all(struct thinsnap_meta *m, int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = io_pwrite(m, fd, p, len, (off_t)off);
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

/* ---- the index ---- */

static size_t slot_of(struct thinsnap_meta *m, const char *key, size_t len, uint64_t h)
{
	size_t mask = m->n_slots - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		struct entry *e = m->slots[i];
		if (!e ||
		    (m->slot_hash[i] == h && e->key_len == len && memcmp(e->key, key, len) == 0))
			return i;
	}
}

static struct entry *find(struct thinsnap_meta *m, const char *key)
{
	size_t len;

	if (!key || m->n_slots == 0)
		return NULL;
	len = strnlen(key, THINSNAP_META_KEY_MAX + 1);
	if (len == 0 || len > THINSNAP_META_KEY_MAX)
		return NULL;
	return m->slots[slot_of(m, key, len, hash_key(key, len))];
}

/* Makes room for `more` inserts without allocating later (undo must not allocate). */
static int hash_reserve(struct thinsnap_meta *m, size_t more)
{
	size_t want = m->count + more, n = m->n_slots ? m->n_slots : 64;
	struct entry **s;
	uint64_t *sh;

	while (want > n / 2) /* load factor <= 1/2 */
		n *= 2;
	if (n == m->n_slots)
		return 0;
	s = calloc(n, sizeof(*s) + sizeof(*sh)); /* one block: pointers, then hashes */
	if (!s)
		return -ENOMEM;
	sh = (uint64_t *)(s + n);
	for (size_t i = 0; i < m->n_slots; i++) {
		struct entry *e = m->slots[i];
		size_t j;
		if (!e)
			continue;
		for (j = e->hash & (n - 1); s[j]; j = (j + 1) & (n - 1))
			;
		s[j] = e;
		sh[j] = e->hash;
	}
	free(m->slots);
	m->slots = s;
	m->slot_hash = sh;
	m->n_slots = n;
	return 0;
}

/* Links e into the index at slot i (its free slot, found by slot_of()). */
static void link_entry_at(struct thinsnap_meta *m, struct entry *e, size_t i)
{
	if (m->slots[i])
		abort(); /* callers checked for duplicates */
	m->slots[i] = e;
	m->slot_hash[i] = e->hash;
	m->count++;
	map_put(m, MAP_ENTRY, e->pub.dev_id, true);
	e->pub.parent = e->parent ? e->parent->pub.key : NULL;
	e->next_sib = e->prev_sib = NULL;
	if (e->parent) {
		e->next_sib = e->parent->first_child;
		if (e->next_sib)
			e->next_sib->prev_sib = e;
		e->parent->first_child = e;
	}
}

static void link_entry(struct thinsnap_meta *m, struct entry *e)
{
	link_entry_at(m, e, slot_of(m, e->key, e->key_len, e->hash));
}

static void unlink_entry(struct thinsnap_meta *m, struct entry *e)
{
	size_t mask = m->n_slots - 1, i = slot_of(m, e->key, e->key_len, e->hash), j = i;

	/* backward-shift deletion keeps probe chains intact without tombstones */
	m->slots[i] = NULL;
	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (!m->slots[j])
			break;
		home = m->slot_hash[j] & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			m->slot_hash[i] = m->slot_hash[j];
			m->slots[j] = NULL;
			i = j;
		}
	}
	m->count--;
	if (m->last_created == e)
		m->last_created = NULL;
	map_put(m, MAP_ENTRY, e->pub.dev_id, false);
	if (e->prev_sib)
		e->prev_sib->next_sib = e->next_sib;
	else if (e->parent)
		e->parent->first_child = e->next_sib;
	if (e->next_sib)
		e->next_sib->prev_sib = e->prev_sib;
	e->next_sib = e->prev_sib = NULL;
}

static void set_lblk(struct entry *e, struct lblk *lb)
{
	e->lb = lb;
	e->pub.fs_type = lb->fs_type;
	e->pub.labels = lb->n ? lb->labels : NULL;
	e->pub.n_labels = lb->n;
}

static size_t lblk_size(const char *fs_type, const struct thinsnap_meta_label *l, size_t n)
{
	size_t sz = sizeof(struct lblk) + n * sizeof(l[0]) + (fs_type ? strlen(fs_type) : 0) + 1;

	for (size_t i = 0; i < n; i++)
		sz += strlen(l[i].key) + strlen(l[i].value) + 2;
	return sz;
}

static void lblk_fill(struct lblk *lb, const char *fs_type, const struct thinsnap_meta_label *l,
		      size_t n)
{
	size_t fl = fs_type ? strlen(fs_type) : 0;
	char *p;

	lb->n = n;
	p = (char *)&lb->labels[n];
	memcpy(p, fs_type ? fs_type : "", fl + 1);
	lb->fs_type = p;
	p += fl + 1;
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(l[i].key) + 1, vl = strlen(l[i].value) + 1;
		memcpy(p, l[i].key, kl);
		lb->labels[i].key = p;
		p += kl;
		memcpy(p, l[i].value, vl);
		lb->labels[i].value = p;
		p += vl;
	}
}

static struct lblk *lblk_new(const char *fs_type, const struct thinsnap_meta_label *l, size_t n)
{
	struct lblk *lb = malloc(lblk_size(fs_type, l, n));

	if (lb)
		lblk_fill(lb, fs_type, l, n);
	return lb;
}

/* Frees a label block of e unless it is the one allocated with e. */
static void lblk_release(struct entry *e, struct lblk *lb)
{
	if (lb != e->lb_inline)
		free(lb);
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	lblk_release(e, e->lb);
	free(e);
}

static void intent_free(struct intent *in)
{
	free(in); /* one allocation */
}

static void intent_link(struct thinsnap_meta *m, struct intent *in)
{
	in->next = NULL;
	in->prev = m->intents_tail;
	if (m->intents_tail)
		m->intents_tail->next = in;
	else
		m->intents_head = in;
	m->intents_tail = in;
	m->n_intents++;
}

static void intent_unlink(struct thinsnap_meta *m, struct intent *in)
{
	if (in->prev)
		in->prev->next = in->next;
	else
		m->intents_head = in->next;
	if (in->next)
		in->next->prev = in->prev;
	else
		m->intents_tail = in->prev;
	in->next = in->prev = NULL;
	m->n_intents--;
}

static struct intent *intent_find(struct thinsnap_meta *m, uint64_t id)
{
	for (struct intent *in = m->intents_head; in; in = in->next)
		if (in->id == id)
			return in;
	return NULL;
}

/* ---- the undo log: a group applies op by op, and rolls back on any failure ---- */

static int undo_reserve(struct thinsnap_meta *m, size_t more)
{
	size_t want = m->n_undo + more, cap = m->undo_cap ? m->undo_cap : 64;
	struct undo *u;

	if (want <= m->undo_cap)
		return 0;
	while (cap < want)
		cap *= 2;
	u = realloc(m->undo, cap * sizeof(*u));
	if (!u)
		return -ENOMEM;
	m->undo = u;
	m->undo_cap = cap;
	return 0;
}

static void undo_push(struct thinsnap_meta *m, struct undo u)
{
	if (m->n_undo >= m->undo_cap)
		abort(); /* reserved by the caller */
	m->undo[m->n_undo++] = u;
}

static void bit_set(struct thinsnap_meta *m, int map, uint32_t id, bool v)
{
	undo_push(m,
		  (struct undo){ .type = U_BIT, .map = map, .id = id, .old = map_get(m, map, id) });
	map_put(m, map, id, v);
}

static void rollback(struct thinsnap_meta *m)
{
	while (m->n_undo > 0) {
		struct undo *u = &m->undo[--m->n_undo];
		struct lblk *cur;

		switch (u->type) {
		case U_INSERT:
			unlink_entry(m, u->e);
			entry_free(u->e);
			break;
		case U_REMOVE:
			link_entry(m, u->e);
			break;
		case U_LABELS:
			cur = u->e->lb;
			set_lblk(u->e, u->lb);
			u->e->pub.updated_ns = u->updated_ns;
			lblk_release(u->e, cur);
			break;
		case U_USAGE:
			u->e->pub.usage_bytes = u->a;
			u->e->pub.usage_inodes = u->b;
			break;
		case U_SIZE:
			u->e->pub.size_bytes = u->a;
			break;
		case U_BIT:
			map_put(m, u->map, u->id, u->old);
			break;
		case U_INTENT_ADD:
			intent_unlink(m, u->in);
			intent_free(u->in);
			break;
		case U_INTENT_DEL:
			intent_link(m, u->in);
			break;
		}
	}
}

static void commit_undo(struct thinsnap_meta *m)
{
	for (size_t i = 0; i < m->n_undo; i++) {
		struct undo *u = &m->undo[i];
		if (u->type == U_REMOVE)
			entry_free(u->e);
		else if (u->type == U_LABELS)
			lblk_release(u->e, u->lb);
		else if (u->type == U_INTENT_DEL)
			intent_free(u->in);
	}
	m->n_undo = 0;
}

/* ---- validation and application of one op ---- */

static int check_key(const char *key, const char *what, struct thinsnap_error *reterr)
{
	size_t n;

	if (!key)
		return thinsnap_error_setf(reterr, -EINVAL, "%s missing", what);
	n = strnlen(key, THINSNAP_META_KEY_MAX + 1);
	if (n == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "%s is empty", what);
	if (n > THINSNAP_META_KEY_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "%s longer than %u bytes", what,
					   THINSNAP_META_KEY_MAX);
	return 0;
}

static int check_labels(const struct thinsnap_meta_label *l, size_t n,
			struct thinsnap_error *reterr)
{
	if (n && !l)
		return thinsnap_error_setf(reterr, -EINVAL, "labels missing");
	for (size_t i = 0; i < n; i++) {
		size_t kl, vl;
		if (!l[i].key || !l[i].value)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "label %zu: key or value missing", i);
		kl = strnlen(l[i].key, THINSNAP_META_LABEL_MAX + 1);
		vl = strnlen(l[i].value, THINSNAP_META_LABEL_MAX + 1);
		if (kl == 0)
			return thinsnap_error_setf(reterr, -EINVAL, "label %zu: empty key", i);
		if (kl + vl > THINSNAP_META_LABEL_MAX)
			return thinsnap_error_setf(
				reterr, -EINVAL,
				"label '%.64s': key and value longer than %u bytes", l[i].key,
				THINSNAP_META_LABEL_MAX);
	}
	return 0;
}

static int check_dev_id(uint32_t id, struct thinsnap_error *reterr)
{
	if (id == 0 || id >= THINSNAP_META_DEV_ID_LIMIT)
		return thinsnap_error_setf(reterr, -ERANGE,
					   "dev_id %" PRIu32 " out of range (1..%u)", id,
					   THINSNAP_META_DEV_ID_LIMIT - 1);
	return 0;
}

/* One allocation: the entry, its key, and its first label block. */
static int new_entry(const struct thinsnap_meta_op *o, const char *key, size_t kl, uint64_t h,
		     struct entry *parent, struct entry **ret)
{
	size_t koff = (kl + 1 + 7) & ~(size_t)7;
	struct entry *e = malloc(sizeof(*e) + koff + lblk_size(o->fs_type, o->labels, o->n_labels));

	if (!e)
		return -ENOMEM;
	memset(e, 0, sizeof(*e));
	memcpy(e->key, key, kl + 1);
	e->key_len = kl;
	e->hash = h;
	e->parent = parent;
	e->pub.key = e->key;
	e->lb = e->lb_inline = (struct lblk *)(void *)(e->key + koff);
	lblk_fill(e->lb, o->fs_type, o->labels, o->n_labels);
	set_lblk(e, e->lb);
	*ret = e;
	return 0;
}

static int op_create(struct thinsnap_meta *m, const struct thinsnap_meta_op *o,
		     struct thinsnap_error *reterr)
{
	struct entry *parent = NULL, *e = NULL, *last = m->last_created;
	const struct intent *in;
	size_t kl, slot;
	uint64_t h;
	int r;

	if ((r = check_key(o->key, "key", reterr)) < 0 ||
	    (r = check_labels(o->labels, o->n_labels, reterr)) < 0 ||
	    (r = check_dev_id(o->dev_id, reterr)) < 0)
		return r;
	if (o->kind < THINSNAP_META_VIEW || o->kind > THINSNAP_META_INTERNAL)
		return thinsnap_error_setf(reterr, -EINVAL, "key '%.200s': bad kind %d", o->key,
					   (int)o->kind);
	if (o->fs_type && strnlen(o->fs_type, FS_TYPE_MAX + 1) > FS_TYPE_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "fs_type longer than %u bytes",
					   FS_TYPE_MAX);
	kl = strlen(o->key);
	h = hash_key(o->key, kl);
	slot = slot_of(m, o->key, kl, h); /* apply_ops made the table non-empty */
	if (m->slots[slot])
		return thinsnap_error_setf(reterr, -EEXIST, "key '%.200s' already exists", o->key);
	if (o->parent) {
		if ((r = check_key(o->parent, "parent", reterr)) < 0)
			return r;
		if (last && strncmp(last->key, o->parent, last->key_len + 1) == 0)
			parent = last; /* no hash lookup */
		else
			parent = find(m, o->parent);
		if (!parent)
			return thinsnap_error_setf(reterr, -ENOENT, "parent '%.200s' not found",
						   o->parent);
		if (parent->pub.kind != THINSNAP_META_COMMITTED &&
		    parent->pub.kind != THINSNAP_META_INTERNAL)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "parent '%.200s' is not committed", o->parent);
	}
	if (map_get(m, MAP_ENTRY, o->dev_id))
		return thinsnap_error_setf(reterr, -EEXIST, "dev_id %" PRIu32 " already in use",
					   o->dev_id);
	if (map_get(m, MAP_PENDING, o->dev_id))
		return thinsnap_error_setf(reterr, -EEXIST,
					   "dev_id %" PRIu32 " is still pending delete", o->dev_id);
	in = intent_touching(m, o->dev_id);
	if (in)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "dev_id %" PRIu32
					   " is touched by unfinished intent %" PRIu64,
					   o->dev_id, in->id);
	r = map_prepare(m, MAP_ENTRY, o->dev_id);
	if (r == 0)
		r = new_entry(o, o->key, kl, h, parent, &e);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	e->pub.kind = o->kind;
	e->pub.dev_id = o->dev_id;
	e->pub.size_bytes = o->size_bytes;
	e->pub.created_ns = o->created_ns;
	e->pub.updated_ns = o->updated_ns;
	e->pub.usage_bytes = o->usage_bytes;
	e->pub.usage_inodes = o->usage_inodes;
	if (map_get(m, MAP_RESERVED, o->dev_id))
		bit_set(m, MAP_RESERVED, o->dev_id, false); /* the reservation is consumed */
	link_entry_at(m, e, slot);                          /* no table change since slot_of() */
	m->last_created = e;
	undo_push(m, (struct undo){ .type = U_INSERT, .e = e });
	return 0;
}

static int lookup(struct thinsnap_meta *m, const char *key, struct entry **ret,
		  struct thinsnap_error *reterr)
{
	int r = check_key(key, "key", reterr);

	if (r < 0)
		return r;
	*ret = find(m, key);
	if (!*ret)
		return thinsnap_error_setf(reterr, -ENOENT, "key '%.200s' not found", key);
	return 0;
}

static int op_remove(struct thinsnap_meta *m, const char *key, struct thinsnap_error *reterr)
{
	struct entry *e = NULL;
	int r = lookup(m, key, &e, reterr);

	if (r < 0)
		return r;
	if (e->first_child)
		return thinsnap_error_setf(reterr, -ENOTEMPTY, "key '%.200s' has children", key);
	unlink_entry(m, e);
	undo_push(m, (struct undo){ .type = U_REMOVE, .e = e });
	return 0;
}

static int op_commit(struct thinsnap_meta *m, const struct thinsnap_meta_op *o,
		     struct thinsnap_error *reterr)
{
	struct entry *e = NULL, *n = NULL;
	int r = lookup(m, o->key, &e, reterr);

	if (r < 0)
		return r;
	if ((r = check_key(o->name, "name", reterr)) < 0 ||
	    (r = check_labels(o->labels, o->n_labels, reterr)) < 0)
		return r;
	if (e->pub.kind != THINSNAP_META_ACTIVE)
		return thinsnap_error_setf(reterr, -EINVAL, "key '%.200s' is not active", o->key);
	if (find(m, o->name))
		return thinsnap_error_setf(reterr, -EEXIST, "name '%.200s' already exists",
					   o->name);
	{
		struct thinsnap_meta_op c = *o;
		c.fs_type = e->pub.fs_type;
		r = new_entry(&c, o->name, strlen(o->name), hash_key(o->name, strlen(o->name)),
			      e->parent, &n);
	}
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	n->pub = e->pub;
	n->pub.key = n->key;
	set_lblk(n, n->lb);
	n->pub.kind = THINSNAP_META_COMMITTED;
	/* a committed snapshot is created by its commit, as in containerd */
	n->pub.created_ns = o->updated_ns;
	n->pub.updated_ns = o->updated_ns;
	unlink_entry(m, e);
	undo_push(m, (struct undo){ .type = U_REMOVE, .e = e });
	link_entry(m, n);
	undo_push(m, (struct undo){ .type = U_INSERT, .e = n });
	return 0;
}

static int op_labels(struct thinsnap_meta *m, const struct thinsnap_meta_op *o,
		     struct thinsnap_error *reterr)
{
	struct entry *e = NULL;
	struct lblk *lb;
	int r = lookup(m, o->key, &e, reterr);

	if (r < 0 || (r = check_labels(o->labels, o->n_labels, reterr)) < 0)
		return r;
	lb = lblk_new(e->pub.fs_type, o->labels, o->n_labels);
	if (!lb)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	undo_push(m,
		  (struct undo){
			  .type = U_LABELS, .e = e, .lb = e->lb, .updated_ns = e->pub.updated_ns });
	set_lblk(e, lb);
	e->pub.updated_ns = o->updated_ns;
	return 0;
}

static int op_ids(struct thinsnap_meta *m, const struct thinsnap_meta_op *o,
		  struct thinsnap_error *reterr)
{
	uint32_t id = o->dev_id;
	const struct intent *in;
	int r = check_dev_id(id, reterr);

	if (r < 0)
		return r;
	if (map_prepare(m, MAP_RESERVED, id) < 0 || map_prepare(m, MAP_PENDING, id) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	switch (o->type) {
	case THINSNAP_META_OP_ID_ALLOC:
		if (map_get(m, MAP_ENTRY, id) || map_get(m, MAP_RESERVED, id) ||
		    map_get(m, MAP_PENDING, id))
			return thinsnap_error_setf(reterr, -EEXIST,
						   "dev_id %" PRIu32 " already in use", id);
		in = intent_touching(m, id);
		if (in)
			return thinsnap_error_setf(reterr, -EBUSY,
						   "dev_id %" PRIu32
						   " is touched by unfinished intent %" PRIu64,
						   id, in->id);
		bit_set(m, MAP_RESERVED, id, true);
		return 0;
	case THINSNAP_META_OP_ID_RELEASE:
		if (!map_get(m, MAP_RESERVED, id))
			return thinsnap_error_setf(reterr, -ENOENT,
						   "dev_id %" PRIu32 " not reserved", id);
		bit_set(m, MAP_RESERVED, id, false);
		return 0;
	case THINSNAP_META_OP_DELETE_PENDING_ADD:
		if (map_get(m, MAP_ENTRY, id))
			return thinsnap_error_setf(reterr, -EBUSY,
						   "dev_id %" PRIu32 " is used by a snapshot", id);
		if (map_get(m, MAP_PENDING, id))
			return thinsnap_error_setf(reterr, -EEXIST,
						   "dev_id %" PRIu32 " already pending delete", id);
		if (map_get(m, MAP_RESERVED, id))
			bit_set(m, MAP_RESERVED, id, false);
		bit_set(m, MAP_PENDING, id, true);
		return 0;
	default:
		if (!map_get(m, MAP_PENDING, id))
			return thinsnap_error_setf(reterr, -ENOENT,
						   "dev_id %" PRIu32 " not pending delete", id);
		bit_set(m, MAP_PENDING, id, false);
		return 0;
	}
}

static int apply_op(struct thinsnap_meta *m, const struct thinsnap_meta_op *o,
		    struct thinsnap_error *reterr)
{
	struct entry *e = NULL;
	int r;

	switch (o->type) {
	case THINSNAP_META_OP_SNAP_CREATE:
		return op_create(m, o, reterr);
	case THINSNAP_META_OP_SNAP_REMOVE:
		return op_remove(m, o->key, reterr);
	case THINSNAP_META_OP_SNAP_COMMIT:
		return op_commit(m, o, reterr);
	case THINSNAP_META_OP_LABELS_SET:
		return op_labels(m, o, reterr);
	case THINSNAP_META_OP_USAGE_SET:
		r = lookup(m, o->key, &e, reterr);
		if (r < 0)
			return r;
		undo_push(m, (struct undo){ .type = U_USAGE,
					    .e = e,
					    .a = e->pub.usage_bytes,
					    .b = e->pub.usage_inodes });
		e->pub.usage_bytes = o->usage_bytes;
		e->pub.usage_inodes = o->usage_inodes;
		return 0;
	case THINSNAP_META_OP_SIZE_SET:
		if (o->size_bytes == 0)
			return thinsnap_error_setf(reterr, -EINVAL, "size must not be 0");
		r = lookup(m, o->key, &e, reterr);
		if (r < 0)
			return r;
		undo_push(m, (struct undo){ .type = U_SIZE, .e = e, .a = e->pub.size_bytes });
		e->pub.size_bytes = o->size_bytes;
		return 0;
	case THINSNAP_META_OP_ID_ALLOC:
	case THINSNAP_META_OP_ID_RELEASE:
	case THINSNAP_META_OP_DELETE_PENDING_ADD:
	case THINSNAP_META_OP_DELETE_PENDING_REMOVE:
		return op_ids(m, o, reterr);
	}
	return thinsnap_error_setf(reterr, -EINVAL, "unknown op type %d", (int)o->type);
}

/* Applies a group in memory, recording undo entries; on failure everything is rolled back. */
static int apply_ops(struct thinsnap_meta *m, const struct thinsnap_meta_op *ops, size_t n,
		     struct thinsnap_error *reterr)
{
	int r;

	if (n && !ops)
		return thinsnap_error_setf(reterr, -EINVAL, "ops missing");
	if (n > REC_PAYLOAD_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "too many ops");
	r = hash_reserve(m, n);
	if (r == 0)
		r = undo_reserve(m, 3 * n + 2);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	for (size_t i = 0; i < n; i++) {
		r = apply_op(m, &ops[i], reterr);
		if (r < 0) {
			rollback(m);
			return r;
		}
	}
	return 0;
}

/* ---- appending ---- */

static int check_writable(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	if (m->read_only)
		return thinsnap_error_setf(reterr, -EROFS, "journal in '%s' is open read-only",
					   m->state_dir);
	if (m->failed)
		return thinsnap_error_setf(reterr, -EIO,
					   "journal in '%s' failed earlier (%s); reopen it",
					   m->state_dir, strerror(-m->failed));
	return 0;
}

/* Appends the record in m->wbuf: one pwrite at the known end, then fdatasync (unless
 * lazy: then the record is durable with the next synced append, or at free). */
static int append_record(struct thinsnap_meta *m, bool lazy, struct thinsnap_error *reterr)
{
	int r;

	r = THINSNAP_FAULT("meta.append.before_write");
	if (r == 0)
		r = write_all(m, m->fd, m->wbuf.p, m->wbuf.len, m->end);
	if (r == 0)
		r = THINSNAP_FAULT("meta.append.before_sync");
	if (r == 0 && !lazy)
		r = io_sync(m, m->fd, true);
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

static int append(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	return append_record(m, false, reterr);
}

static int encode_group(struct thinsnap_meta *m, enum rec_type type,
			const struct thinsnap_meta_op *ops, size_t n, struct thinsnap_error *reterr)
{
	size_t start = 0;
	int r;

	m->wbuf.len = 0;
	r = fmt_rec_begin(&m->wbuf, &start);
	if (r == 0 && type == REC_GROUP)
		r = fmt_put_ops(&m->wbuf, ops, n);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	if (m->wbuf.len - REC_HEADER_SIZE > REC_PAYLOAD_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "operation group larger than %u bytes",
					   REC_PAYLOAD_MAX);
	fmt_rec_end(&m->wbuf, start, type, m->next_seq, m->hdr.salt);
	return 0;
}

/*
 * Incompatible features the ops need: the first SIZE_SET sets its header bit through a
 * checkpoint (the header is only ever replaced whole), before the op is written.
 */
static bool lacks_features(const struct thinsnap_meta *m, const struct thinsnap_meta_op *ops,
			   size_t n)
{
	if (m->hdr.incompat & JNL_INCOMPAT_SIZE_SET)
		return false;
	for (size_t i = 0; i < n && ops; i++)
		if (ops[i].type == THINSNAP_META_OP_SIZE_SET)
			return true;
	return false;
}

static int require_features(struct thinsnap_meta *m, const struct thinsnap_meta_op *ops, size_t n,
			    struct thinsnap_error *reterr)
{
	int r;

	if (!lacks_features(m, ops, n))
		return 0;
	m->hdr.incompat |= JNL_INCOMPAT_SIZE_SET;
	r = thinsnap_meta_compact(m, reterr);
	if (r < 0)
		m->hdr.incompat &= ~JNL_INCOMPAT_SIZE_SET;
	return r;
}

static void maybe_compact(struct thinsnap_meta *m)
{
	if (m->compact_threshold != UINT64_MAX &&
	    m->end - m->hdr.checkpoint_end > m->compact_threshold)
		(void)thinsnap_meta_compact(m, NULL); /* failure leaves the old generation */
}

int thinsnap_meta_apply(struct thinsnap_meta *m, const struct thinsnap_meta_op *ops, size_t n,
			struct thinsnap_error *reterr)
{
	int r;

	if (!m)
		return thinsnap_error_setf(reterr, -EINVAL, "no journal");
	if ((r = check_writable(m, reterr)) < 0)
		return r;
	r = apply_ops(m, ops, n, reterr); /* validates: nothing encoded from bad input */
	if (r < 0)
		return r;
	if (lacks_features(m, ops, n)) {
		rollback(m); /* the checkpoint must not hold the ops yet */
		r = require_features(m, ops, n, reterr);
		if (r < 0)
			return r;
		r = apply_ops(m, ops, n, reterr);
		if (r < 0)
			return r;
	}
	r = encode_group(m, REC_GROUP, ops, n, reterr);
	if (r == 0)
		r = append(m, reterr);
	if (r < 0) {
		rollback(m);
		return r;
	}
	commit_undo(m);
	maybe_compact(m);
	return 0;
}

/* ---- intents ---- */

static int intent_new(const struct thinsnap_meta_intent *src, uint64_t id, const uint8_t *ops,
		      size_t ops_len, const struct thinsnap_meta_op *dops, size_t n_dops,
		      struct intent **ret)
{
	size_t n_touched = 0, sz;
	struct intent *in;

	n_touched = 2 * src->n_pool_ops + n_dops;
	sz = sizeof(*in) + src->n_pool_ops * sizeof(*in->pool_ops) + n_touched * sizeof(uint32_t) +
	     ops_len;
	in = calloc(1, sz);
	if (!in)
		return -ENOMEM;
	in->id = id;
	in->tid_before = src->transaction_id_before;
	in->tid_after = src->transaction_id_after;
	in->n_pool = src->n_pool_ops;
	in->pool_ops = (struct thinsnap_meta_pool_op *)(in + 1);
	in->touched = (uint32_t *)(in->pool_ops + in->n_pool);
	in->ops = (uint8_t *)(in->touched + n_touched);
	in->ops_len = ops_len;
	memcpy(in->ops, ops, ops_len);
	for (size_t i = 0; i < src->n_pool_ops; i++) {
		in->pool_ops[i] = src->pool_ops[i];
		in->touched[in->n_touched++] = src->pool_ops[i].dev_id;
		if (src->pool_ops[i].type == THINSNAP_META_POOL_CREATE_SNAP)
			in->touched[in->n_touched++] = src->pool_ops[i].origin_id;
	}
	for (size_t i = 0; i < n_dops; i++)
		if (dops[i].dev_id && (dops[i].type == THINSNAP_META_OP_SNAP_CREATE ||
				       dops[i].type >= THINSNAP_META_OP_ID_ALLOC))
			in->touched[in->n_touched++] = dops[i].dev_id;
	*ret = in;
	return 0;
}

static int check_pool_ops(const struct thinsnap_meta_intent *in, struct thinsnap_error *reterr)
{
	int r;

	if (in->n_pool_ops && !in->pool_ops)
		return thinsnap_error_setf(reterr, -EINVAL, "pool ops missing");
	if (in->n_pool_ops > 1024)
		return thinsnap_error_setf(reterr, -EINVAL, "too many pool ops");
	for (size_t i = 0; i < in->n_pool_ops; i++) {
		const struct thinsnap_meta_pool_op *p = &in->pool_ops[i];
		if (p->type < THINSNAP_META_POOL_CREATE_THIN || p->type > THINSNAP_META_POOL_DELETE)
			return thinsnap_error_setf(reterr, -EINVAL, "bad pool op type %d",
						   (int)p->type);
		if ((r = check_dev_id(p->dev_id, reterr)) < 0)
			return r;
		if (p->type == THINSNAP_META_POOL_CREATE_SNAP &&
		    (r = check_dev_id(p->origin_id, reterr)) < 0)
			return r;
	}
	return 0;
}

/* Encodes an intent payload into b (after the record header). */
static int put_intent(struct buf *b, uint64_t id, uint64_t before, uint64_t after,
		      const struct thinsnap_meta_pool_op *p, size_t n_pool, const uint8_t *ops,
		      size_t ops_len)
{
	int r = fmt_put_u64(b, id);

	if (r == 0)
		r = fmt_put_u64(b, before);
	if (r == 0)
		r = fmt_put_u64(b, after);
	if (r == 0)
		r = fmt_put_u32(b, (uint32_t)n_pool);
	for (size_t i = 0; r == 0 && i < n_pool; i++) {
		r = fmt_put_u8(b, (uint8_t)p[i].type);
		if (r == 0)
			r = fmt_put_u32(b, p[i].dev_id);
		if (r == 0)
			r = fmt_put_u32(b, p[i].type == THINSNAP_META_POOL_CREATE_SNAP
						   ? p[i].origin_id
						   : 0);
	}
	if (r == 0 && (r = buf_reserve(b, ops_len)) == 0) {
		memcpy(b->p + b->len, ops, ops_len);
		b->len += ops_len;
	}
	return r;
}

int thinsnap_meta_intent_begin(struct thinsnap_meta *m, const struct thinsnap_meta_intent *src,
			       uint64_t *ret_intent_id, struct thinsnap_error *reterr)
{
	CLEANUP_FREE struct intent *in = NULL;
	struct buf ops = { 0 };
	size_t start = 0;
	uint64_t id;
	int r;

	if (!m || !src)
		return thinsnap_error_setf(reterr, -EINVAL, "no journal or intent");
	if ((r = check_writable(m, reterr)) < 0 || (r = check_pool_ops(src, reterr)) < 0)
		return r;
	r = apply_ops(m, src->ops, src->n_ops, reterr); /* a dry run */
	if (r < 0)
		return r;
	rollback(m);
	r = require_features(m, src->ops, src->n_ops, reterr);
	if (r < 0)
		return r;
	id = m->next_seq;
	r = fmt_put_ops(&ops, src->ops, src->n_ops);
	if (r == 0)
		r = intent_new(src, id, ops.p, ops.len, src->ops, src->n_ops, &in);
	if (r < 0) {
		buf_free(&ops);
		return thinsnap_error_setf(reterr, r, "out of memory");
	}
	buf_free(&ops);
	for (size_t i = 0; i < in->n_touched; i++) {
		const struct intent *o = intent_touching(m, in->touched[i]);
		if (o)
			return thinsnap_error_setf(reterr, -EBUSY,
						   "dev_id %" PRIu32
						   " is touched by unfinished intent %" PRIu64,
						   in->touched[i], o->id);
	}
	m->wbuf.len = 0;
	r = fmt_rec_begin(&m->wbuf, &start);
	if (r == 0)
		r = put_intent(&m->wbuf, id, in->tid_before, in->tid_after, in->pool_ops,
			       in->n_pool, in->ops, in->ops_len);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	if (m->wbuf.len - REC_HEADER_SIZE > REC_PAYLOAD_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "intent larger than %u bytes",
					   REC_PAYLOAD_MAX);
	fmt_rec_end(&m->wbuf, start, REC_INTENT, m->next_seq, m->hdr.salt);
	r = append(m, reterr);
	if (r < 0)
		return r;
	intent_link(m, TAKE_PTR(in));
	*ret_intent_id = id;
	maybe_compact(m);
	return 0;
}

/* Applies (completed) or drops an intent in memory, with undo entries. */
static int intent_resolve(struct thinsnap_meta *m, struct intent *in, bool completed,
			  struct thinsnap_error *reterr)
{
	int r;

	if (completed) {
		struct rd rd = { .p = in->ops, .len = in->ops_len };
		const struct thinsnap_meta_op *ops = NULL;
		size_t n = 0;

		r = fmt_get_ops(&rd, &m->scratch, &ops, &n);
		if (r < 0)
			return thinsnap_error_setf(reterr, r == -ENOMEM ? r : -EUCLEAN,
						   "intent %" PRIu64 ": cannot decode its ops",
						   in->id);
		m->exclude = in;
		r = apply_ops(m, ops, n, reterr);
		m->exclude = NULL;
		if (r < 0)
			return r;
	} else {
		r = undo_reserve(m, 1);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "out of memory");
	}
	intent_unlink(m, in);
	undo_push(m, (struct undo){ .type = U_INTENT_DEL, .in = in });
	return 0;
}

static int intent_finish(struct thinsnap_meta *m, uint64_t intent_id, bool completed, bool lazy,
			 struct thinsnap_error *reterr)
{
	struct intent *in;
	size_t start = 0;
	int r;

	if (!m)
		return thinsnap_error_setf(reterr, -EINVAL, "no journal");
	if ((r = check_writable(m, reterr)) < 0)
		return r;
	in = intent_find(m, intent_id);
	if (!in)
		return thinsnap_error_setf(reterr, -ENOENT, "no unfinished intent %" PRIu64,
					   intent_id);
	m->wbuf.len = 0;
	r = fmt_rec_begin(&m->wbuf, &start);
	if (r == 0)
		r = fmt_put_u64(&m->wbuf, intent_id);
	if (r == 0)
		r = fmt_put_u8(&m->wbuf, completed ? 1 : 0);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	fmt_rec_end(&m->wbuf, start, REC_INTENT_END, m->next_seq, m->hdr.salt);
	r = intent_resolve(m, in, completed, reterr);
	if (r < 0)
		return r;
	r = append_record(m, lazy, reterr);
	if (r < 0) {
		rollback(m);
		return r;
	}
	commit_undo(m);
	maybe_compact(m);
	return 0;
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

static int fill_intent(struct thinsnap_meta *m, const struct intent *in,
		       struct thinsnap_meta_intent *out)
{
	struct rd rd = { .p = in->ops, .len = in->ops_len };
	int r;

	*out = (struct thinsnap_meta_intent){
		.id = in->id,
		.pool_ops = in->pool_ops,
		.n_pool_ops = in->n_pool,
		.transaction_id_before = in->tid_before,
		.transaction_id_after = in->tid_after,
	};
	r = fmt_get_ops(&rd, &m->scratch, &out->ops, &out->n_ops);
	return r == -ENOMEM ? r : r < 0 ? -EUCLEAN : 0;
}

int thinsnap_meta_unfinished(struct thinsnap_meta *m, thinsnap_meta_intent_cb cb, void *userdata)
{
	if (!m || !cb)
		return -EINVAL;
	for (struct intent *in = m->intents_head; in; in = in->next) {
		struct thinsnap_meta_intent out;
		int r = fill_intent(m, in, &out);
		if (r < 0)
			return r;
		r = cb(&out, userdata);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- queries ---- */

const struct thinsnap_meta_snap *thinsnap_meta_get(struct thinsnap_meta *m, const char *key)
{
	struct entry *e = m ? find(m, key) : NULL;

	return e ? &e->pub : NULL;
}

bool thinsnap_meta_has_children(struct thinsnap_meta *m, const char *key)
{
	struct entry *e = m ? find(m, key) : NULL;

	return e && e->first_child;
}

int thinsnap_meta_children(struct thinsnap_meta *m, const char *key, thinsnap_meta_snap_cb cb,
			   void *userdata)
{
	struct entry *e = m ? find(m, key) : NULL;

	if (!e)
		return -ENOENT;
	for (struct entry *c = e->first_child; c; c = c->next_sib) {
		int r = cb(&c->pub, userdata);
		if (r < 0)
			return r;
	}
	return 0;
}

int thinsnap_meta_walk(struct thinsnap_meta *m, thinsnap_meta_snap_cb cb, void *userdata)
{
	if (!m || !cb)
		return -EINVAL;
	for (size_t i = 0; i < m->n_slots; i++) {
		if (m->slots[i]) {
			int r = cb(&m->slots[i]->pub, userdata);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

size_t thinsnap_meta_count(struct thinsnap_meta *m)
{
	return m ? m->count : 0;
}

uint64_t thinsnap_meta_journal_bytes(struct thinsnap_meta *m)
{
	return m ? m->end : 0;
}

bool thinsnap_meta_same_position(struct thinsnap_meta *a, struct thinsnap_meta *b)
{
	if (!a || !b)
		return a == b;
	return a->hdr.generation == b->hdr.generation && a->hdr.salt == b->hdr.salt &&
	       a->next_seq == b->next_seq && a->end == b->end;
}

int thinsnap_meta_alloc_dev_id(struct thinsnap_meta *m, uint32_t *ret_dev_id,
			       struct thinsnap_error *reterr)
{
	if (!m || !ret_dev_id)
		return thinsnap_error_setf(reterr, -EINVAL, "no journal");
	for (size_t w = 0; w < ID_WORDS; w++) {
		uint64_t used = map_word(m, MAP_ENTRY, w) | map_word(m, MAP_RESERVED, w) |
				map_word(m, MAP_PENDING, w);
		if (w == 0)
			used |= 1; /* dev_id 0 is reserved */
		while (~used) {
			unsigned b = (unsigned)__builtin_ctzll(~used);
			uint32_t id = (uint32_t)(w * 64 + b);
			if (!intent_touching(m, id)) {
				*ret_dev_id = id;
				return 0;
			}
			used |= 1ull << b;
		}
	}
	return thinsnap_error_setf(reterr, -ENOSPC, "no free dev_id");
}

bool thinsnap_meta_delete_pending(struct thinsnap_meta *m, uint32_t dev_id)
{
	return m && dev_id < THINSNAP_META_DEV_ID_LIMIT && map_get(m, MAP_PENDING, dev_id);
}

int thinsnap_meta_each_delete_pending(struct thinsnap_meta *m,
				      int (*cb)(uint32_t dev_id, void *userdata), void *userdata)
{
	if (!m || !cb)
		return -EINVAL;
	for (size_t w = 0; w < ID_WORDS; w++) {
		uint64_t bits;
		if (w % CHUNK_WORDS == 0 && !m->maps[MAP_PENDING][w / CHUNK_WORDS]) {
			w += CHUNK_WORDS - 1; /* a chunk never used */
			continue;
		}
		bits = map_word(m, MAP_PENDING, w);
		while (bits) {
			unsigned b = (unsigned)__builtin_ctzll(bits);
			int r = cb((uint32_t)(w * 64 + b), userdata);
			if (r < 0)
				return r;
			bits &= bits - 1;
		}
	}
	return 0;
}

/* ---- files ---- */

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
 * directory. On success *ret_fd is the new file, open read-write.
 */
static int replace_journal(struct thinsnap_meta *m, const uint8_t *buf, size_t len, int *ret_fd,
			   bool *ret_renamed)
{
	CLEANUP_CLOSE int fd = -EBADF;
	int r;

	fd = openat(m->dirfd, JOURNAL_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	r = write_all(m, fd, buf, len, 0);
	if (r == 0)
		r = io_sync(m, fd, false); /* data is durable before its name is */
	if (r == 0)
		r = THINSNAP_FAULT("meta.compact.before_rename");
	if (r == 0 && renameat(m->dirfd, JOURNAL_TMP, m->dirfd, JOURNAL_NAME) < 0)
		r = -errno;
	if (r < 0) {
		(void)unlinkat(m->dirfd, JOURNAL_TMP, 0);
		return r;
	}
	*ret_renamed = true;
	r = io_sync(m, m->dirfd, false); /* make the rename durable */
	if (r < 0)
		return r;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int emit_entry(struct buf *b, uint64_t *seq, uint64_t salt, const struct entry *e)
{
	struct thinsnap_meta_op o = {
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
	};
	size_t start = 0;
	int r = fmt_rec_begin(b, &start);

	if (r == 0)
		r = fmt_put_ops(b, &o, 1);
	if (r == 0)
		fmt_rec_end(b, start, REC_GROUP, (*seq)++, salt);
	return r;
}

static int emit_ids(struct thinsnap_meta *m, struct buf *b, uint64_t *seq, uint64_t salt, int map,
		    enum thinsnap_meta_op_type type)
{
	size_t start = 0, count_at = 0;
	uint32_t count = 0;
	int r = 0;

	for (size_t w = 0; w < ID_WORDS; w++) {
		uint64_t bits;
		if (w % CHUNK_WORDS == 0 && !m->maps[map][w / CHUNK_WORDS]) {
			w += CHUNK_WORDS - 1; /* a chunk never used */
			continue;
		}
		bits = map_word(m, map, w);
		while (bits) {
			unsigned bit = (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			if (count == 0) {
				if ((r = fmt_rec_begin(b, &start)) < 0 ||
				    (r = fmt_put_u32(b, 0)) < 0)
					return r;
				count_at = b->len - 4;
			}
			if ((r = fmt_put_u8(b, (uint8_t)type)) < 0 ||
			    (r = fmt_put_u32(b, (uint32_t)(w * 64 + bit))) < 0)
				return r;
			if (++count == 4096) {
				put_le32(b->p + count_at, count);
				fmt_rec_end(b, start, REC_GROUP, (*seq)++, salt);
				count = 0;
			}
		}
	}
	if (count) {
		put_le32(b->p + count_at, count);
		fmt_rec_end(b, start, REC_GROUP, (*seq)++, salt);
	}
	return 0;
}

/* The whole state as a new journal generation: header + checkpoint records. */
static int build_checkpoint(struct thinsnap_meta *m, struct buf *b, struct jnl_header *h)
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
	if ((r = buf_reserve(b, JNL_HEADER_SIZE)) < 0)
		return r;
	b->len = JNL_HEADER_SIZE;
	/* entries parent first: a pre-order walk from every root */
	for (size_t i = 0; i < m->n_slots; i++) {
		struct entry *root = m->slots[i], *e;
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
	for (struct intent *in = m->intents_head; in; in = in->next) {
		if ((r = fmt_rec_begin(b, &start)) < 0 ||
		    (r = put_intent(b, in->id, in->tid_before, in->tid_after, in->pool_ops,
				    in->n_pool, in->ops, in->ops_len)) < 0)
			return r;
		fmt_rec_end(b, start, REC_INTENT, seq++, h->salt);
	}
	h->checkpoint_end = b->len;
	fmt_header_encode(h, b->p);
	m->next_seq = seq; /* restored by the caller on failure */
	return 0;
}

int thinsnap_meta_compact(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	struct buf b = { 0 };
	struct jnl_header h;
	uint64_t old_seq;
	int fd = -EBADF, r;
	bool renamed = false;

	if (!m)
		return thinsnap_error_setf(reterr, -EINVAL, "no journal");
	if ((r = check_writable(m, reterr)) < 0)
		return r;
	old_seq = m->next_seq;
	r = build_checkpoint(m, &b, &h);
	if (r < 0) {
		m->next_seq = old_seq;
		buf_free(&b);
		return thinsnap_error_setf(reterr, r, "checkpointing the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	}
	r = replace_journal(m, b.p, b.len, &fd, &renamed);
	if (r < 0) {
		buf_free(&b);
		m->next_seq = old_seq;
		/* unknown whether the rename is durable: both files hold the same state, but
		 * appends must not go to a file that may vanish */
		if (renamed)
			m->failed = r;
		return thinsnap_error_setf(reterr, r, "checkpointing the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	}
	(void)close(m->fd);
	m->fd = fd;
	m->hdr = h;
	m->end = b.len;
	buf_free(&b);
	(void)THINSNAP_FAULT("meta.compact.after_rename");
	return 0;
}

/* ---- open and replay ---- */

static int replay_record(struct thinsnap_meta *m, const struct rec_view *v,
			 struct thinsnap_error *reterr)
{
	struct rd rd = { .p = v->payload, .len = v->len };
	const struct thinsnap_meta_op *ops = NULL;
	size_t n = 0;
	int r;

	switch (v->type) {
	case REC_GROUP:
		r = fmt_get_ops(&rd, &m->scratch, &ops, &n);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "malformed group");
		if (rd.pos != rd.len)
			return thinsnap_error_setf(reterr, -EBADMSG, "trailing bytes");
		return apply_ops(m, ops, n, reterr);
	case REC_INTENT: {
		struct thinsnap_meta_pool_op pool[1024];
		struct thinsnap_meta_intent src = { 0 };
		struct intent *in = NULL;
		uint64_t id = fmt_get_u64(&rd);
		size_t ops_at;
		uint32_t np;

		src.transaction_id_before = fmt_get_u64(&rd);
		src.transaction_id_after = fmt_get_u64(&rd);
		np = fmt_get_u32(&rd);
		if (rd.bad || np > ELEMENTSOF(pool))
			return thinsnap_error_setf(reterr, -EBADMSG, "malformed intent");
		for (uint32_t i = 0; i < np; i++) {
			pool[i].type = fmt_get_u8(&rd);
			pool[i].dev_id = fmt_get_u32(&rd);
			pool[i].origin_id = fmt_get_u32(&rd);
		}
		src.pool_ops = pool;
		src.n_pool_ops = np;
		if (rd.bad || check_pool_ops(&src, reterr) < 0)
			return thinsnap_error_setf(reterr, -EBADMSG, "malformed intent");
		ops_at = rd.pos;
		r = fmt_get_ops(&rd, &m->scratch, &ops, &n);
		if (r < 0 || rd.pos != rd.len)
			return thinsnap_error_setf(reterr, r == -ENOMEM ? r : -EBADMSG,
						   "malformed intent ops");
		if (intent_find(m, id))
			return thinsnap_error_setf(reterr, -EBADMSG, "duplicate intent %" PRIu64,
						   id);
		r = intent_new(&src, id, v->payload + ops_at, v->len - ops_at, ops, n, &in);
		if (r == 0)
			r = undo_reserve(m, 1);
		if (r < 0) {
			free(in);
			return thinsnap_error_setf(reterr, r, "out of memory");
		}
		intent_link(m, in);
		undo_push(m, (struct undo){ .type = U_INTENT_ADD, .in = in });
		return 0;
	}
	case REC_INTENT_END: {
		uint64_t id = fmt_get_u64(&rd);
		uint8_t done = fmt_get_u8(&rd);
		struct intent *in;

		if (rd.bad || rd.pos != rd.len || done > 1)
			return thinsnap_error_setf(reterr, -EBADMSG, "malformed intent end");
		in = intent_find(m, id);
		if (!in)
			return thinsnap_error_setf(reterr, -EBADMSG,
						   "end of unknown intent %" PRIu64, id);
		return intent_resolve(m, in, done, reterr);
	}
	}
	return thinsnap_error_setf(reterr, -EBADMSG, "unknown record type %u", v->type);
}

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
		if (p[o] == (REC_MAGIC & 0xff) && fmt_rec_check(p + o, size - o, &v) &&
		    v.salt == salt)
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
	r = fmt_header_decode(p, avail, &m->hdr);
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
		if (!fmt_rec_check(p, avail, &v) || v.salt != m->hdr.salt || v.seq != m->next_seq)
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
		commit_undo(m);
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
			r = io_sync(m, m->fd, true);
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

/* The lock holder's command name ("thinsnapd") from /proc, or "" when unknown. */
static void holder_name(long pid, char *buf, size_t len)
{
	char path[64];
	ssize_t k = -1;
	int fd;

	buf[0] = '\0';
	if (pid <= 0)
		return;
	(void)snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		k = read(fd, buf, len - 1);
		(void)close(fd);
	}
	if (k <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[k] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static int take_lock(struct thinsnap_meta *m, struct thinsnap_error *reterr)
{
	char comm[32];
	char pid[32];
	int n;

	m->lockfd = openat(m->dirfd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (m->lockfd < 0)
		return thinsnap_error_setf(reterr, -errno, "opening '%s/" LOCK_NAME "': %m",
					   m->state_dir);
	if (flock(m->lockfd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		long holder = 0;
		ssize_t k;

		if (e != EWOULDBLOCK)
			return thinsnap_error_setf(reterr, -e, "locking '%s/" LOCK_NAME "': %s",
						   m->state_dir, strerror(e));
		k = pread(m->lockfd, pid, sizeof(pid) - 1, 0);
		if (k > 0) {
			pid[k] = '\0';
			holder = strtol(pid, NULL, 10);
		}
		holder_name(holder, comm, sizeof(comm));
		return thinsnap_error_setf(
			reterr, -EAGAIN,
			"state directory '%s' is locked by another writer (%s%spid %ld)",
			m->state_dir, comm, comm[0] ? ", " : "", holder);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(m->lockfd, 0) < 0 || pwrite(m->lockfd, pid, (size_t)n, 0) != n)
		return thinsnap_error_setf(reterr, -errno, "writing '%s/" LOCK_NAME "': %m",
					   m->state_dir);
	return 0;
}

static int create_journal(struct thinsnap_meta *m, const char *pool_uuid,
			  struct thinsnap_error *reterr)
{
	uint8_t h[JNL_HEADER_SIZE];
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
	if (r == 0) {
		fmt_header_encode(&m->hdr, h);
		r = replace_journal(m, h, sizeof(h), &m->fd, &renamed);
	}
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "creating the journal in '%s': %s",
					   m->state_dir, strerror(-r));
	m->end = JNL_HEADER_SIZE;
	m->next_seq = 1;
	return 0;
}

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
	return io_sync(m, fd, false);
}

void thinsnap_meta_free(struct thinsnap_meta *m)
{
	if (!m)
		return;
	rollback(m); /* nothing pending normally */
	if (m->unsynced && m->fd >= 0)
		(void)io_sync(m, m->fd, true); /* a lazy completion: make it durable now */
	for (size_t i = 0; i < m->n_slots; i++)
		entry_free(m->slots[i]);
	free(m->slots);
	while (m->intents_head) {
		struct intent *in = m->intents_head;
		intent_unlink(m, in);
		intent_free(in);
	}
	for (int i = 0; i < N_MAPS; i++)
		for (size_t c = 0; c < N_CHUNKS; c++)
			free(m->maps[i][c]);
	free(m->undo);
	buf_free(&m->wbuf);
	op_scratch_free(&m->scratch);
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
	if (!m->read_only && (r = take_lock(m, reterr)) < 0)
		return r;
	m->fd = openat(m->dirfd, JOURNAL_NAME,
		       (m->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (m->fd < 0 && (errno != ENOENT || m->read_only))
		return thinsnap_error_setf(reterr, -errno, "opening the journal in '%s': %m",
					   m->state_dir);
	if (m->fd < 0) {
		r = create_journal(m, opts->pool_uuid, reterr);
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
		maybe_compact(m);
	*ret_m = TAKE_PTR(m);
	return 0;
}

/*
 * meta/: the in-memory index (meta/index.h): an open-addressing hash of entries by key with
 * backward-shift deletion, intrusive parent/child lists, label blocks allocated with their
 * entry, dev_id bitmaps in chunks allocated on first use, and the list of unfinished intents.
 * No I/O and no validation: meta/apply.c checks ops before they reach these functions.
 */
#include "meta/index.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t thinsnap_meta_hash_key(const char *s, size_t n)
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

uint64_t thinsnap_meta_map_word(struct thinsnap_meta_index *ix, int map, size_t w)
{
	const uint64_t *c = ix->maps[map][w / CHUNK_WORDS];

	return c ? c[w % CHUNK_WORDS] : 0;
}

bool thinsnap_meta_map_get(struct thinsnap_meta_index *ix, int map, uint32_t id)
{
	return (thinsnap_meta_map_word(ix, map, id / 64) >> (id % 64)) & 1;
}

/* Allocates the chunk holding id, so that setting its bit cannot fail. */
int thinsnap_meta_map_prepare(struct thinsnap_meta_index *ix, int map, uint32_t id)
{
	uint64_t **c = &ix->maps[map][id / 64 / CHUNK_WORDS];

	if (!*c)
		*c = calloc(CHUNK_WORDS, sizeof(uint64_t));
	return *c ? 0 : -ENOMEM;
}

void thinsnap_meta_map_put(struct thinsnap_meta_index *ix, int map, uint32_t id, bool v)
{
	uint64_t *c = ix->maps[map][id / 64 / CHUNK_WORDS];
	size_t w = id / 64 % CHUNK_WORDS;

	if (!c) {
		if (v)
			abort(); /* thinsnap_meta_map_prepare() first */
		return;
	}
	if (v)
		c[w] |= 1ull << (id % 64);
	else
		c[w] &= ~(1ull << (id % 64));
}

int thinsnap_meta_map_each(struct thinsnap_meta_index *ix, int map,
			   int (*cb)(uint32_t id, void *userdata), void *userdata)
{
	for (size_t w = 0; w < ID_WORDS; w++) {
		uint64_t bits;
		if (w % CHUNK_WORDS == 0 && !ix->maps[map][w / CHUNK_WORDS]) {
			w += CHUNK_WORDS - 1; /* a chunk never used */
			continue;
		}
		bits = thinsnap_meta_map_word(ix, map, w);
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

const struct intent *thinsnap_meta_intent_touching(struct thinsnap_meta_index *ix, uint32_t id)
{
	for (struct intent *in = ix->intents_head; in; in = in->next) {
		if (in == ix->exclude)
			continue;
		for (size_t i = 0; i < in->n_touched; i++)
			if (in->touched[i] == id)
				return in;
	}
	return NULL;
}

size_t thinsnap_meta_index_slot(struct thinsnap_meta_index *ix, const char *key, size_t len,
				uint64_t h)
{
	size_t mask = ix->n_slots - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		struct entry *e = ix->slots[i];
		if (!e ||
		    (ix->slot_hash[i] == h && e->key_len == len && memcmp(e->key, key, len) == 0))
			return i;
	}
}

struct entry *thinsnap_meta_index_find(struct thinsnap_meta_index *ix, const char *key)
{
	size_t len;

	if (!key || ix->n_slots == 0)
		return NULL;
	len = strnlen(key, THINSNAP_META_KEY_MAX + 1);
	if (len == 0 || len > THINSNAP_META_KEY_MAX)
		return NULL;
	return ix->slots[thinsnap_meta_index_slot(ix, key, len, thinsnap_meta_hash_key(key, len))];
}

/* Makes room for `more` inserts without allocating later (undo must not allocate). */
int thinsnap_meta_index_reserve(struct thinsnap_meta_index *ix, size_t more)
{
	size_t want = ix->count + more, n = ix->n_slots ? ix->n_slots : 64;
	struct entry **s;
	uint64_t *sh;

	while (want > n / 2) /* load factor <= 1/2 */
		n *= 2;
	if (n == ix->n_slots)
		return 0;
	s = calloc(n, sizeof(*s) + sizeof(*sh)); /* one block: pointers, then hashes */
	if (!s)
		return -ENOMEM;
	sh = (uint64_t *)(s + n);
	for (size_t i = 0; i < ix->n_slots; i++) {
		struct entry *e = ix->slots[i];
		size_t j;
		if (!e)
			continue;
		for (j = e->hash & (n - 1); s[j]; j = (j + 1) & (n - 1))
			;
		s[j] = e;
		sh[j] = e->hash;
	}
	free(ix->slots);
	ix->slots = s;
	ix->slot_hash = sh;
	ix->n_slots = n;
	return 0;
}

/* Links e into the index at slot i (its free slot, found by thinsnap_meta_index_slot()). */
void thinsnap_meta_index_link_at(struct thinsnap_meta_index *ix, struct entry *e, size_t i)
{
	if (ix->slots[i])
		abort(); /* callers checked for duplicates */
	ix->slots[i] = e;
	ix->slot_hash[i] = e->hash;
	ix->count++;
	thinsnap_meta_map_put(ix, MAP_ENTRY, e->pub.dev_id, true);
	e->pub.parent = e->parent ? e->parent->pub.key : NULL;
	e->next_sib = e->prev_sib = NULL;
	if (e->parent) {
		e->next_sib = e->parent->first_child;
		if (e->next_sib)
			e->next_sib->prev_sib = e;
		e->parent->first_child = e;
	}
}

void thinsnap_meta_index_link(struct thinsnap_meta_index *ix, struct entry *e)
{
	thinsnap_meta_index_link_at(ix, e,
				    thinsnap_meta_index_slot(ix, e->key, e->key_len, e->hash));
}

void thinsnap_meta_index_unlink(struct thinsnap_meta_index *ix, struct entry *e)
{
	size_t mask = ix->n_slots - 1,
	       i = thinsnap_meta_index_slot(ix, e->key, e->key_len, e->hash), j = i;

	/* backward-shift deletion keeps probe chains intact without tombstones */
	ix->slots[i] = NULL;
	for (;;) {
		size_t home;
		j = (j + 1) & mask;
		if (!ix->slots[j])
			break;
		home = ix->slot_hash[j] & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			ix->slots[i] = ix->slots[j];
			ix->slot_hash[i] = ix->slot_hash[j];
			ix->slots[j] = NULL;
			i = j;
		}
	}
	ix->count--;
	if (ix->last_created == e)
		ix->last_created = NULL;
	thinsnap_meta_map_put(ix, MAP_ENTRY, e->pub.dev_id, false);
	if (e->prev_sib)
		e->prev_sib->next_sib = e->next_sib;
	else if (e->parent)
		e->parent->first_child = e->next_sib;
	if (e->next_sib)
		e->next_sib->prev_sib = e->prev_sib;
	e->next_sib = e->prev_sib = NULL;
}

void thinsnap_meta_entry_set_lblk(struct entry *e, struct lblk *lb)
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

struct lblk *thinsnap_meta_lblk_new(const char *fs_type, const struct thinsnap_meta_label *l,
				    size_t n)
{
	struct lblk *lb = malloc(lblk_size(fs_type, l, n));

	if (lb)
		lblk_fill(lb, fs_type, l, n);
	return lb;
}

/* Frees a label block of e unless it is the one allocated with e. */
void thinsnap_meta_lblk_release(struct entry *e, struct lblk *lb)
{
	if (lb != e->lb_inline)
		free(lb);
}

void thinsnap_meta_entry_free(struct entry *e)
{
	if (!e)
		return;
	thinsnap_meta_lblk_release(e, e->lb);
	free(e);
}

void thinsnap_meta_intent_free(struct intent *in)
{
	free(in); /* one allocation */
}

void thinsnap_meta_intent_link(struct thinsnap_meta_index *ix, struct intent *in)
{
	in->next = NULL;
	in->prev = ix->intents_tail;
	if (ix->intents_tail)
		ix->intents_tail->next = in;
	else
		ix->intents_head = in;
	ix->intents_tail = in;
	ix->n_intents++;
}

void thinsnap_meta_intent_unlink(struct thinsnap_meta_index *ix, struct intent *in)
{
	if (in->prev)
		in->prev->next = in->next;
	else
		ix->intents_head = in->next;
	if (in->next)
		in->next->prev = in->prev;
	else
		ix->intents_tail = in->prev;
	in->next = in->prev = NULL;
	ix->n_intents--;
}

struct intent *thinsnap_meta_intent_find(struct thinsnap_meta_index *ix, uint64_t id)
{
	for (struct intent *in = ix->intents_head; in; in = in->next)
		if (in->id == id)
			return in;
	return NULL;
}

/* One allocation: the entry, its key, and its first label block. */
int thinsnap_meta_entry_new(const struct thinsnap_meta_op *o, const char *key, size_t kl,
			    uint64_t h, struct entry *parent, struct entry **ret)
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
	thinsnap_meta_entry_set_lblk(e, e->lb);
	*ret = e;
	return 0;
}

int thinsnap_meta_intent_new(const struct thinsnap_meta_intent *src, uint64_t id,
			     const uint8_t *ops, size_t ops_len,
			     const struct thinsnap_meta_op *dops, size_t n_dops,
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

void thinsnap_meta_index_free(struct thinsnap_meta_index *ix)
{
	assert(ix->n_undo == 0);
	for (size_t i = 0; i < ix->n_slots; i++)
		thinsnap_meta_entry_free(ix->slots[i]);
	free(ix->slots);
	while (ix->intents_head) {
		struct intent *in = ix->intents_head;
		thinsnap_meta_intent_unlink(ix, in);
		thinsnap_meta_intent_free(in);
	}
	for (int i = 0; i < N_MAPS; i++)
		for (size_t c = 0; c < N_CHUNKS; c++)
			free(ix->maps[i][c]);
	free(ix->undo);
	*ix = (struct thinsnap_meta_index){ 0 };
}

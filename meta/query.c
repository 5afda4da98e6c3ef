/*
 * meta/: the reads of the journal's state: entries by key, children, walks, counts, the
 * dev_id allocator, pending deletes and unfinished intents, and where the journal stands.
 * All in memory, no I/O.
 */
#include <errno.h>
#include <stdlib.h>

#include "meta/internal.h"

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
	r = thinsnap_meta_fmt_get_ops(&rd, &m->scratch, &out->ops, &out->n_ops);
	return r == -ENOMEM ? r : r < 0 ? -EUCLEAN : 0;
}

int thinsnap_meta_unfinished(struct thinsnap_meta *m, thinsnap_meta_intent_cb cb, void *userdata)
{
	if (!m || !cb)
		return -EINVAL;
	for (struct intent *in = m->ix.intents_head; in; in = in->next) {
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

const struct thinsnap_meta_snap *thinsnap_meta_get(struct thinsnap_meta *m, const char *key)
{
	struct entry *e = m ? thinsnap_meta_index_find(&m->ix, key) : NULL;

	return e ? &e->pub : NULL;
}

bool thinsnap_meta_has_children(struct thinsnap_meta *m, const char *key)
{
	struct entry *e = m ? thinsnap_meta_index_find(&m->ix, key) : NULL;

	return e && e->first_child;
}

int thinsnap_meta_children(struct thinsnap_meta *m, const char *key, thinsnap_meta_snap_cb cb,
			   void *userdata)
{
	struct entry *e = m ? thinsnap_meta_index_find(&m->ix, key) : NULL;

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
	for (size_t i = 0; i < m->ix.n_slots; i++) {
		if (m->ix.slots[i]) {
			int r = cb(&m->ix.slots[i]->pub, userdata);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

size_t thinsnap_meta_count(struct thinsnap_meta *m)
{
	return m ? m->ix.count : 0;
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
		uint64_t used = thinsnap_meta_map_word(&m->ix, MAP_ENTRY, w) |
				thinsnap_meta_map_word(&m->ix, MAP_RESERVED, w) |
				thinsnap_meta_map_word(&m->ix, MAP_PENDING, w);
		if (w == 0)
			used |= 1; /* dev_id 0 is reserved */
		while (~used) {
			unsigned b = (unsigned)__builtin_ctzll(~used);
			uint32_t id = (uint32_t)(w * 64 + b);
			if (!thinsnap_meta_intent_touching(&m->ix, id)) {
				*ret_dev_id = id;
				return 0;
			}
			used |= 1ull << b;
		}
	}
	return thinsnap_error_setf(reterr, -ENOSPC, "no free dev_id");
}

bool thinsnap_meta_dev_id_known(struct thinsnap_meta *m, uint32_t dev_id)
{
	return m && dev_id < THINSNAP_META_DEV_ID_LIMIT &&
	       (thinsnap_meta_map_get(&m->ix, MAP_ENTRY, dev_id) ||
		thinsnap_meta_map_get(&m->ix, MAP_RESERVED, dev_id) ||
		thinsnap_meta_map_get(&m->ix, MAP_PENDING, dev_id) ||
		thinsnap_meta_intent_touching(&m->ix, dev_id));
}

bool thinsnap_meta_writer_died(const struct thinsnap_meta *m)
{
	return m && m->writer_died;
}

bool thinsnap_meta_delete_pending(struct thinsnap_meta *m, uint32_t dev_id)
{
	return m && dev_id < THINSNAP_META_DEV_ID_LIMIT &&
	       thinsnap_meta_map_get(&m->ix, MAP_PENDING, dev_id);
}

int thinsnap_meta_each_delete_pending(struct thinsnap_meta *m,
				      int (*cb)(uint32_t dev_id, void *userdata), void *userdata)
{
	if (!m || !cb)
		return -EINVAL;
	return thinsnap_meta_map_each(&m->ix, MAP_PENDING, cb, userdata);
}

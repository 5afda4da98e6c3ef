/*
 * A journal's state as one number (tests/lib/meta-sig.h): hashes of every entry summed (so
 * the walk order does not matter), mixed with the pending deletes, the unfinished intents and
 * the count.
 */
#include "meta-sig.h"

#include <stddef.h>

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static uint64_t hstr(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	if (!s)
		return 7;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static int sig_cb(const struct thinsnap_meta_snap *s, void *ud)
{
	uint64_t h = hstr(s->key);

	h = mix(h, hstr(s->parent));
	h = mix(h, (uint64_t)s->kind);
	h = mix(h, s->dev_id);
	h = mix(h, s->size_bytes);
	h = mix(h, hstr(s->fs_type));
	h = mix(h, s->usage_bytes);
	h = mix(h, (uint64_t)s->updated_ns);
	for (size_t i = 0; i < s->n_labels; i++)
		h = mix(mix(h, hstr(s->labels[i].key)), hstr(s->labels[i].value));
	*(uint64_t *)ud += h; /* order-independent */
	return 0;
}

static int pend_cb(uint32_t id, void *ud)
{
	*(uint64_t *)ud = mix(*(uint64_t *)ud, id);
	return 0;
}

static int int_cb(const struct thinsnap_meta_intent *in, void *ud)
{
	*(uint64_t *)ud = mix(*(uint64_t *)ud, in->transaction_id_before);
	return 0;
}

uint64_t tu_meta_signature(struct thinsnap_meta *m)
{
	uint64_t s = 0, p = 0, i = 0;

	if (thinsnap_meta_walk(m, sig_cb, &s) < 0 ||
	    thinsnap_meta_each_delete_pending(m, pend_cb, &p) < 0 ||
	    thinsnap_meta_unfinished(m, int_cb, &i) < 0)
		return 0;
	return mix(mix(mix(s, p), i), thinsnap_meta_count(m)) | 1;
}

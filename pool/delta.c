/*
 * The changed block ranges between two thin devices, from the pool's metadata: thin_delta
 * (--snap1 base --snap2 dev) or thin_dump --dev-id on the pool's metadata snapshot. Only the
 * mapping trees are compared; no data block is read.
 */
#include "pool/delta.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "pool/internal.h"

/* The value of attribute name="..." in the element [p, end), as a number. */
static int attr_u64(const char *p, const char *end, const char *name, uint64_t *ret)
{
	char pat[40];
	const char *a;
	uint64_t v = 0;

	(void)snprintf(pat, sizeof(pat), " %s=\"", name);
	a = strstr(p, pat);
	if (!a || a >= end)
		return -EBADMSG;
	a += strlen(pat);
	if (*a < '0' || *a > '9')
		return -EBADMSG;
	for (; *a >= '0' && *a <= '9'; a++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -EBADMSG;
		v = v * 10 + (uint64_t)(*a - '0');
	}
	if (*a != '"')
		return -EBADMSG;
	*ret = v;
	return 0;
}

static int add_range(struct thinsnap_pool_delta_range **v, size_t *n, size_t *cap, uint64_t begin,
		     uint64_t length, enum thinsnap_pool_delta_kind kind)
{
	struct thinsnap_pool_delta_range *last = *n ? &(*v)[*n - 1] : NULL;

	if (length == 0 || begin > UINT64_MAX - length)
		return length == 0 ? 0 : -EBADMSG;
	if (last && begin < last->begin + last->length)
		return -EBADMSG; /* the tools print in ascending order, without overlaps */
	if (last && last->kind == kind && last->begin + last->length == begin) {
		last->length += length;
		return 0;
	}
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct thinsnap_pool_delta_range *nv = realloc(*v, nc * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = (struct thinsnap_pool_delta_range){ begin, length, kind };
	return 0;
}

int thinsnap_pool_parse_delta(const char *xml, struct thinsnap_pool_delta_range **ret_ranges,
			      size_t *ret_n, uint32_t *ret_block_sectors)
{
	CLEANUP_FREE struct thinsnap_pool_delta_range *v = NULL;
	size_t n = 0, cap = 0;
	uint64_t bs = 0;
	const char *p, *end;
	int r;

	p = strstr(xml, "<superblock ");
	if (!p || !(end = strchr(p, '>')))
		return -EBADMSG;
	r = attr_u64(p, end, "data_block_size", &bs);
	if (r < 0 || bs == 0 || bs > UINT32_MAX)
		return -EBADMSG;
	for (p = end; (p = strchr(p, '<'));) {
		static const struct {
			const char *tag;
			enum thinsnap_pool_delta_kind kind; /* 0: not a change */
			bool single;                        /* single_mapping: one block */
		} tags[] = {
			{ "<different ", THINSNAP_POOL_DELTA_DATA, false },
			{ "<right_only ", THINSNAP_POOL_DELTA_DATA, false },
			{ "<left_only ", THINSNAP_POOL_DELTA_HOLE, false },
			{ "<same ", 0, false },
			{ "<range_mapping ", THINSNAP_POOL_DELTA_DATA, false },
			{ "<single_mapping ", THINSNAP_POOL_DELTA_DATA, true },
		};
		uint64_t begin = 0, length = 1;
		size_t i;

		end = strchr(p, '>');
		if (!end)
			return -EBADMSG;
		for (i = 0; i < ELEMENTSOF(tags); i++)
			if (strncmp(p, tags[i].tag, strlen(tags[i].tag)) == 0)
				break;
		if (i == ELEMENTSOF(tags) || !tags[i].kind) {
			p = end;
			continue;
		}
		if (tags[i].single)
			r = attr_u64(p, end, "origin_block", &begin);
		else if (strncmp(p, "<range_mapping ", 15) == 0)
			r = attr_u64(p, end, "origin_begin", &begin);
		else
			r = attr_u64(p, end, "begin", &begin);
		if (r == 0 && !tags[i].single)
			r = attr_u64(p, end, "length", &length);
		if (r == 0)
			r = add_range(&v, &n, &cap, begin, length, tags[i].kind);
		if (r < 0)
			return r;
		p = end;
	}
	*ret_block_sectors = (uint32_t)bs;
	*ret_n = n;
	*ret_ranges = n ? TAKE_PTR(v) : NULL;
	return 0;
}

int thinsnap_pool_delta(struct thinsnap_pool *pool, uint32_t base_dev_id, uint32_t dev_id,
			struct thinsnap_pool_delta_range **ret_ranges, size_t *ret_n,
			uint32_t *ret_block_sectors, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *out = NULL;
	char meta_path[4096], a[16], b[16];
	bool whole = base_dev_id == THINSNAP_POOL_DELTA_WHOLE;
	int r;

	if (!pool || !ret_ranges || !ret_n || !ret_block_sectors)
		return thinsnap_error_setf(reterr, -EINVAL, "delta: missing argument");
	r = thinsnap_pool_metadata_path(pool, meta_path, sizeof(meta_path), reterr);
	if (r < 0)
		return r;
	(void)snprintf(a, sizeof(a), "%" PRIu32, base_dev_id);
	(void)snprintf(b, sizeof(b), "%" PRIu32, dev_id);
	if (whole) {
		char *argv[] = { "thin_dump", "-m", "--dev-id", b, meta_path, NULL };
		r = thinsnap_pool_run_on_metadata_snap(pool, argv, &out, reterr);
	} else {
		char *argv[] = { "thin_delta", "-m", "--snap1", a, "--snap2", b, meta_path, NULL };
		r = thinsnap_pool_run_on_metadata_snap(pool, argv, &out, reterr);
	}
	if (r == -EIO && !whole) /* thin_delta fails on a dev_id it does not know */
		return thinsnap_error_setf(reterr, -ENOENT,
					   "pool '%s': thin_delta between dev_id %s and %s failed",
					   pool->name, a, b);
	if (r < 0)
		return r;
	if (whole && !strstr(out, "<device ")) /* thin_dump prints nothing for an unknown id */
		return thinsnap_error_setf(reterr, -ENOENT, "pool '%s': no thin device %s",
					   pool->name, b);
	r = thinsnap_pool_parse_delta(out, ret_ranges, ret_n, ret_block_sectors);
	if (r < 0)
		return thinsnap_error_setf(
			reterr, r == -ENOMEM ? r : -EIO, "pool '%s': %s", pool->name,
			r == -ENOMEM ? "out of memory" : "unexpected thin_delta/thin_dump output");
	return 0;
}

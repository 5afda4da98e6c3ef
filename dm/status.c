/*
 * Parsers for the thin-pool and thin status lines and the thin-pool table, as the kernel's
 * drivers/md/dm-thin.c prints them (pool_status, thin_status, emit_flags). Pure functions,
 * unit-tested with real lines and fuzzed (tests/fuzz/fuzz-dm-status.c).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dm/dm.h"

#define MAX_TOKENS 32

struct tokens {
	size_t n;
	const char *s[MAX_TOKENS];
	size_t len[MAX_TOKENS];
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits line into at most MAX_TOKENS tokens; -EINVAL if more. */
static int tokenize(const char *line, struct tokens *t)
{
	const char *p = line;

	t->n = 0;
	for (;;) {
		while (*p && is_space(*p))
			p++;
		if (!*p)
			return 0;
		if (t->n == MAX_TOKENS)
			return -EINVAL;
		t->s[t->n] = p;
		while (*p && !is_space(*p))
			p++;
		t->len[t->n] = (size_t)(p - t->s[t->n]);
		t->n++;
	}
}

static bool tok_is(const struct tokens *t, size_t i, const char *word)
{
	return t->len[i] == strlen(word) && memcmp(t->s[i], word, t->len[i]) == 0;
}

/* Parses decimal digits s[0..len) into *ret; -EINVAL if empty, not digits or overflow. */
static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static int tok_u64(const struct tokens *t, size_t i, uint64_t *ret)
{
	return parse_u64(t->s[i], t->len[i], ret);
}

/* "<a><sep><b>" */
static int tok_pair(const struct tokens *t, size_t i, char sep, uint64_t *a, uint64_t *b)
{
	const char *s = t->s[i];
	const char *m = memchr(s, sep, t->len[i]);

	if (!m)
		return -EINVAL;
	if (parse_u64(s, (size_t)(m - s), a) < 0)
		return -EINVAL;
	return parse_u64(m + 1, t->len[i] - (size_t)(m - s) - 1, b);
}

/* Drops a leading "<start> <len> <target>" if the line has one. */
static size_t skip_prefix(const struct tokens *t, const char *target)
{
	uint64_t x;

	if (t->n >= 3 && tok_u64(t, 0, &x) == 0 && tok_u64(t, 1, &x) == 0 && tok_is(t, 2, target))
		return 3;
	return 0;
}

int thinsnap_dm_parse_pool_status(const char *line, struct thinsnap_dm_pool_status *ret)
{
	struct thinsnap_dm_pool_status s;
	struct tokens t;
	size_t i;

	if (!line || !ret || tokenize(line, &t) < 0)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	i = skip_prefix(&t, "thin-pool");
	if (t.n - i == 1 && (tok_is(&t, i, "Fail") || tok_is(&t, i, "Error"))) {
		s.mode = THINSNAP_DM_POOL_FAIL;
		*ret = s;
		return 0;
	}
	/* tid used/total used/total held mode discard space needs_check [low_water] */
	if (t.n - i < 8 || t.n - i > 9)
		return -EINVAL;
	if (tok_u64(&t, i, &s.transaction_id) < 0 ||
	    tok_pair(&t, i + 1, '/', &s.used_metadata_blocks, &s.total_metadata_blocks) < 0 ||
	    tok_pair(&t, i + 2, '/', &s.used_data_blocks, &s.total_data_blocks) < 0)
		return -EINVAL;
	if (s.used_metadata_blocks > s.total_metadata_blocks ||
	    s.used_data_blocks > s.total_data_blocks)
		return -EINVAL;
	if (!tok_is(&t, i + 3, "-")) {
		if (tok_u64(&t, i + 3, &s.held_metadata_root) < 0)
			return -EINVAL;
		s.has_held_root = true;
	}
	if (tok_is(&t, i + 4, "rw"))
		s.mode = THINSNAP_DM_POOL_RW;
	else if (tok_is(&t, i + 4, "ro"))
		s.mode = THINSNAP_DM_POOL_RO;
	else if (tok_is(&t, i + 4, "out_of_data_space"))
		s.mode = THINSNAP_DM_POOL_OUT_OF_DATA_SPACE;
	else
		return -EINVAL;
	if (tok_is(&t, i + 5, "discard_passdown"))
		s.discard_passdown = true;
	else if (tok_is(&t, i + 5, "no_discard_passdown"))
		s.discard_nopassdown = true;
	else if (tok_is(&t, i + 5, "ignore_discard"))
		s.discard_ignored = true;
	else
		return -EINVAL;
	if (tok_is(&t, i + 6, "error_if_no_space"))
		s.error_if_no_space = true;
	else if (!tok_is(&t, i + 6, "queue_if_no_space"))
		return -EINVAL;
	if (tok_is(&t, i + 7, "needs_check"))
		s.needs_check = true;
	else if (!tok_is(&t, i + 7, "-"))
		return -EINVAL;
	if (t.n - i == 9) {
		if (tok_u64(&t, i + 8, &s.metadata_low_watermark) < 0)
			return -EINVAL;
		s.has_metadata_low_watermark = true;
	}
	*ret = s;
	return 0;
}

int thinsnap_dm_parse_thin_status(const char *line, struct thinsnap_dm_thin_status *ret)
{
	struct thinsnap_dm_thin_status s;
	struct tokens t;
	size_t i;

	if (!line || !ret || tokenize(line, &t) < 0)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	i = skip_prefix(&t, "thin");
	if (t.n - i == 1 && tok_is(&t, i, "Fail")) {
		s.fail = true;
		*ret = s;
		return 0;
	}
	if (t.n - i != 2 || tok_u64(&t, i, &s.mapped_sectors) < 0)
		return -EINVAL;
	if (!tok_is(&t, i + 1, "-")) {
		if (tok_u64(&t, i + 1, &s.highest_mapped_sector) < 0)
			return -EINVAL;
		s.has_highest_mapped = true;
	}
	*ret = s;
	return 0;
}

int thinsnap_dm_parse_pool_table(const char *params, struct thinsnap_dm_pool_table *ret)
{
	struct thinsnap_dm_pool_table p;
	struct tokens t;
	uint64_t a, b, nfeat;
	size_t i;

	if (!params || !ret || tokenize(params, &t) < 0)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	i = skip_prefix(&t, "thin-pool");
	if (t.n - i < 5)
		return -EINVAL;
	if (tok_pair(&t, i, ':', &a, &b) < 0 || a > UINT32_MAX || b > UINT32_MAX)
		return -EINVAL;
	p.metadata_major = (uint32_t)a;
	p.metadata_minor = (uint32_t)b;
	if (tok_pair(&t, i + 1, ':', &a, &b) < 0 || a > UINT32_MAX || b > UINT32_MAX)
		return -EINVAL;
	p.data_major = (uint32_t)a;
	p.data_minor = (uint32_t)b;
	if (tok_u64(&t, i + 2, &a) < 0 || a == 0 || a > UINT32_MAX)
		return -EINVAL;
	p.data_block_sectors = (uint32_t)a;
	if (tok_u64(&t, i + 3, &p.low_water_blocks) < 0 || tok_u64(&t, i + 4, &nfeat) < 0)
		return -EINVAL;
	if (nfeat != t.n - i - 5)
		return -EINVAL;
	*ret = p;
	return 0;
}

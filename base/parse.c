/*
 * Decimal and size parsing (base/parse.h), written out digit by digit rather than with
 * strtoull(), which accepts leading space, signs and locale-dependent input.
 */
#include "base/parse.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

int thinsnap_parse_u64_prefix(const char *s, uint64_t *ret, const char **ret_end)
{
	uint64_t v = 0;
	bool overflow = false;

	if (!s || !is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	if (overflow)
		return -ERANGE;
	*ret = v;
	if (ret_end)
		*ret_end = s;
	return 0;
}

int thinsnap_parse_u64(const char *s, uint64_t *ret)
{
	const char *end = NULL;
	uint64_t v = 0;
	int r = thinsnap_parse_u64_prefix(s, &v, &end);

	if (r == -ERANGE) {
		while (is_digit(*s))
			s++;
		return *s ? -EINVAL : -ERANGE; /* bad syntax is reported first */
	}
	if (r < 0)
		return r;
	if (*end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int thinsnap_parse_size(const char *s, uint64_t *ret_bytes)
{
	unsigned __int128 whole = 0, num = 0, den = 1, total;
	unsigned shift = 0;
	size_t n_frac = 0;
	const char *p = s;

	if (!s || !is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		whole = whole * 10 + (unsigned)(*p - '0');
		if (whole > INT64_MAX)
			return -ERANGE;
	}
	if (*p == '.') {
		p++;
		if (!is_digit(*p))
			return -EINVAL;
		for (; is_digit(*p); p++) {
			if (n_frac++ < 18) { /* further digits are below a byte for any unit */
				num = num * 10 + (unsigned)(*p - '0');
				den *= 10;
			}
		}
	}
	if (*p == ' ')
		p++;
	switch (*p) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	case 'p':
	case 'P':
		shift = 50;
		break;
	default:
		break;
	}
	if (shift) {
		p++;
		if (*p == 'i' || *p == 'I')
			p++;
	}
	if (*p == 'b' || *p == 'B')
		p++;
	if (*p != '\0' || (p > s && p[-1] == ' '))
		return -EINVAL;
	total = (whole << shift) + ((num << shift) / den);
	if (total > INT64_MAX)
		return -ERANGE;
	*ret_bytes = (uint64_t)total;
	return 0;
}

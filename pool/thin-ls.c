/*
 * pool/: parses the output of `thin_ls --no-headers -o DEV,MAPPED_BYTES,EXCLUSIVE_BYTES,
 * SHARED_BYTES` (one line per thin device) for thinsnap_pool_thin_usage(). Pure: no kernel.
 */
#include "pool/thin-ls.h"

#include <errno.h>
#include <stdlib.h>

#include "base/cleanup.h"
#include "base/parse.h"

static int cmp_usage(const void *a, const void *b)
{
	const struct thinsnap_pool_thin_usage *x = a, *y = b;
	return x->dev_id < y->dev_id ? -1 : x->dev_id > y->dev_id;
}

int thinsnap_pool_parse_thin_ls(const char *out, struct thinsnap_pool_thin_usage **ret,
				size_t *ret_n)
{
	CLEANUP_FREE struct thinsnap_pool_thin_usage *v = NULL;
	size_t n = 0, cap = 0;

	for (const char *p = out; *p;) {
		uint64_t f[4];

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		for (int i = 0; i < 4; i++) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (thinsnap_parse_u64_prefix(p, &f[i], &p) < 0)
				return -EIO;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '\n')
			return -EIO;
		if (f[0] > THINSNAP_POOL_DEV_ID_MAX)
			return -EIO;
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct thinsnap_pool_thin_usage *nv = realloc(v, ncap * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			v = nv;
			cap = ncap;
		}
		v[n++] = (struct thinsnap_pool_thin_usage){ .dev_id = (uint32_t)f[0],
							    .mapped_bytes = f[1],
							    .exclusive_bytes = f[2],
							    .shared_bytes = f[3] };
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_usage);
	*ret_n = n;
	*ret = n ? TAKE_PTR(v) : NULL;
	return 0;
}

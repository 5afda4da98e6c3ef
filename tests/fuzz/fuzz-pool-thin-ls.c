/*
 * Fuzz target: pool/'s thin_ls output parser (pool/thin-ls.c) on arbitrary bytes, copied into
 * a NUL-terminated buffer. On success the result must be sorted with 24-bit dev_ids; on
 * failure nothing may be returned.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool/thin-ls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct thinsnap_pool_thin_usage *u = NULL;
	size_t n = 0;
	char *s = malloc(size + 1);
	int r;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	r = thinsnap_pool_parse_thin_ls(s, &u, &n);
	if (r == 0) {
		if ((n == 0) != (u == NULL))
			abort();
		for (size_t i = 0; i < n; i++)
			if (u[i].dev_id > THINSNAP_POOL_DEV_ID_MAX ||
			    (i && u[i - 1].dev_id > u[i].dev_id))
				abort();
	} else if ((r != -EIO && r != -ENOMEM) || u || n) {
		abort();
	}
	free(u);
	free(s);
	return 0;
}

/*
 * The growable byte buffer of base/buf.h: the journal encoder and the daemon's replies build
 * their bytes in it.
 */
#include "base/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void thinsnap_buf_free(struct thinsnap_buf *b)
{
	if (!b)
		return;
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

int thinsnap_buf_reserve(struct thinsnap_buf *b, size_t more)
{
	size_t want, cap;
	uint8_t *p;

	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	want = b->len + more;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < want)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	b->p = p;
	b->cap = cap;
	return 0;
}

int thinsnap_buf_append(struct thinsnap_buf *b, const void *p, size_t n)
{
	int r = thinsnap_buf_reserve(b, n);

	if (r < 0)
		return r;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/*
 * A growable byte buffer: append encoded bytes, hand the whole to a write or a reply.
 * Zero-initialise it ({ 0 }); thinsnap_buf_free() releases it and leaves it empty and reusable.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct thinsnap_buf {
	uint8_t *p;
	size_t len, cap;
};

/* Makes room for `more` bytes after len (capacity doubles from 256). -ENOMEM. */
int thinsnap_buf_reserve(struct thinsnap_buf *b, size_t more);
/* Appends n bytes from p (p may be NULL when n is 0). -ENOMEM; b is unchanged on failure. */
int thinsnap_buf_append(struct thinsnap_buf *b, const void *p, size_t n);
void thinsnap_buf_free(struct thinsnap_buf *b);

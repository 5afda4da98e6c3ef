/*
 * Tar archives built in memory with libarchive (pax; bare, gzip or zstd), for unpack/'s tests:
 * layers and image blobs without temporary files. A failure fails the test (cmocka).
 */
#pragma once

#include <archive.h>
#include <stddef.h>

struct tarbuf {
	struct archive *a; /* between tarbuf_begin() and tarbuf_end(): add entries through it */
	char *buf;         /* the archive (malloc'd; the caller frees it) */
	size_t len, cap;
};

enum tarbuf_comp { TARBUF_NONE, TARBUF_GZIP, TARBUF_ZSTD };

/* Starts an empty archive in t; the last block is not padded (the same tar in any comp). */
void tarbuf_begin(struct tarbuf *t, enum tarbuf_comp comp);
/* Adds a regular file name, mode 0644, holding the string data. */
void tarbuf_add_file(struct tarbuf *t, const char *name, const char *data);
/* Finishes the archive: t->buf and t->len hold it. */
void tarbuf_end(struct tarbuf *t);

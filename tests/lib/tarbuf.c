/*
 * Tar archives built in memory for unpack/'s tests: libarchive writes into a growable buffer.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "tarbuf.h"

#include <archive_entry.h>
#include <stdlib.h>
#include <string.h>

static la_ssize_t buf_write(struct archive *a, void *ud, const void *p, size_t n)
{
	struct tarbuf *t = ud;

	(void)a;
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2;
		t->buf = realloc(t->buf, t->cap);
		assert_non_null(t->buf);
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	return (la_ssize_t)n;
}

void tarbuf_begin(struct tarbuf *t, enum tarbuf_comp comp)
{
	memset(t, 0, sizeof(*t));
	t->a = archive_write_new();
	assert_non_null(t->a);
	assert_int_equal(archive_write_set_format_pax_restricted(t->a), ARCHIVE_OK);
	if (comp == TARBUF_GZIP)
		assert_int_equal(archive_write_add_filter_gzip(t->a), ARCHIVE_OK);
	if (comp == TARBUF_ZSTD)
		assert_int_equal(archive_write_add_filter_zstd(t->a), ARCHIVE_OK);
	assert_int_equal(archive_write_set_bytes_in_last_block(t->a, 1), ARCHIVE_OK);
	assert_int_equal(archive_write_open(t->a, t, NULL, buf_write, NULL), ARCHIVE_OK);
}

void tarbuf_add_file(struct tarbuf *t, const char *name, const char *data)
{
	struct archive_entry *e = archive_entry_new();

	assert_non_null(e);
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)strlen(data));
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	assert_int_equal(archive_write_data(t->a, data, strlen(data)), (la_ssize_t)strlen(data));
	archive_entry_free(e);
}

void tarbuf_end(struct tarbuf *t)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	t->a = NULL;
}

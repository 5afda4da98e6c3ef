/* stream/ and pool/delta.c: the stream header and chunk encodings round trip and refuse
 * damage, newer versions and unknown flags; thin_delta's and thin_dump's XML become merged,
 * ordered block runs. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/le.h"
#include "pool/delta.h"
#include "stream/format.h"

static void test_header_round_trip(void **state)
{
	struct stream_label l[2] = { { "team", "blue" }, { "empty", "" } };
	struct stream_header h = { .flags = STREAM_F_INCREMENTAL,
				   .block_bytes = 65536,
				   .size_bytes = 1u << 30,
				   .created_ns = 42,
				   .data_bytes = 3 << 20,
				   .fs_type = "ext4",
				   .name = "app",
				   .labels = l,
				   .n_labels = 2 },
			     d = { 0 };
	struct thinsnap_buf b = { 0 };
	uint32_t len = 0;

	(void)state;
	memset(h.id, 0xab, sizeof(h.id));
	memset(h.base_id, 0xcd, sizeof(h.base_id));
	assert_int_equal(thinsnap_stream_header_encode(&h, &b), 0);
	assert_int_equal(thinsnap_stream_header_len(b.p, &len), 0);
	assert_int_equal(len, b.len);
	assert_int_equal(thinsnap_stream_header_decode(b.p, b.len, &d), 0);
	assert_int_equal(d.flags, STREAM_F_INCREMENTAL);
	assert_int_equal(d.size_bytes, 1u << 30);
	assert_memory_equal(d.id, h.id, 16);
	assert_memory_equal(d.base_id, h.base_id, 16);
	assert_string_equal(d.fs_type, "ext4");
	assert_string_equal(d.name, "app");
	assert_int_equal(d.n_labels, 2);
	assert_string_equal(d.labels[0].value, "blue");
	assert_string_equal(d.labels[1].value, "");
	thinsnap_stream_header_clear(&d);
	/* any flipped byte is caught */
	for (size_t i = 0; i < b.len; i++) {
		b.p[i] ^= 0x10;
		if (thinsnap_stream_header_len(b.p, &len) == 0 && len == b.len)
			assert_int_not_equal(thinsnap_stream_header_decode(b.p, b.len, &d), 0);
		b.p[i] ^= 0x10;
	}
	/* a newer version, an unknown flag */
	put_le32(b.p + 8, 2);
	assert_int_equal(thinsnap_stream_header_len(b.p, &len), -EOPNOTSUPP);
	put_le32(b.p + 8, 1);
	put_le32(b.p + 12, 0x2);
	assert_int_equal(thinsnap_stream_header_len(b.p, &len), -EOPNOTSUPP);
	thinsnap_buf_free(&b);
}

static void test_chunks(void **state)
{
	struct chunk c = { .type = CHUNK_DATA, .offset = 65536, .length = 4096, .crc = 7 }, d;
	uint8_t raw[CHUNK_HEADER_SIZE];

	(void)state;
	thinsnap_stream_chunk_encode(&c, raw);
	assert_int_equal(thinsnap_stream_chunk_decode(raw, &d), 0);
	assert_int_equal(d.offset, 65536);
	assert_int_equal(d.length, 4096);
	assert_int_equal(d.crc, 7);
	raw[9] ^= 1;
	assert_int_equal(thinsnap_stream_chunk_decode(raw, &d), -EBADMSG);
	c.length = CHUNK_DATA_MAX + 1; /* too large for one chunk */
	thinsnap_stream_chunk_encode(&c, raw);
	assert_int_equal(thinsnap_stream_chunk_decode(raw, &d), -EBADMSG);
	c.type = 9;
	c.length = 1;
	thinsnap_stream_chunk_encode(&c, raw);
	assert_int_equal(thinsnap_stream_chunk_decode(raw, &d), -EBADMSG);
}

static void test_delta_parse(void **state)
{
	static const char delta[] =
		"<superblock uuid=\"\" time=\"1\" transaction=\"0\" data_block_size=\"128\" "
		"nr_data_blocks=\"0\">\n  <diff left=\"1\" right=\"2\">\n"
		"    <left_only begin=\"5\" length=\"1\"/>\n"
		"    <different begin=\"6\" length=\"1\"/>\n"
		"    <same begin=\"7\" length=\"1\"/>\n"
		"    <right_only begin=\"10\" length=\"2\"/>\n"
		"    <different begin=\"12\" length=\"3\"/>\n  </diff>\n</superblock>\n";
	static const char dump[] =
		"<superblock uuid=\"\" time=\"1\" transaction=\"0\" flags=\"0\" version=\"2\" "
		"data_block_size=\"256\" nr_data_blocks=\"0\">\n"
		"  <device dev_id=\"2\" mapped_blocks=\"4\" transaction=\"0\" creation_time=\"1\" "
		"snap_time=\"1\">\n"
		"    <single_mapping origin_block=\"6\" data_block=\"5\" time=\"1\"/>\n"
		"    <single_mapping origin_block=\"7\" data_block=\"2\" time=\"0\"/>\n"
		"    <range_mapping origin_begin=\"10\" data_begin=\"3\" length=\"2\" "
		"time=\"1\"/>\n"
		"  </device>\n</superblock>\n";
	struct thinsnap_pool_delta_range *v = NULL;
	size_t n = 0;
	uint32_t bs = 0;

	(void)state;
	assert_int_equal(thinsnap_pool_parse_delta(delta, &v, &n, &bs), 0);
	assert_int_equal(bs, 128);
	assert_int_equal(n, 3);
	assert_int_equal(v[0].kind, THINSNAP_POOL_DELTA_HOLE);
	assert_int_equal(v[0].begin, 5);
	assert_int_equal(v[1].kind, THINSNAP_POOL_DELTA_DATA);
	assert_int_equal(v[1].begin, 6);
	assert_int_equal(v[1].length, 1);
	assert_int_equal(v[2].begin, 10); /* right_only + different, adjacent: merged */
	assert_int_equal(v[2].length, 5);
	free(v);
	assert_int_equal(thinsnap_pool_parse_delta(dump, &v, &n, &bs), 0);
	assert_int_equal(bs, 256);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].begin, 6);
	assert_int_equal(v[0].length, 2);
	assert_int_equal(v[1].begin, 10);
	assert_int_equal(v[1].length, 2);
	free(v);
	/* out of order, no block size, a bad number */
	assert_int_equal(thinsnap_pool_parse_delta("<superblock data_block_size=\"128\">"
						   "<different begin=\"9\" length=\"2\"/>"
						   "<different begin=\"3\" length=\"1\"/>",
						   &v, &n, &bs),
			 -EBADMSG);
	assert_int_equal(thinsnap_pool_parse_delta("<superblock uuid=\"\">", &v, &n, &bs),
			 -EBADMSG);
	assert_int_equal(thinsnap_pool_parse_delta("<superblock data_block_size=\"128\">"
						   "<different begin=\"x\" length=\"2\"/>",
						   &v, &n, &bs),
			 -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_delta_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

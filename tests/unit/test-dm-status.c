/* dm/: the thin-pool and thin status parsers and the pool table parser, on real lines. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <string.h>

#include "dm/dm.h"

static void test_pool_rw(void **state)
{
	struct thinsnap_dm_pool_status s;

	(void)state;
	/* a fresh 256 MiB pool on thin-pool v1.22 (UML 6.1) */
	assert_int_equal(
		thinsnap_dm_parse_pool_status(
			"0 9/1024 0/4096 - rw discard_passdown queue_if_no_space - 1024", &s),
		0);
	assert_int_equal(s.mode, THINSNAP_DM_POOL_RW);
	assert_int_equal(s.transaction_id, 0);
	assert_int_equal(s.used_metadata_blocks, 9);
	assert_int_equal(s.total_metadata_blocks, 1024);
	assert_int_equal(s.used_data_blocks, 0);
	assert_int_equal(s.total_data_blocks, 4096);
	assert_false(s.has_held_root);
	assert_true(s.discard_passdown);
	assert_false(s.error_if_no_space);
	assert_false(s.needs_check);
	assert_true(s.has_metadata_low_watermark);
	assert_int_equal(s.metadata_low_watermark, 1024);
}

static void test_pool_variants(void **state)
{
	struct thinsnap_dm_pool_status s;

	(void)state;
	/* held metadata root (reserve_metadata_snap), error_if_no_space, needs_check */
	assert_int_equal(
		thinsnap_dm_parse_pool_status("5 20/1024 526/8192 17 ro no_discard_passdown "
					      "error_if_no_space needs_check 1024",
					      &s),
		0);
	assert_int_equal(s.transaction_id, 5);
	assert_true(s.has_held_root);
	assert_int_equal(s.held_metadata_root, 17);
	assert_int_equal(s.mode, THINSNAP_DM_POOL_RO);
	assert_true(s.discard_nopassdown);
	assert_true(s.error_if_no_space);
	assert_true(s.needs_check);
	/* full data device; an old kernel without the low-water field */
	assert_int_equal(thinsnap_dm_parse_pool_status("7 30/1024 4096/4096 - out_of_data_space "
						       "ignore_discard queue_if_no_space -",
						       &s),
			 0);
	assert_int_equal(s.mode, THINSNAP_DM_POOL_OUT_OF_DATA_SPACE);
	assert_true(s.discard_ignored);
	assert_false(s.has_metadata_low_watermark);
	/* with the "<start> <len> thin-pool" prefix of dmsetup status */
	assert_int_equal(thinsnap_dm_parse_pool_status(
				 "0 524288 thin-pool 1 10/1024 3/4096 - rw discard_passdown "
				 "queue_if_no_space - 1024\n",
				 &s),
			 0);
	assert_int_equal(s.transaction_id, 1);
	assert_int_equal(s.used_data_blocks, 3);
	/* a failed pool */
	assert_int_equal(thinsnap_dm_parse_pool_status("Fail", &s), 0);
	assert_int_equal(s.mode, THINSNAP_DM_POOL_FAIL);
	assert_int_equal(thinsnap_dm_parse_pool_status("Error", &s), 0);
	assert_int_equal(s.mode, THINSNAP_DM_POOL_FAIL);
	/* huge numbers */
	assert_int_equal(thinsnap_dm_parse_pool_status("18446744073709551615 1/4161600 "
						       "0/4294967296 - rw discard_passdown "
						       "queue_if_no_space - 4160576",
						       &s),
			 0);
	assert_true(s.transaction_id == UINT64_MAX);
}

static void test_pool_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"0",
		/* two numbers before the metadata pair: not the kernel's format */
		"0 1056 8/1024 0/3264 - rw discard_passdown queue_if_no_space - 1024",
		"0 9/1024 0/4096 - rw discard_passdown queue_if_no_space",
		"0 9/1024 0/4096 - rw discard_passdown queue_if_no_space - 1024 9",
		"0 9-1024 0/4096 - rw discard_passdown queue_if_no_space - 1024",
		"0 9/ 0/4096 - rw discard_passdown queue_if_no_space - 1024",
		"0 2000/1024 0/4096 - rw discard_passdown queue_if_no_space - 1024",
		"0 9/1024 0/4096 - rx discard_passdown queue_if_no_space - 1024",
		"0 9/1024 0/4096 x rw discard_passdown queue_if_no_space - 1024",
		"0 9/1024 0/4096 - rw discard queue_if_no_space - 1024",
		"0 9/1024 0/4096 - rw discard_passdown queue - 1024",
		"0 9/1024 0/4096 - rw discard_passdown queue_if_no_space check 1024",
		"18446744073709551616 9/1024 0/4096 - rw discard_passdown queue_if_no_space - 1",
		"-1 9/1024 0/4096 - rw discard_passdown queue_if_no_space - 1024",
		"Fail Fail",
		"fail",
	};
	struct thinsnap_dm_pool_status s;

	(void)state;
	memset(&s, 0x5a, sizeof(s));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (thinsnap_dm_parse_pool_status(bad[i], &s) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	}
	assert_int_equal(s.transaction_id, 0x5a5a5a5a5a5a5a5aull); /* untouched */
	assert_int_equal(thinsnap_dm_parse_pool_status(NULL, &s), -EINVAL);
}

static void test_thin(void **state)
{
	struct thinsnap_dm_thin_status t;

	(void)state;
	assert_int_equal(thinsnap_dm_parse_thin_status("0 -", &t), 0);
	assert_false(t.fail);
	assert_int_equal(t.mapped_sectors, 0);
	assert_false(t.has_highest_mapped);
	assert_int_equal(thinsnap_dm_parse_thin_status("16384 131071", &t), 0);
	assert_int_equal(t.mapped_sectors, 16384);
	assert_true(t.has_highest_mapped);
	assert_int_equal(t.highest_mapped_sector, 131071);
	assert_int_equal(thinsnap_dm_parse_thin_status("0 131072 thin 2048 4095", &t), 0);
	assert_int_equal(t.mapped_sectors, 2048);
	assert_int_equal(thinsnap_dm_parse_thin_status("Fail", &t), 0);
	assert_true(t.fail);
	assert_int_equal(thinsnap_dm_parse_thin_status("", &t), -EINVAL);
	assert_int_equal(thinsnap_dm_parse_thin_status("12", &t), -EINVAL);
	assert_int_equal(thinsnap_dm_parse_thin_status("12 x", &t), -EINVAL);
	assert_int_equal(thinsnap_dm_parse_thin_status("12 3 4", &t), -EINVAL);
	assert_int_equal(thinsnap_dm_parse_thin_status("- 3", &t), -EINVAL);
}

static void test_pool_table(void **state)
{
	struct thinsnap_dm_pool_table p;

	(void)state;
	assert_int_equal(thinsnap_dm_parse_pool_table("7:1 7:0 128 0 0", &p), 0);
	assert_int_equal(p.metadata_major, 7);
	assert_int_equal(p.metadata_minor, 1);
	assert_int_equal(p.data_major, 7);
	assert_int_equal(p.data_minor, 0);
	assert_int_equal(p.data_block_sectors, 128);
	assert_int_equal(p.low_water_blocks, 0);
	assert_int_equal(thinsnap_dm_parse_pool_table(
				 "0 524288 thin-pool 254:3 254:4 1024 16 2 no_discard_passdown "
				 "error_if_no_space ",
				 &p),
			 0);
	assert_int_equal(p.data_block_sectors, 1024);
	assert_int_equal(p.low_water_blocks, 16);
	assert_int_equal(thinsnap_dm_parse_pool_table("7:1 7:0 128 0 1", &p), -EINVAL);
	assert_int_equal(thinsnap_dm_parse_pool_table("7:1 7:0 0 0 0", &p), -EINVAL);
	assert_int_equal(thinsnap_dm_parse_pool_table("7 7:0 128 0 0", &p), -EINVAL);
	assert_int_equal(thinsnap_dm_parse_pool_table("7:1 7:0 128", &p), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_rw),    cmocka_unit_test(test_pool_variants),
		cmocka_unit_test(test_pool_bad),   cmocka_unit_test(test_thin),
		cmocka_unit_test(test_pool_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

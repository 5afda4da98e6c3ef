/* pool/lvm.c: which lvs line is a device's LV, and which dm uuids are LVM thin-pool parts. */
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
#include <sys/sysmacros.h>

#include "pool/internal.h"

static const char lvs_out[] = "  vg0|tsdata|254|0|67108864|994050048|4194304|linear\n"
			      "  vg0|tsmeta|254|1|8388608|994050048|4194304|linear\n"
			      "  vg0|off|-1|-1|4194304|994050048|4194304|linear\n";

static void test_parse(void **state)
{
	struct thinsnap_pool_lv lv = { 0 };
	char buf[sizeof(lvs_out)];

	(void)state;
	memcpy(buf, lvs_out, sizeof(buf));
	assert_int_equal(thinsnap_pool_lvm_parse(buf, makedev(254, 1), &lv), 1);
	assert_string_equal(lv.vg, "vg0");
	assert_string_equal(lv.lv, "tsmeta");
	assert_int_equal(lv.size_bytes, 8388608);
	assert_int_equal(lv.vg_free_bytes, 994050048);
	assert_int_equal(lv.extent_bytes, 4194304);
	assert_string_equal(lv.segtype, "linear");
	/* no line for the device: 0, *ret untouched */
	memcpy(buf, lvs_out, sizeof(buf));
	lv.size_bytes = 7;
	assert_int_equal(thinsnap_pool_lvm_parse(buf, makedev(254, 9), &lv), 0);
	assert_int_equal(lv.size_bytes, 7);
	char empty[] = "";
	assert_int_equal(thinsnap_pool_lvm_parse(empty, makedev(254, 0), &lv), 0);
}

static void test_reject(void **state)
{
	static const char *const bad[] = {
		"vg0|d|254|0|64MiB|0|4194304|linear\n", /* units */
		"vg0|d|254|0|67108864|0|0|linear\n",    /* no extent size */
		"vg0|d|254|0|67108864||4194304|linear\n",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct thinsnap_pool_lv lv = { .size_bytes = 7 };
		char buf[128];
		(void)snprintf(buf, sizeof(buf), "%s", bad[i]);
		assert_int_equal(thinsnap_pool_lvm_parse(buf, makedev(254, 0), &lv), -EIO);
		assert_int_equal(lv.size_bytes, 7);
	}
}

static void test_thin_pool_parts(void **state)
{
	static const char base[] =
		"LVM-7w5ATBXgOcWyMUUudB50RmK9rVZS20QayAlQGH9YwV6yZElNDG5HIZ3x4SCc7lfR";
	char uuid[160];

	(void)state;
	assert_null(thinsnap_pool_lvm_thin_pool_part(base)); /* a plain LV */
	assert_true(thinsnap_pool_lvm_uuid(base));
	(void)snprintf(uuid, sizeof(uuid), "%s-tpool", base);
	assert_string_equal(thinsnap_pool_lvm_thin_pool_part(uuid), "tpool");
	(void)snprintf(uuid, sizeof(uuid), "%s-pool", base);
	assert_string_equal(thinsnap_pool_lvm_thin_pool_part(uuid), "pool");
	(void)snprintf(uuid, sizeof(uuid), "%s-tdata", base);
	assert_string_equal(thinsnap_pool_lvm_thin_pool_part(uuid), "tdata");
	(void)snprintf(uuid, sizeof(uuid), "%s-tmeta", base);
	assert_string_equal(thinsnap_pool_lvm_thin_pool_part(uuid), "tmeta");
	/* not LVM's: thinsnap's own pool is no LVM thin pool */
	assert_null(thinsnap_pool_lvm_thin_pool_part("THINSNAP-0123-pool"));
	assert_false(thinsnap_pool_lvm_uuid(""));
	assert_null(thinsnap_pool_lvm_thin_pool_part(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_thin_pool_parts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * pool/'s auto-grow arithmetic: threshold, steps, cap, filesystem limit, low-water mark, and
 * the policy's version.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>

#include <thinsnap/pool.h>

#define MiB (1ull << 20)
#define BLK (64ull << 10)

static int size_for(unsigned threshold, unsigned pct, uint64_t cap, uint64_t size, uint64_t used,
		    uint64_t limit, uint64_t *ret)
{
	struct thinsnap_autogrow_policy p = THINSNAP_AUTOGROW_POLICY_INIT;

	p.threshold_percent = threshold;
	p.grow_percent = pct;
	p.max_data_size_bytes = cap;
	return thinsnap_pool_autogrow_size(&p, size, used, BLK, limit, ret);
}

static void test_threshold(void **state)
{
	uint64_t n = 7;

	(void)state;
	/* below the threshold: nothing, *ret untouched */
	assert_int_equal(size_for(80, 20, 0, 100 * MiB, 79 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_NONE);
	assert_int_equal(n, 7);
	/* exactly at it: one step of 20% (rounded down to whole blocks) */
	assert_int_equal(size_for(80, 20, 0, 100 * MiB, 80 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_GROW);
	assert_int_equal(n, 120 * MiB);
	/* off: threshold 0 or 100 or more, or a 0% step */
	n = 7;
	assert_int_equal(size_for(100, 20, 0, 100 * MiB, 100 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_NONE);
	assert_int_equal(size_for(0, 20, 0, 100 * MiB, 100 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_NONE);
	assert_int_equal(size_for(80, 0, 0, 100 * MiB, 100 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_NONE);
	assert_int_equal(n, 7);
	assert_int_equal(thinsnap_pool_autogrow_size(NULL, 1, 1, BLK, 0, &n), -EINVAL);
	struct thinsnap_autogrow_policy p = THINSNAP_AUTOGROW_POLICY_INIT;
	p.threshold_percent = 80;
	p.grow_percent = 20;
	assert_int_equal(thinsnap_pool_autogrow_size(&p, MiB, MiB, 0, 0, &n), -EINVAL);
}

/* A policy zeroed by hand (version 0) or from a newer header is refused, *ret untouched. */
static void test_version(void **state)
{
	struct thinsnap_autogrow_policy p = THINSNAP_AUTOGROW_POLICY_INIT;
	uint64_t n = 7;

	(void)state;
	assert_int_equal(p.version, THINSNAP_AUTOGROW_POLICY_VERSION);
	assert_int_equal(p.threshold_percent, 0); /* the rest: every default */
	p.threshold_percent = 80;
	p.grow_percent = 20;
	assert_int_equal(thinsnap_pool_autogrow_size(&p, 100 * MiB, 90 * MiB, BLK, 0, &n),
			 THINSNAP_POOL_AUTOGROW_GROW);
	n = 7;
	p.version = 0;
	assert_int_equal(thinsnap_pool_autogrow_size(&p, 100 * MiB, 90 * MiB, BLK, 0, &n), -EINVAL);
	p.version = THINSNAP_AUTOGROW_POLICY_VERSION + 1;
	assert_int_equal(thinsnap_pool_autogrow_size(&p, 100 * MiB, 90 * MiB, BLK, 0, &n), -EINVAL);
	assert_int_equal(n, 7);
}

static void test_steps(void **state)
{
	uint64_t n = 0;

	(void)state;
	/* full at 100 MiB, threshold 50%: 100 -> 150 -> 225 (used 100/225 < 50%) */
	assert_int_equal(size_for(50, 50, 0, 100 * MiB, 100 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_GROW);
	assert_int_equal(n, 225 * MiB);
	/* a tiny pool still grows by at least one block per step */
	assert_int_equal(size_for(50, 1, 0, 2 * BLK, 2 * BLK, 0, &n), THINSNAP_POOL_AUTOGROW_GROW);
	assert_int_equal(n, 5 * BLK);
	/* a data file with a partial last block: the pool only counts whole blocks */
	assert_int_equal(size_for(80, 20, 0, 100 * MiB + 100, 80 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_GROW);
	assert_int_equal(n % BLK, 0);
	assert_true(n > 100 * MiB + 100);
}

static void test_cap_and_limit(void **state)
{
	uint64_t n = 0;

	(void)state;
	/* capped at 110 MiB: one partial step */
	assert_int_equal(size_for(80, 20, 110 * MiB, 100 * MiB, 90 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_GROW);
	assert_int_equal(n, 110 * MiB);
	/* already at the cap: capped, nothing to do */
	n = 7;
	assert_int_equal(size_for(80, 20, 110 * MiB, 110 * MiB, 100 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_CAPPED);
	assert_int_equal(n, 7);
	/* a cap that is not whole blocks rounds down, and below the size it is capped */
	assert_int_equal(size_for(80, 20, 110 * MiB + 1000, 100 * MiB, 90 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_GROW);
	assert_int_equal(n, 110 * MiB);
	assert_int_equal(size_for(80, 20, 50 * MiB, 100 * MiB, 90 * MiB, 0, &n),
			 THINSNAP_POOL_AUTOGROW_CAPPED);
	/* the filesystem's limit holds like a cap, the smaller of both wins */
	assert_int_equal(size_for(80, 20, 200 * MiB, 100 * MiB, 90 * MiB, 105 * MiB, &n),
			 THINSNAP_POOL_AUTOGROW_GROW);
	assert_int_equal(n, 105 * MiB);
	assert_int_equal(size_for(80, 20, 0, 100 * MiB, 90 * MiB, 100 * MiB, &n),
			 THINSNAP_POOL_AUTOGROW_CAPPED);
	/* no overflow near the top */
	assert_int_equal(size_for(50, 100, 0, UINT64_MAX / 2, UINT64_MAX / 2, 0, &n),
			 THINSNAP_POOL_AUTOGROW_GROW);
	assert_true(n > UINT64_MAX / 2);
}

static void test_low_water(void **state)
{
	(void)state;
	/* the event fires when free blocks <= the mark: used >= threshold */
	assert_int_equal(thinsnap_pool_low_water_for(80, 1000), 200);
	assert_int_equal(thinsnap_pool_low_water_for(80, 1001), 200);
	assert_int_equal(thinsnap_pool_low_water_for(50, 3), 1);
	assert_int_equal(thinsnap_pool_low_water_for(100, 1000), 0);
	assert_int_equal(thinsnap_pool_low_water_for(0, 1000), 0);
	assert_int_equal(thinsnap_pool_low_water_for(99, 1ull << 40), (1ull << 40) / 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threshold),     cmocka_unit_test(test_steps),
		cmocka_unit_test(test_cap_and_limit), cmocka_unit_test(test_low_water),
		cmocka_unit_test(test_version),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

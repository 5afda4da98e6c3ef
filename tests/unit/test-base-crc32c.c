/* base/: CRC32C, the journal's checksum: RFC 3720's test vectors, and continuation. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <string.h>

#include "base/crc32c.h"

static void test_crc32c(void **state)
{
	(void)state;
	/* RFC 3720 B.4 test vectors */
	unsigned char zeros[32] = { 0 }, ones[32], inc[32];
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (unsigned char)i;
	assert_int_equal(thinsnap_crc32c(0, zeros, 32), 0x8A9136AA);
	assert_int_equal(thinsnap_crc32c(0, ones, 32), 0x62A8AB43);
	assert_int_equal(thinsnap_crc32c(0, inc, 32), 0x46DD794E);
	assert_int_equal(thinsnap_crc32c(0, "123456789", 9), 0xE3069283);
	/* continuation equals one pass */
	assert_int_equal(thinsnap_crc32c(thinsnap_crc32c(0, "12345", 5), "6789", 4), 0xE3069283);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * dm/ intents with libdm wrapped at link time (no kernel): errno and message mapping, the
 * bounded EBUSY retry of remove, name checks, absent devices, the event wait timeout.
 * Linked with -Wl,--wrap=dm_task_run,... (TEST_LDFLAGS_test-dm-intents in the Makefile).
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
#include <libdevmapper.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm/dm.h"

static int run_calls;
static struct dm_info fake_info;

int __wrap_dm_driver_version(char *version, size_t size);
int __wrap_dm_task_run(struct dm_task *dmt);
int __wrap_dm_task_get_errno(struct dm_task *dmt);
int __wrap_dm_task_get_info(struct dm_task *dmt, struct dm_info *dmi);
const char *__wrap_dm_task_get_uuid(const struct dm_task *dmt);
const char *__wrap_dm_task_get_name(const struct dm_task *dmt);
struct dm_task *__wrap_dm_task_create(int type);
void __wrap_dm_task_destroy(struct dm_task *dmt);
int __wrap_dm_task_set_name(struct dm_task *dmt, const char *name);
int __wrap_dm_task_set_uuid(struct dm_task *dmt, const char *uuid);
int __wrap_dm_task_add_target(struct dm_task *dmt, uint64_t start, uint64_t size, const char *ttype,
			      const char *params);
int __wrap_dm_task_set_ro(struct dm_task *dmt);
int __wrap_dm_task_set_cookie(struct dm_task *dmt, uint32_t *cookie, uint16_t flags);
int __wrap_dm_task_no_flush(struct dm_task *dmt);
int __wrap_dm_task_deferred_remove(struct dm_task *dmt);
int __wrap_dm_task_set_sector(struct dm_task *dmt, uint64_t sector);
int __wrap_dm_task_set_message(struct dm_task *dmt, const char *message);
const char *__wrap_dm_task_get_message_response(struct dm_task *dmt);
int __wrap_dm_udev_wait(uint32_t cookie);

/* A task is an opaque heap object here: ASan catches leaks and double destroys. */
struct dm_task *__wrap_dm_task_create(int type)
{
	int *t = malloc(sizeof(int));
	if (t)
		*t = type;
	return (struct dm_task *)t;
}

void __wrap_dm_task_destroy(struct dm_task *dmt)
{
	free(dmt);
}

int __wrap_dm_task_set_name(struct dm_task *dmt, const char *name)
{
	(void)dmt;
	(void)name;
	return 1;
}

int __wrap_dm_task_set_uuid(struct dm_task *dmt, const char *uuid)
{
	(void)dmt;
	(void)uuid;
	return 1;
}

int __wrap_dm_task_add_target(struct dm_task *dmt, uint64_t start, uint64_t size, const char *ttype,
			      const char *params)
{
	(void)dmt;
	(void)start;
	(void)size;
	(void)ttype;
	(void)params;
	return 1;
}

int __wrap_dm_task_set_ro(struct dm_task *dmt)
{
	(void)dmt;
	return 1;
}

int __wrap_dm_task_set_cookie(struct dm_task *dmt, uint32_t *cookie, uint16_t flags)
{
	(void)dmt;
	(void)flags;
	*cookie = 0;
	return 1;
}

int __wrap_dm_task_no_flush(struct dm_task *dmt)
{
	(void)dmt;
	return 1;
}

int __wrap_dm_task_deferred_remove(struct dm_task *dmt)
{
	(void)dmt;
	return 1;
}

int __wrap_dm_task_set_sector(struct dm_task *dmt, uint64_t sector)
{
	(void)dmt;
	(void)sector;
	return 1;
}

int __wrap_dm_task_set_message(struct dm_task *dmt, const char *message)
{
	(void)dmt;
	(void)message;
	return 1;
}

const char *__wrap_dm_task_get_message_response(struct dm_task *dmt)
{
	(void)dmt;
	return NULL;
}

int __wrap_dm_udev_wait(uint32_t cookie)
{
	(void)cookie;
	return 1;
}

int __wrap_dm_driver_version(char *version, size_t size)
{
	(void)snprintf(version, size, "4.48.0");
	return 1;
}

/* will_return: 1 (success) or -errno (failure with that errno) */
static int next_errno;

int __wrap_dm_task_run(struct dm_task *dmt)
{
	int r = mock_type(int);
	(void)dmt;
	run_calls++;
	next_errno = r < 0 ? -r : 0;
	return r > 0;
}

int __wrap_dm_task_get_errno(struct dm_task *dmt)
{
	(void)dmt;
	return next_errno;
}

int __wrap_dm_task_get_info(struct dm_task *dmt, struct dm_info *dmi)
{
	(void)dmt;
	*dmi = fake_info;
	return 1;
}

const char *__wrap_dm_task_get_uuid(const struct dm_task *dmt)
{
	(void)dmt;
	return "THINSNAP-x-1";
}

const char *__wrap_dm_task_get_name(const struct dm_task *dmt)
{
	(void)dmt;
	return "found";
}

static int setup(void **state)
{
	(void)state;
	run_calls = 0;
	memset(&fake_info, 0, sizeof(fake_info));
	return 0;
}

static void test_names(void **state)
{
	struct thinsnap_dm_info info;
	struct thinsnap_error e;
	char big[200];

	(void)state;
	assert_int_equal(thinsnap_dm_init(&e), 0);
	assert_int_equal(thinsnap_dm_info("", &info, &e), -EINVAL);
	assert_int_equal(thinsnap_dm_info("a/b", &info, &e), -EINVAL);
	assert_string_equal(e.msg, "invalid dm device name 'a/b'");
	memset(big, 'n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(thinsnap_dm_info(big, &info, &e), -ENAMETOOLONG);
	assert_int_equal(thinsnap_dm_message("p", "", NULL, &e), -EINVAL);
	assert_int_equal(run_calls, 0); /* refused before any ioctl */
}

static void test_info(void **state)
{
	struct thinsnap_dm_info info;
	struct thinsnap_error e;
	char *name = NULL;

	(void)state;
	will_return(__wrap_dm_task_run, 1);
	assert_int_equal(thinsnap_dm_info("absent", &info, &e), 0);
	assert_false(info.exists);
	fake_info.exists = 1;
	fake_info.open_count = 2;
	fake_info.read_only = 1;
	fake_info.major = 254;
	fake_info.minor = 7;
	fake_info.event_nr = 3;
	will_return(__wrap_dm_task_run, 1);
	assert_int_equal(thinsnap_dm_info("present", &info, &e), 0);
	assert_true(info.exists);
	assert_int_equal(info.open_count, 2);
	assert_true(info.read_only);
	assert_int_equal(info.major, 254);
	assert_int_equal(info.minor, 7);
	assert_string_equal(info.uuid, "THINSNAP-x-1");
	will_return(__wrap_dm_task_run, 1);
	assert_int_equal(thinsnap_dm_info_by_uuid("THINSNAP-x-1", &info, &name, &e), 0);
	assert_string_equal(name, "found");
	free(name);
	will_return(__wrap_dm_task_run, -EACCES);
	assert_int_equal(thinsnap_dm_info("x", &info, &e), -EACCES);
	assert_string_equal(e.msg, "dm info 'x': permission denied");
}

static void test_remove_retries_busy(void **state)
{
	struct thinsnap_error e;

	(void)state;
	will_return(__wrap_dm_task_run, -EBUSY);
	will_return(__wrap_dm_task_run, -EBUSY);
	will_return(__wrap_dm_task_run, 1);
	assert_int_equal(thinsnap_dm_remove("thin1", false, &e), 0);
	assert_int_equal(run_calls, 3);
}

static void test_remove_stays_busy(void **state)
{
	struct thinsnap_error e;

	(void)state;
	will_return_count(__wrap_dm_task_run, -EBUSY, 21);
	assert_int_equal(thinsnap_dm_remove("thin1", false, &e), -EBUSY);
	assert_int_equal(run_calls, 21); /* bounded: the first try and 20 retries */
	assert_string_equal(e.msg, "dm device 'thin1' is in use (open or mounted)");
	/* deferred: no retry, the kernel removes it on last close */
	run_calls = 0;
	will_return(__wrap_dm_task_run, -EBUSY);
	assert_int_equal(thinsnap_dm_remove("thin1", true, &e), -EBUSY);
	assert_int_equal(run_calls, 1);
	will_return(__wrap_dm_task_run, -ENXIO);
	assert_int_equal(thinsnap_dm_remove("gone", false, &e), -ENXIO);
}

static void test_message_errno(void **state)
{
	struct thinsnap_error e;
	char *resp = (char *)0x1;

	(void)state;
	will_return(__wrap_dm_task_run, -ENODATA);
	assert_int_equal(thinsnap_dm_message("pool", "delete 7", &resp, &e), -ENODATA);
	assert_string_equal(e.msg, "dm message 'delete 7' to 'pool': no data available");
	assert_ptr_equal(resp, (char *)0x1); /* untouched on failure */
	will_return(__wrap_dm_task_run, 0);  /* failure without an errno */
	assert_int_equal(thinsnap_dm_message("pool", "create_thin 1", NULL, &e), -EIO);
}

static void test_create_suspend_resume(void **state)
{
	struct thinsnap_dm_table t = { .length_sectors = 8, .target = "zero", .params = "" };
	struct thinsnap_dm_table empty = { .length_sectors = 0, .target = "zero", .params = "" };
	struct thinsnap_error e;

	(void)state;
	assert_int_equal(thinsnap_dm_create("d", NULL, &empty, false, NULL, &e), -EINVAL);
	will_return(__wrap_dm_task_run, -EBUSY);
	assert_int_equal(thinsnap_dm_create("d", "u", &t, true, NULL, &e), -EBUSY);
	will_return(__wrap_dm_task_run, 1);
	assert_int_equal(thinsnap_dm_create("d", "u", &t, true, NULL, &e), 0);
	will_return(__wrap_dm_task_run, -ENXIO);
	assert_int_equal(thinsnap_dm_suspend("d", true, &e), -ENXIO);
	will_return(__wrap_dm_task_run, 1);
	assert_int_equal(thinsnap_dm_resume("d", &e), 0);
	will_return(__wrap_dm_task_run, -EINVAL);
	assert_int_equal(thinsnap_dm_reload("d", &t, &e), -EINVAL);
}

static void test_wait_event_timeout(void **state)
{
	struct thinsnap_error e;
	uint32_t ev = 0;

	(void)state;
	fake_info.exists = 1;
	fake_info.event_nr = 5;
	will_return_always(__wrap_dm_task_run, 1);
	assert_int_equal(thinsnap_dm_wait_event("d", 5, 50, &ev, &e), -ETIMEDOUT);
	assert_string_equal(e.msg, "dm device 'd': no event in 50 ms");
	assert_int_equal(thinsnap_dm_wait_event("d", 4, 50, &ev, &e), 0);
	assert_int_equal(ev, 5);
	fake_info.exists = 0;
	assert_int_equal(thinsnap_dm_wait_event("d", 4, 50, &ev, &e), -ENXIO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_names, setup),
		cmocka_unit_test_setup(test_info, setup),
		cmocka_unit_test_setup(test_remove_retries_busy, setup),
		cmocka_unit_test_setup(test_remove_stays_busy, setup),
		cmocka_unit_test_setup(test_message_errno, setup),
		cmocka_unit_test_setup(test_create_suspend_resume, setup),
		cmocka_unit_test_setup(test_wait_event_timeout, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * Helpers for the integration test programs (tests/integration/NAME.c: cmocka, run as root on a
 * real dm-thin pool): failing on an error with its message, mounting what a snapshot's mounts
 * say, a clean check, and tearing a test pool down whatever state a test left it in.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <thinsnap/error.h>
#include <thinsnap/snapshotter.h>

/* Fails the test naming what and the error when r < 0. */
void itest_must(int r, const struct thinsnap_error *e, const char *what);

/* Fails unless r is an error of code with a message. */
void itest_expect_err(int r, const struct thinsnap_error *e, enum thinsnap_code code);

/* Mounts m (a /dev/mapper device, its options: "ro" as MS_RDONLY, the rest as data) on dir. */
void itest_mount(const struct thinsnap_mount *m, const char *dir);
void itest_umount(const char *dir);

/* thinsnap_check() of s finds nothing leaked, dangling or unfinished. */
void itest_assert_check_clean(struct thinsnap_snapshotter *s);

/* A test's pool: a fresh state directory under $TMPDIR, the pool's directory in it, a mount
 * point, and a pool name unique to the process. */
struct itest_pool {
	char state_dir[256];
	char pool_dir[300];
	char mnt[300];
	char name[64];
};

/*
 * Makes ret's directories (state directory "<tag>.XXXXXX", named "<prefix><pid>") and creates
 * a loop-file pool of data_bytes in ret->pool_dir: 0, or -1 with the reason on stderr.
 */
int itest_create_pool(const char *tag, const char *prefix, uint64_t data_bytes,
		      bool error_if_no_space, struct itest_pool *ret);

/*
 * Deactivates every thin device the tests' naming (<pool>-snap-<id>, <pool>-base-<id>) left
 * active in the pool, destroys the pool and removes the state directory: 0, or -1 when the
 * last failed.
 */
int itest_destroy_pool(const struct itest_pool *p);

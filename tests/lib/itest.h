/*
 * Helpers for the integration test programs (tests/integration/NAME.c: cmocka, run as root on a
 * real dm-thin pool): failing on an error with its message, mounting what a snapshot's mounts
 * say, a clean check, and tearing a test pool down whatever state a test left it in.
 */
#pragma once

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

/*
 * Deactivates every thin device the tests' naming (<pool>-snap-<id>, <pool>-base-<id>) left
 * active in the pool, destroys the pool and removes state_dir: 0, or -1 when the last failed.
 */
int itest_destroy_pool(const char *pool_name, const char *pool_dir, const char *state_dir);

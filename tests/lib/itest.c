/* Helpers for the integration test programs; see itest.h. */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include "itest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include <thinsnap/pool.h>

void itest_must(int r, const struct thinsnap_error *e, const char *what)
{
	if (r < 0)
		fail_msg("%s: %d %s", what, r, e->msg);
}

void itest_expect_err(int r, const struct thinsnap_error *e, enum thinsnap_code code)
{
	if (r >= 0)
		fail_msg("expected %s, got success", thinsnap_code_name(code));
	if (thinsnap_code_from_errno(r) != code)
		fail_msg("expected %s, got %s (%d): %s", thinsnap_code_name(code),
			 thinsnap_code_name(thinsnap_code_from_errno(r)), r, e->msg);
	assert_true(e->msg[0] != '\0');
}

void itest_mount(const struct thinsnap_mount *m, const char *dir)
{
	unsigned long flags = 0;
	char data[256] = "";

	assert_non_null(m);
	assert_true(strncmp(m->source, "/dev/mapper/", 12) == 0);
	for (size_t i = 0; i < m->n_options; i++) {
		if (strcmp(m->options[i], "ro") == 0)
			flags |= MS_RDONLY;
		else
			snprintf(data + strlen(data), sizeof(data) - strlen(data), "%s%s",
				 data[0] ? "," : "", m->options[i]);
	}
	if (mount(m->source, dir, m->type, flags, data[0] ? data : NULL) < 0)
		fail_msg("mount %s on %s: %s", m->source, dir, strerror(errno));
}

void itest_umount(const char *dir)
{
	if (umount(dir) < 0)
		fail_msg("umount %s: %s", dir, strerror(errno));
}

void itest_assert_check_clean(struct thinsnap_snapshotter *s)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_check_report *rep = NULL;

	itest_must(thinsnap_check(s, &rep, &e), &e, "check");
	if (rep->n_leaked || rep->n_dangling || rep->n_unfinished)
		fail_msg("check: %zu leaked (first %u), %zu dangling (first '%s'), %zu unfinished",
			 rep->n_leaked, rep->n_leaked ? rep->leaked_ids[0] : 0, rep->n_dangling,
			 rep->n_dangling ? rep->dangling_keys[0] : "", rep->n_unfinished);
	thinsnap_check_report_free(rep);
}

int itest_destroy_pool(const char *pool_name, const char *pool_dir, const char *state_dir)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	char cmd[600];

	if (thinsnap_pool_open(pool_name, pool_dir, &p, &e) == 0) {
		uint32_t *ids = NULL;
		size_t n = 0;
		if (thinsnap_pool_list_thin_ids(p, &ids, &n, &e) == 0) {
			for (size_t i = 0; i < n; i++) {
				char dm[160];
				snprintf(dm, sizeof(dm), "%s-snap-%u", pool_name, ids[i]);
				thinsnap_pool_deactivate_thin(p, dm, NULL);
				snprintf(dm, sizeof(dm), "%s-base-%u", pool_name, ids[i]);
				thinsnap_pool_deactivate_thin(p, dm, NULL);
			}
			free(ids);
		}
		if (thinsnap_pool_destroy(p, &e) < 0) {
			fprintf(stderr, "pool destroy: %s\n", e.msg);
			thinsnap_pool_free(p);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", state_dir);
	return system(cmd) == 0 ? 0 : -1;
}

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
#include <sys/stat.h>
#include <unistd.h>

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

int itest_create_pool(const char *tag, const char *prefix, uint64_t data_bytes,
		      bool error_if_no_space, struct itest_pool *ret)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(ret->state_dir, sizeof(ret->state_dir), "%s/%s.XXXXXX", tmp, tag);
	if (!mkdtemp(ret->state_dir)) {
		fprintf(stderr, "mkdtemp %s: %s\n", ret->state_dir, strerror(errno));
		return -1;
	}
	if (thinsnap_state_pool_dir(ret->state_dir, ret->pool_dir, sizeof(ret->pool_dir)) < 0) {
		fprintf(stderr, "state dir '%s' too long\n", ret->state_dir);
		return -1;
	}
	snprintf(ret->mnt, sizeof(ret->mnt), "%s/mnt", ret->state_dir);
	mkdir(ret->mnt, 0755);
	snprintf(ret->name, sizeof(ret->name), "%s%d", prefix, (int)getpid());
	struct thinsnap_pool_create_opts po = THINSNAP_POOL_CREATE_OPTS_INIT;
	po.name = ret->name;
	po.state_dir = ret->pool_dir;
	po.data_size_bytes = data_bytes;
	po.error_if_no_space = error_if_no_space;
	if (thinsnap_pool_create(&po, &p, &e) < 0) {
		fprintf(stderr, "pool create: %s\n", e.msg);
		return -1;
	}
	thinsnap_pool_free(p);
	return 0;
}

int itest_destroy_pool(const struct itest_pool *ip)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	char cmd[600];

	if (thinsnap_pool_open(ip->name, ip->pool_dir, &p, &e) == 0) {
		uint32_t *ids = NULL;
		size_t n = 0;
		if (thinsnap_pool_list_thin_ids(p, &ids, &n, &e) == 0) {
			for (size_t i = 0; i < n; i++) {
				char dm[160];
				snprintf(dm, sizeof(dm), "%s-snap-%u", ip->name, ids[i]);
				thinsnap_pool_deactivate_thin(p, dm, NULL);
				snprintf(dm, sizeof(dm), "%s-base-%u", ip->name, ids[i]);
				thinsnap_pool_deactivate_thin(p, dm, NULL);
			}
			thinsnap_pool_thin_ids_free(ids);
		}
		if (thinsnap_pool_destroy(p, &e) < 0) {
			fprintf(stderr, "pool destroy: %s\n", e.msg);
			thinsnap_pool_free(p);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", ip->state_dir);
	return system(cmd) == 0 ? 0 : -1;
}

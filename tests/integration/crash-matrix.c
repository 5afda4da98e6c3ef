/*
 * Kill at every fault point, run as root on a real pool by
 * t0801-crash-matrix.sh. For each mutating operation a first child runs it with every fault
 * point armed far past reach, which counts how often the operation passes each point; then
 * one child per (point, hit) is SIGKILLed exactly there. After each kill the parent reopens
 * (recovery) and asserts: check clean, the pool's own device count (an independent thin_dump
 * of a metadata snapshot) equal to what the journal holds, committed contents byte-identical
 * (sha256 of every file read through a view), and the operation all or nothing. Pool grow has
 * no journal step: it is killed at its fault point between the pool's suspend and resume, and
 * from outside after a range of delays. With discard_blocks, remove and cleanup are killed while
 * the device is active for its discard, and the next open must recover. Every kill is checked
 * to be one: a child that finishes where a fault point should have fired fails the test. A
 * lost intent (a power cut before the journal's sync, which overlaps the pool's commit) is
 * simulated by cutting the journal back after a kill.
 */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/error.h>
#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#include "base/fault.h"
#include "itest.h"

static struct itest_pool P;
static struct thinsnap_snapshotter *S;
static char base_sum[80];   /* committed x-base, through a view */
static char active_sum[80]; /* x-active as the fixture wrote it */
static int n_runs, n_killed, n_completed;
static bool discard; /* the handles discard a removed device's blocks (discard_blocks) */

static const char *points[] = {
	"snap.txn.after_intent",
	"snap.txn.after_pool",
	"snap.txn.after_tid",
	"snap.txn.before_sync_join",
	"snap.txn.after_finish",
	"snap.commit.after_deactivate",
	"snap.create.before_grow",
	"meta.append.before_write",
	"meta.append.before_sync",
	"meta.append.after_sync",
	"pool.create_snap.after_suspend",
	"pool.resize.after_suspend",
};
#define N_POINTS (sizeof(points) / sizeof(points[0]))

static struct thinsnap_options opts(bool async_remove)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;

	o.state_dir = P.state_dir;
	o.pool_name = P.name;
	o.base_size_bytes = 64ull << 20;
	o.fs_type = "ext4";
	o.async_remove = async_remove;
	o.discard_blocks = discard;
	return o;
}

static void open_s(bool async_remove)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_options o = opts(async_remove);

	if (thinsnap_open(&o, &S, &e) < 0)
		fail_msg("open: %s", e.msg);
}

static void close_s(void)
{
	thinsnap_free(S);
	S = NULL;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* The first line of a shell command's output, without its newline. */
static void sh_out(char *out, size_t size, const char *cmd)
{
	FILE *f = popen(cmd, "r");

	assert_non_null(f);
	out[0] = '\0';
	if (!fgets(out, (int)size, f))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	assert_int_equal(pclose(f), 0);
}

static void do_mount(const struct thinsnap_mount *m)
{
	itest_mount(m, P.mnt);
}

static void do_umount(void)
{
	itest_umount(P.mnt);
}

/* sha256 over the sorted sha256 list of every regular file under the mount */
static void tree_sum(char *out, size_t size)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && find . -type f ! -path './lost+found/*' -print0 | sort -z | "
		 "xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1",
		 P.mnt);
	sh_out(out, size, cmd);
	assert_int_equal(strlen(out), 64);
}

/* The checksum of a committed snapshot, read through a temporary view. */
static void committed_sum(const char *name, char *out, size_t size)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;

	itest_must(thinsnap_view(S, "x-sum-view", name, NULL, 0, &m, &e), &e, "view for checksum");
	do_mount(m);
	tree_sum(out, size);
	do_umount();
	thinsnap_mount_free(m);
	itest_must(thinsnap_remove(S, "x-sum-view", &e), &e, "remove checksum view");
}

/* The checksum of an active snapshot or view, read through its own mount. */
static void active_sum_of(const char *key, char *out, size_t size)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;

	itest_must(thinsnap_mounts(S, key, &m, &e), &e, "mounts");
	do_mount(m);
	tree_sum(out, size);
	do_umount();
	thinsnap_mount_free(m);
}

static bool exists(const char *key, enum thinsnap_kind *kind)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_info *info = NULL;

	if (thinsnap_stat(S, key, &info, &e) < 0)
		return false;
	if (kind)
		*kind = info->kind;
	thinsnap_info_free(info);
	return true;
}

static const char *label_of(const char *key, const char *label)
{
	static char v[64];
	struct thinsnap_error e = { 0 };
	struct thinsnap_info *info = NULL;

	itest_must(thinsnap_stat(S, key, &info, &e), &e, "stat");
	snprintf(v, sizeof(v), "(none)");
	for (size_t i = 0; i < info->n_labels; i++)
		if (strcmp(info->labels[i].key, label) == 0)
			snprintf(v, sizeof(v), "%s", info->labels[i].value);
	thinsnap_info_free(info);
	return v;
}

/*
 * The pool's own view, without thinsnap: reserve a metadata snapshot, thin_dump it, count
 * the devices. It must equal every thin id the journal holds.
 */
static unsigned pool_device_count(void)
{
	char cmd[1024], out[64];

	snprintf(cmd, sizeof(cmd),
		 "set -e; p='%s'; mm=$(dmsetup table \"$p\" | awk '{print $4}'); "
		 "dev=/dev/$(sed -n 's/^DEVNAME=//p' /sys/dev/block/$mm/uevent); "
		 "dmsetup message \"$p\" 0 reserve_metadata_snap; "
		 "n=$(thin_dump -m \"$dev\" | grep -c '<device ' || true); "
		 "dmsetup message \"$p\" 0 release_metadata_snap; echo $n",
		 P.name);
	sh_out(out, sizeof(out), cmd);
	return (unsigned)strtoul(out, NULL, 10);
}

static void assert_consistent(const char *what)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_check_report *rep = NULL;
	struct thinsnap_counts c;
	char sum[80];

	itest_must(thinsnap_check(S, &rep, &e), &e, "check");
	if (rep->n_leaked || rep->n_dangling || rep->n_unfinished)
		fail_msg("%s: check: %zu leaked (first %u), %zu dangling (first '%s'), "
			 "%zu unfinished",
			 what, rep->n_leaked, rep->n_leaked ? rep->leaked_ids[0] : 0,
			 rep->n_dangling, rep->n_dangling ? rep->dangling_keys[0] : "",
			 rep->n_unfinished);
	thinsnap_check_report_free(rep);
	itest_must(thinsnap_counts(S, &c, &e), &e, "counts");
	unsigned journal =
		(unsigned)(c.active + c.views + c.committed + c.base_devices + c.pending_deletes);
	unsigned pool = pool_device_count();
	if (journal != pool)
		fail_msg("%s: the journal holds %u thin ids, thin_dump shows %u", what, journal,
			 pool);
	/* a device left suspended (killed between suspend and resume) would hang its reads */
	char cmd[512], suspended[256];
	snprintf(cmd, sizeof(cmd),
		 "for n in $(dmsetup ls | awk '$1 ~ /^%s-/ {print $1}'); do "
		 "dmsetup info \"$n\" | grep -q '^State: *SUSPENDED' && echo \"$n\"; done; true",
		 P.name);
	sh_out(suspended, sizeof(suspended), cmd);
	if (suspended[0])
		fail_msg("%s: device %s is left suspended", what, suspended);
	committed_sum("x-base", sum, sizeof(sum));
	if (strcmp(sum, base_sum) != 0)
		fail_msg("%s: committed x-base changed: %s, was %s", what, sum, base_sum);
}

/* ---- the fixture: x-base (committed), x-active (its child, written) ---- */

static void write_tree(const char *tag)
{
	assert_int_equal(sh("set -e; cd '%s'; mkdir -p d/e; echo '%s small' > d/e/small; "
			    "head -c 1048576 /dev/urandom > big; printf '%s' > tag",
			    P.mnt, tag, tag),
			 0);
}

static void make_active(void)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	struct thinsnap_label l[] = { { "l", "old" } };

	itest_must(thinsnap_prepare(S, "x-active", "x-base", l, 1, &m, &e), &e, "prepare x-active");
	do_mount(m);
	write_tree("active");
	tree_sum(active_sum, sizeof(active_sum));
	do_umount();
	thinsnap_mount_free(m);
}

static void make_pending_delete(void)
{
	struct thinsnap_error e = { 0 };

	close_s();
	open_s(true);
	itest_must(thinsnap_prepare(S, "x-gone", "x-base", NULL, 0, NULL, &e), &e,
		   "prepare x-gone");
	itest_must(thinsnap_remove(S, "x-gone", &e), &e, "async remove");
	close_s();
	open_s(false);
}

static int setup(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;

	(void)state;
	if (itest_create_pool("crash", "tcm", 512ull << 20, true, &P) < 0)
		return -1;
	open_s(false);
	if (thinsnap_prepare(S, "x-a", NULL, NULL, 0, &m, &e) < 0) {
		fprintf(stderr, "prepare: %s\n", e.msg);
		return -1;
	}
	do_mount(m);
	write_tree("base");
	do_umount();
	thinsnap_mount_free(m);
	if (thinsnap_commit(S, "x-base", "x-a", NULL, 0, 0, &e) < 0) {
		fprintf(stderr, "commit: %s\n", e.msg);
		return -1;
	}
	committed_sum("x-base", base_sum, sizeof(base_sum));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	umount2(P.mnt, MNT_DETACH);
	close_s();
	return itest_destroy_pool(&P);
}

/* ---- the operations ---- */

enum op {
	OP_PREPARE,
	OP_PREPARE_CHILD,
	OP_PREPARE_GROW,
	OP_VIEW,
	OP_COMMIT,
	OP_COMMIT_KEEP,
	OP_REMOVE,
	OP_CLEANUP,
	OP_UPDATE,
	OP_RESIZE,
	OP__N
};
static const char *op_names[] = { "prepare", "prepare-child", "prepare-grow", "view",
				  "commit",  "commit-keep",   "remove",       "cleanup",
				  "update",  "resize" };

static int run_op(enum op op)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_label nl[] = { { "l", "new" } };
	struct thinsnap_info upd = { .name = (char *)"x-active", .labels = nl, .n_labels = 1 };
	const char *paths[] = { "labels.l" };
	struct thinsnap_info *got = NULL;
	/* larger than its parent: the filesystem is grown, so the transaction id decides it */
	struct thinsnap_label grow[] = { { THINSNAP_LABEL_MAX_SIZE, "134217728" } };
	int r;

	switch (op) {
	case OP_PREPARE:
		return thinsnap_prepare(S, "x-new", NULL, NULL, 0, NULL, &e);
	case OP_PREPARE_CHILD:
		return thinsnap_prepare(S, "x-new", "x-base", NULL, 0, NULL, &e);
	case OP_PREPARE_GROW:
		return thinsnap_prepare(S, "x-new", "x-base", grow, 1, NULL, &e);
	case OP_VIEW:
		return thinsnap_view(S, "x-new", "x-base", NULL, 0, NULL, &e);
	case OP_COMMIT:
		return thinsnap_commit(S, "x-new", "x-active", NULL, 0, 0, &e);
	case OP_COMMIT_KEEP:
		return thinsnap_commit(S, "x-new", "x-active", NULL, 0, THINSNAP_COMMIT_KEEP_ACTIVE,
				       &e);
	case OP_REMOVE:
		return thinsnap_remove(S, "x-active", &e);
	case OP_CLEANUP:
		return thinsnap_cleanup(S, &e);
	case OP_UPDATE:
		r = thinsnap_update(S, &upd, paths, 1, &got, &e);
		thinsnap_info_free(got);
		return r;
	case OP_RESIZE: /* from the fixture's 64 MiB */
		return thinsnap_resize(S, "x-active", 96ull << 20, &e);
	case OP__N:
		break;
	}
	return -EINVAL;
}

/* Brings the journal back to the fixture for op: x-base, x-active, a pending delete. */
static void reset_fixture(enum op op)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_counts c;

	if (exists("x-new", NULL))
		itest_must(thinsnap_remove(S, "x-new", &e), &e, "remove x-new");
	if (exists("x-active", NULL))
		itest_must(thinsnap_remove(S, "x-active", &e), &e, "remove x-active");
	itest_must(thinsnap_cleanup(S, &e), &e, "cleanup");
	make_active();
	if (op == OP_CLEANUP)
		make_pending_delete();
	itest_must(thinsnap_counts(S, &c, &e), &e, "counts");
	assert_int_equal(c.pending_deletes, op == OP_CLEANUP ? 1 : 0);
}

/*
 * Runs op in a child with spec armed (after open, so only the op's own hits count).
 * Returns true if the child was SIGKILLed; fails if it failed otherwise. With counts, the
 * child reports how often it passed each point.
 */
static bool run_child_at(enum op op, const char *spec, unsigned counts[N_POINTS], bool reopen)
{
	int pfd[2];
	int status = 0;

	assert_int_equal(pipe(pfd), 0);
	close_s();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		open_s(false);
		if (thinsnap_fault_arm(spec) < 0)
			_exit(4);
		int r = run_op(op);
		if (counts) {
			unsigned c[N_POINTS];
			for (size_t i = 0; i < N_POINTS; i++)
				c[i] = thinsnap_fault_hits(points[i]);
			if (write(pfd[1], c, sizeof(c)) != (ssize_t)sizeof(c))
				_exit(2);
		}
		_exit(r < 0 ? 1 : 0);
	}
	close(pfd[1]);
	if (counts) {
		ssize_t n = read(pfd[0], counts, sizeof(unsigned) * N_POINTS);
		assert_int_equal(n, (ssize_t)(sizeof(unsigned) * N_POINTS));
	}
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	if (!killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		fail_msg("%s (%s): the child failed without being killed (status 0x%x)",
			 op_names[op], spec, status);
	if (reopen)
		open_s(false); /* recovery */
	return killed;
}

static bool run_child(enum op op, const char *spec, unsigned counts[N_POINTS])
{
	return run_child_at(op, spec, counts, true);
}

/* After the op ran (completed or killed) and the reopen: all or nothing, contents intact. */
static void verify(enum op op, const char *what)
{
	enum thinsnap_kind kind = THINSNAP_KIND_ACTIVE;
	struct thinsnap_error e = { 0 };
	struct thinsnap_counts c;
	char sum[80];

	assert_consistent(what);
	bool has_new = exists("x-new", &kind);
	bool has_active = exists("x-active", NULL);
	switch (op) {
	case OP_PREPARE:
		assert_true(has_active);
		if (has_new) { /* all: a working, empty filesystem */
			assert_int_equal(kind, THINSNAP_KIND_ACTIVE);
			active_sum_of("x-new", sum, sizeof(sum));
			char empty[80];
			sh_out(empty, sizeof(empty), "printf '' | sha256sum | cut -d' ' -f1");
			if (strcmp(sum, empty) != 0)
				fail_msg("%s: the new snapshot is not empty", what);
		}
		break;
	case OP_PREPARE_CHILD:
	case OP_PREPARE_GROW:
	case OP_VIEW:
		assert_true(has_active);
		if (has_new) { /* all: the parent's contents */
			assert_int_equal(kind,
					 op == OP_VIEW ? THINSNAP_KIND_VIEW : THINSNAP_KIND_ACTIVE);
			active_sum_of("x-new", sum, sizeof(sum));
			if (strcmp(sum, base_sum) != 0)
				fail_msg("%s: the new snapshot differs from its parent", what);
		}
		break;
	case OP_COMMIT:
	case OP_COMMIT_KEEP:
		if (op == OP_COMMIT)
			assert_true(has_new != has_active);
		else
			assert_true(has_active);
		if (has_new) {
			assert_int_equal(kind, THINSNAP_KIND_COMMITTED);
			committed_sum("x-new", sum, sizeof(sum));
			if (strcmp(sum, active_sum) != 0)
				fail_msg("%s: the commit differs from the active contents", what);
		}
		if (has_active) {
			active_sum_of("x-active", sum, sizeof(sum));
			if (strcmp(sum, active_sum) != 0)
				fail_msg("%s: the active snapshot changed", what);
		}
		break;
	case OP_REMOVE:
		assert_false(has_new);
		if (has_active) {
			active_sum_of("x-active", sum, sizeof(sum));
			assert_string_equal(sum, active_sum);
		}
		break;
	case OP_CLEANUP:
		assert_false(has_new);
		assert_true(has_active);
		itest_must(thinsnap_counts(S, &c, &e), &e, "counts");
		assert_true(c.pending_deletes <= 1);
		break;
	case OP_UPDATE: {
		assert_false(has_new);
		assert_true(has_active);
		const char *v = label_of("x-active", "l");
		if (strcmp(v, "old") != 0 && strcmp(v, "new") != 0)
			fail_msg("%s: label l is '%s'", what, v);
		break;
	}
	case OP_RESIZE: /* the contents stay; a second resize finishes what a kill cut */
		assert_false(has_new);
		assert_true(has_active);
		if (run_op(OP_RESIZE) < 0)
			fail_msg("%s: the second resize failed", what);
		active_sum_of("x-active", sum, sizeof(sum));
		if (strcmp(sum, active_sum) != 0)
			fail_msg("%s: the resized snapshot changed", what);
		break;
	case OP__N:
		break;
	}
}

static void test_kill_every_point(void **state)
{
	unsigned hits[OP__N][N_POINTS];
	char spec[1024];
	int combos = 0;

	(void)state;
	for (int op = 0; op < OP__N; op++) {
		/* count: every point armed at a hit it never reaches */
		spec[0] = '\0';
		for (size_t i = 0; i < N_POINTS; i++)
			snprintf(spec + strlen(spec), sizeof(spec) - strlen(spec),
				 "%s%s@1000000:abort", i ? "," : "", points[i]);
		reset_fixture((enum op)op);
		assert_false(run_child((enum op)op, spec, hits[op]));
		verify((enum op)op, op_names[op]);
		n_runs++;
		n_completed++;
		fprintf(stderr, "%-14s", op_names[op]);
		for (size_t i = 0; i < N_POINTS; i++)
			fprintf(stderr, " %s=%u", points[i], hits[op][i]);
		fprintf(stderr, "\n");
		for (size_t i = 0; i < N_POINTS; i++) {
			combos += hits[op][i] > 0;
			for (unsigned n = 1; n <= hits[op][i]; n++) {
				char what[160];
				snprintf(spec, sizeof(spec), "%s@%u:abort", points[i], n);
				snprintf(what, sizeof(what), "%s killed at %s@%u", op_names[op],
					 points[i], n);
				reset_fixture((enum op)op);
				bool killed = run_child((enum op)op, spec, NULL);
				if (!killed)
					fail_msg("%s: not killed", what);
				verify((enum op)op, what);
				n_runs++;
				n_killed++;
			}
		}
	}
	fprintf(stderr,
		"crash-matrix: %d operations x %zu fault points: %d (op, point) pairs reached, "
		"%d kills at distinct (op, point, hit), %d runs, every one consistent\n",
		(int)OP__N, N_POINTS, combos, n_killed, n_runs);
	/* a point no operation passes (renamed, or gone) would be silently left out */
	unsigned per_point[N_POINTS] = { 0 }, per_op[OP__N] = { 0 };
	for (int op = 0; op < OP__N; op++)
		for (size_t i = 0; i < N_POINTS; i++) {
			per_point[i] += hits[op][i];
			per_op[op] += hits[op][i];
		}
	for (size_t i = 0; i < N_POINTS; i++)
		if (per_point[i] == 0)
			fail_msg("no operation passed the fault point %s", points[i]);
	for (int op = 0; op < OP__N; op++)
		if (per_op[op] == 0)
			fail_msg("%s passed none of the fault points", op_names[op]);
	assert_true(n_killed >= 30);
}

/*
 * Pool grow has no journal step (the pool's size is not in the journal): kill it between
 * the pool's suspend and resume, and from outside after delays from 0 to ~40 ms; reopen: the
 * pool is not left suspended, and the data size is the old or the new.
 */
static uint64_t data_size(void)
{
	struct stat st;
	char p[400];

	snprintf(p, sizeof(p), "%s/data", P.pool_dir);
	assert_int_equal(stat(p, &st), 0);
	return (uint64_t)st.st_size;
}

static void test_kill_pool_grow(void **state)
{
	int killed = 0;
	int tries = 0;

	(void)state;
	/* i == -1: killed at the fault point between the pool's suspend and resume; then
	 * from outside after 0 .. 38.5 ms */
	for (int i = -1; i < 12; i++) {
		uint64_t before = data_size(), after = before + (16ull << 20);
		int status = 0;
		close_s();
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			struct thinsnap_pool *p = NULL;
			if (thinsnap_pool_open(P.name, P.pool_dir, &p, NULL) < 0)
				_exit(3);
			if (i < 0 && thinsnap_fault_arm("pool.grow.after_suspend:abort") < 0)
				_exit(4);
			_exit(thinsnap_pool_grow(p, after, NULL) < 0 ? 1 : 0);
		}
		if (i >= 0) {
			struct timespec ts = { 0, (long)i * 3500000L };
			nanosleep(&ts, NULL);
			kill(pid, SIGKILL);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		tries++;
		if (WIFSIGNALED(status))
			killed++;
		else if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			fail_msg("pool grow failed without the kill (status 0x%x)", status);
		if (i < 0) /* killed at its fault point, not finished */
			assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		/* reopen: the pool is not left suspended (all I/O would hang) */
		open_s(false);
		assert_int_equal(sh("dmsetup info %s | grep -q '^State: *ACTIVE'", P.name), 0);
		uint64_t now = data_size();
		if (now != before && now != after)
			fail_msg("grow killed after %d ms: data size %llu, neither %llu nor %llu",
				 i * 35 / 10, (unsigned long long)now, (unsigned long long)before,
				 (unsigned long long)after);
		/* a grow that got as far as the file completes on the next grow */
		struct thinsnap_pool *p = NULL;
		struct thinsnap_error e = { 0 };
		itest_must(thinsnap_pool_open(P.name, P.pool_dir, &p, &e), &e, "pool open");
		itest_must(thinsnap_pool_grow(p, after, &e), &e, "grow again");
		thinsnap_pool_free(p);
		assert_consistent("pool grow");
	}
	fprintf(stderr, "crash-matrix: pool grow killed %d of %d times (once at its fault point)\n",
		killed, tries);
	n_runs += tries;
}

/*
 * `check` right after a crash, before any writer reopened: it opens read-only and does not
 * recover, so it must list the unfinished operation and which way the next writer's open
 * takes it, count none of its thin ids as leaked or dangling, and exit 0 (the command); then
 * a writer's open resolves it exactly as announced.
 */
static void check_after_kill(enum op op, const char *point, const char *operation, const char *key,
			     enum thinsnap_recovery want, bool key_after)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_check_report *rep = NULL;
	struct thinsnap_options o = opts(false);
	const char *cli = getenv("THINSNAP") ? getenv("THINSNAP") : "build/release/thinsnap";
	char spec[128], out[512], cmd[4096], line[256];

	reset_fixture(op);
	snprintf(spec, sizeof(spec), "%s@1:abort", point);
	assert_true(run_child_at(op, spec, NULL, false));
	o.read_only = true;
	itest_must(thinsnap_open(&o, &S, &e), &e, "read-only open");
	itest_must(thinsnap_check(S, &rep, &e), &e, "check");
	if (rep->n_unfinished != 1 || rep->n_leaked || rep->n_dangling)
		fail_msg("%s at %s: %zu unfinished, %zu leaked, %zu dangling", operation, point,
			 rep->n_unfinished, rep->n_leaked, rep->n_dangling);
	const struct thinsnap_check_intent *in = &rep->intents[0];
	assert_string_equal(in->operation, operation);
	assert_string_equal(in->key ? in->key : "(none)", key ? key : "(none)");
	assert_int_equal(in->recovery, want);
	assert_true(in->dev_id > 0);
	snprintf(line, sizeof(line),
		 "  operation %llu: %s%s%s%s (thin id %u): %s at the next writer's open",
		 (unsigned long long)in->id, operation, key ? " '" : "", key ? key : "",
		 key ? "'" : "", in->dev_id,
		 want == THINSNAP_RECOVERY_ROLL_BACK ? "rolled back" : "rolled forward");
	thinsnap_check_report_free(rep);
	close_s();

	/* the command says so plainly and exits 0; a read-only check changed nothing */
	snprintf(out, sizeof(out), "%s/check.out", P.state_dir);
	snprintf(cmd, sizeof(cmd),
		 "'%s' --state-dir '%s' --pool '%s' check > '%s' 2>&1 && grep -qxF \"$L\" '%s' && "
		 "grep -q '^recovery pending: ' '%s' && grep -qx 'journal and pool agree' '%s' && "
		 "! grep -qi 'disagree\\|corrupt' '%s'",
		 cli, P.state_dir, P.name, out, out, out, out, out);
	setenv("L", line, 1);
	if (system(cmd) != 0) {
		(void)sh("cat '%s' >&2", out);
		fail_msg("thinsnap check after %s killed at %s: want the line '%s'", operation,
			 point, line);
	}

	open_s(false); /* the writer's open recovers as announced */
	assert_consistent(point);
	if (key)
		assert_int_equal(exists(key, NULL), key_after);
	fprintf(stderr, "check after crash: %s killed at %s: reported '%s', then %s\n", operation,
		point, line,
		want == THINSNAP_RECOVERY_ROLL_BACK ? "rolled back" : "rolled forward");
}

static void test_check_after_crash(void **state)
{
	(void)state;
	/* the intent is written, the pool has no device: undone */
	check_after_kill(OP_PREPARE_CHILD, "snap.txn.after_intent", "prepare", "x-new",
			 THINSNAP_RECOVERY_ROLL_BACK, false);
	/* the pool has the device, the journal's sync may not have finished: completed */
	check_after_kill(OP_VIEW, "snap.txn.before_sync_join", "view", "x-new",
			 THINSNAP_RECOVERY_ROLL_FORWARD, true);
	/* grown: the pool made the device, the transaction id was not swapped: undone */
	check_after_kill(OP_PREPARE_GROW, "snap.txn.after_pool", "prepare", "x-new",
			 THINSNAP_RECOVERY_ROLL_BACK, false);
	/* grown and the transaction id swapped, the journal not yet: completed */
	check_after_kill(OP_PREPARE_GROW, "snap.txn.after_tid", "prepare", "x-new",
			 THINSNAP_RECOVERY_ROLL_FORWARD, true);
	/* the pool deleted the device, the key is still in the journal: finished */
	check_after_kill(OP_REMOVE, "snap.txn.after_pool", "remove", "x-active",
			 THINSNAP_RECOVERY_ROLL_FORWARD, false);
	check_after_kill(OP_REMOVE, "snap.txn.before_sync_join", "remove", "x-active",
			 THINSNAP_RECOVERY_ROLL_FORWARD, false);
	check_after_kill(OP_COMMIT_KEEP, "snap.txn.after_intent", "commit", "x-new",
			 THINSNAP_RECOVERY_ROLL_BACK, false);
	check_after_kill(OP_CLEANUP, "snap.txn.after_pool", "cleanup", NULL,
			 THINSNAP_RECOVERY_ROLL_FORWARD, false);
}

/* Whether the pool has a device named <pool>-discard-<anything> (active or not). */
static bool discard_device_left(void)
{
	return sh("dmsetup info -c --noheadings -o name | grep -q '^%s-discard-'", P.name) == 0;
}

/*
 * With discard_blocks, a delete's pool step activates the device as <pool>-discard-<id> and
 * discards its blocks before deleting it. Killed there (remove, and cleanup of a pending
 * delete), the device is left active: the next open must deactivate it before deleting it
 * (not fail with -EBUSY), finish the delete, and leak no thin id.
 */
static void test_kill_during_discard(void **state)
{
	static const enum op ops[] = { OP_REMOVE, OP_CLEANUP };
	struct thinsnap_error e = { 0 };
	struct thinsnap_counts c;

	(void)state;
	discard = true;
	close_s();
	open_s(false);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		enum op op = ops[i];
		char what[96];

		snprintf(what, sizeof(what), "%s killed while discarding", op_names[op]);
		reset_fixture(op);
		/* killed with the discard device active */
		if (!run_child_at(op, "snap.discard.before_deactivate@1:abort", NULL, false))
			fail_msg("%s: the child finished: the fault never fired", what);
		if (!discard_device_left())
			fail_msg("%s: no discard device left active by the kill", what);
		struct thinsnap_options o = opts(false);
		int r = thinsnap_open(&o, &S, &e);
		if (r < 0)
			fail_msg("%s: the next open failed: %s", what, e.msg);
		assert_false(discard_device_left());
		verify(op, what); /* check clean: nothing leaked; journal == pool */
		if (op == OP_REMOVE)
			assert_false(exists("x-active", NULL)); /* a delete rolls forward */
		itest_must(thinsnap_counts(S, &c, &e), &e, "counts");
		assert_int_equal(c.pending_deletes, 0);
		n_runs++;
		n_killed++;
		fprintf(stderr, "crash-matrix: %s: recovered at the next open\n", what);
	}
	discard = false;
	close_s();
	open_s(false);
}

/* A journal file's bytes (NULL: no such file), to put back what a power cut may lose. */
struct saved_file {
	char *p;
	long len;
};

static struct saved_file file_save(const char *path)
{
	struct saved_file f = { 0 };
	FILE *in = fopen(path, "rb");

	if (!in)
		return f;
	assert_int_equal(fseek(in, 0, SEEK_END), 0);
	f.len = ftell(in);
	assert_true(f.len >= 0);
	rewind(in);
	f.p = malloc((size_t)f.len + 1);
	assert_non_null(f.p);
	assert_int_equal(fread(f.p, 1, (size_t)f.len, in), (size_t)f.len);
	fclose(in);
	return f;
}

static void file_restore(const char *path, struct saved_file *f)
{
	FILE *out;

	if (!f->p)
		return;
	out = fopen(path, "wb");
	assert_non_null(out);
	assert_int_equal(fwrite(f->p, 1, (size_t)f->len, out), (size_t)f->len);
	assert_int_equal(fclose(out), 0);
	free(f->p);
	f->p = NULL;
}

/*
 * A power cut may lose the intent of the transaction in flight while its pool step reached
 * the pool: the intent's fdatasync overlaps the pool's commit. Simulated: the operation is
 * killed after its pool step, before the sync is joined; the journal's files get back their
 * bytes from before the operation (what was not synced may be lost: the record overwrote zeros
 * written ahead of the end, so the files kept their size), and the boot id file is removed
 * (what a new boot looks like to the next open). The next writer's open must find what the
 * lost intent left (a device the journal lacks; a key whose device is gone) and leave the
 * journal and the pool agreeing, the operation undone or done.
 */
static void test_lost_intent(void **state)
{
	static const enum op ops[] = { OP_PREPARE_CHILD, OP_VIEW, OP_COMMIT_KEEP, OP_REMOVE,
				       OP_PREPARE };
	char journal[512], copy[512], boot[512];

	(void)state;
	snprintf(journal, sizeof(journal), "%s/journal", P.state_dir);
	snprintf(copy, sizeof(copy), "%s/journal.copy", P.state_dir);
	snprintf(boot, sizeof(boot), "%s/boot-id", P.state_dir);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		enum op op = ops[i];
		char what[96];

		snprintf(what, sizeof(what), "%s with its intent lost", op_names[op]);
		reset_fixture(op);
		struct saved_file j = file_save(journal), c = file_save(copy);
		assert_non_null(j.p);
		if (!run_child_at(op, "snap.txn.before_sync_join@1:abort", NULL, false))
			fail_msg("%s: the child finished: the fault never fired", what);
		file_restore(journal, &j);
		file_restore(copy, &c);
		assert_int_equal(unlink(boot), 0);
		open_s(false);
		verify(op, what); /* check clean, journal == pool, all or nothing */
		assert_false(exists("x-new", NULL)); /* a lost create: undone */
		assert_int_equal(exists("x-active", NULL),
				 op != OP_REMOVE); /* a lost remove: done */
		n_runs++;
		n_killed++;
		fprintf(stderr, "crash-matrix: %s: recovered at the next open\n", what);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_every_point),
		cmocka_unit_test(test_kill_pool_grow),
		cmocka_unit_test(test_check_after_crash),
		cmocka_unit_test(test_kill_during_discard),
		cmocka_unit_test(test_lost_intent),
	};
	/* CRASH_MATRIX_TEST=test_check_after_crash runs one test (cmocka's name filter) */
	if (getenv("CRASH_MATRIX_TEST"))
		cmocka_set_test_filter(getenv("CRASH_MATRIX_TEST"));
	int r = cmocka_run_group_tests(tests, setup, teardown);
	fprintf(stderr, "crash-matrix: %d runs, %d killed at a fault point, %d completed\n", n_runs,
		n_killed, n_completed);
	return r;
}

/*
 * The fair benchmark: thinsnap's library against the bare libdevmapper floor (bare-dm.h) on
 * the same pool, in interleaved rounds (library then floor, floor then library, alternating),
 * so that both see the same load; the ratio is taken per round, and its median and p10-p90
 * are reported. Each round times a child prepare, a commit and a remove of an active snapshot
 * against their floors; a 4 KiB pwrite + fdatasync beside the pool measures the disk's load.
 * Quiet rounds, then the same under a background writer (64 MiB dd conv=fsync in a loop in
 * the pool's directory, started and stopped here). Run as root where dm-thin works:
 *   scripts/dmrun -- build/release/bench/bench-fair [ROUNDS [TSV]]
 * TSV rows: "load<TAB>op<TAB>library_ms<TAB>floor_ms" (bench/report.sh).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#include "bare-dm.h"
#include "bench.h"

#define BASE_SIZE   (1ull << 30)
#define PARENT_ID   2u /* the committed parent: the base is 1, "parent" the next */
#define FLOOR_FIRST 200000u

enum op { PREPARE, COMMIT, REMOVE, SYNC, N_OPS };
static const char *const op_names[N_OPS] = { "prepare", "commit", "remove", "fdatasync" };

struct phase {
	const char *load; /* "quiet" or "loaded" */
	double *lib[N_OPS], *floor[N_OPS];
	int n;
};

/* nearest rank of a sorted copy */
static double pct(const double *v, int n, double p)
{
	double *c = malloc((size_t)n * sizeof(*c)), x;

	if (!c)
		exit(1);
	memcpy(c, v, (size_t)n * sizeof(*c));
	qsort(c, (size_t)n, sizeof(*c), bench_cmp_double);
	x = c[(int)(p * (n - 1) + 0.5)];
	free(c);
	return x;
}

static void die(const char *what, const struct thinsnap_error *e)
{
	fprintf(stderr, "bench-fair: %s: %s\n", what, e ? e->msg : "failed");
	exit(1);
}

struct ctx {
	const char *pool_name;
	struct thinsnap_snapshotter *s;
	unsigned maj, mnr;
	uint32_t next_floor_id;
	int sync_fd;
};

static void lib_round(struct ctx *c, int i, struct phase *ph)
{
	struct thinsnap_error e = { 0 };
	char a[64], k[64], r[64];
	double t;

	snprintf(a, sizeof(a), "%s-a-%d", ph->load, i);
	snprintf(k, sizeof(k), "%s-c-%d", ph->load, i);
	snprintf(r, sizeof(r), "%s-r-%d", ph->load, i);
	t = bench_now_ms();
	if (thinsnap_prepare(c->s, a, "parent", NULL, 0, NULL, &e) < 0)
		die("prepare", &e);
	ph->lib[PREPARE][i] = bench_now_ms() - t;
	t = bench_now_ms();
	if (thinsnap_commit(c->s, k, a, NULL, 0, 0, &e) < 0)
		die("commit", &e);
	ph->lib[COMMIT][i] = bench_now_ms() - t;
	if (thinsnap_prepare(c->s, r, "parent", NULL, 0, NULL, &e) < 0)
		die("prepare", &e);
	t = bench_now_ms();
	if (thinsnap_remove(c->s, r, &e) < 0)
		die("remove", &e);
	ph->lib[REMOVE][i] = bench_now_ms() - t;
	if (thinsnap_remove(c->s, k, &e) < 0)
		die("remove committed", &e);
}

/* create_snap of the parent + activate (prepare), deactivate + delete (remove); a commit's
 * floor is the same deactivate and one pool metadata commit (a delete) on a second device */
static void floor_round(struct ctx *c, int i, struct phase *ph)
{
	char dm[64], msg[64], params[64];
	double t;

	for (int step = 0; step < 2; step++) {
		uint32_t id = c->next_floor_id++;

		snprintf(dm, sizeof(dm), "%s-floor", c->pool_name);
		snprintf(params, sizeof(params), "%u:%u %u", c->maj, c->mnr, id);
		snprintf(msg, sizeof(msg), "create_snap %u %u", id, PARENT_ID);
		t = bench_now_ms();
		if (bare_message(c->pool_name, msg) < 0 ||
		    bare_create(dm, BASE_SIZE / 512, params) < 0)
			die("floor create_snap + activate", NULL);
		if (step == 0)
			ph->floor[PREPARE][i] = bench_now_ms() - t;
		snprintf(msg, sizeof(msg), "delete %u", id);
		t = bench_now_ms();
		if (bare_remove(dm) < 0 || bare_message(c->pool_name, msg) < 0)
			die("floor deactivate + delete", NULL);
		ph->floor[step == 0 ? REMOVE : COMMIT][i] = bench_now_ms() - t;
	}
}

/* The disk's load: one 4 KiB pwrite + fdatasync next to the pool (both columns: the same). */
static void sync_probe(struct ctx *c, int i, struct phase *ph)
{
	char buf[4096];
	double t;

	memset(buf, i & 0xff, sizeof(buf));
	t = bench_now_ms();
	if (pwrite(c->sync_fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf) ||
	    fdatasync(c->sync_fd) < 0)
		die("probe fdatasync", NULL);
	ph->lib[SYNC][i] = ph->floor[SYNC][i] = bench_now_ms() - t;
}

/* The background writer: a shell loop of 64 MiB dd with conv=fsync into dir. */
static pid_t start_writer(const char *dir)
{
	char cmd[512];
	pid_t pid;

	snprintf(cmd, sizeof(cmd),
		 "while :; do dd if=/dev/zero of='%s/load' bs=1M count=64 conv=fsync "
		 "status=none; done",
		 dir);
	pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (pid == 0) {
		(void)setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	(void)setpgid(pid, pid);
	sleep(2); /* let it reach its steady state */
	return pid;
}

static void stop_writer(pid_t pid, const char *dir)
{
	char path[512];

	(void)kill(-pid, SIGKILL);
	(void)waitpid(pid, NULL, 0);
	snprintf(path, sizeof(path), "%s/load", dir);
	(void)unlink(path);
}

static void run_phase(struct ctx *c, struct phase *ph, int n)
{
	ph->n = n;
	for (int o = 0; o < N_OPS; o++) {
		ph->lib[o] = calloc((size_t)n, sizeof(double));
		ph->floor[o] = calloc((size_t)n, sizeof(double));
		if (!ph->lib[o] || !ph->floor[o])
			die("out of memory", NULL);
	}
	for (int i = 0; i < n; i++) {
		if (i % 2 == 0) {
			lib_round(c, i, ph);
			floor_round(c, i, ph);
		} else {
			floor_round(c, i, ph);
			lib_round(c, i, ph);
		}
		sync_probe(c, i, ph);
	}
}

static void report(const struct phase *ph, FILE *tsv)
{
	for (int o = 0; o < N_OPS; o++) {
		double *ratio = calloc((size_t)ph->n, sizeof(double));

		if (!ratio)
			die("out of memory", NULL);
		for (int i = 0; i < ph->n; i++) {
			ratio[i] = ph->lib[o][i] / ph->floor[o][i];
			if (tsv)
				fprintf(tsv, "%s\t%s\t%.4f\t%.4f\n", ph->load, op_names[o],
					ph->lib[o][i], ph->floor[o][i]);
		}
		if (o == SYNC)
			printf("| %-6s | %-9s | %8.2f ms |            |         |                  "
			       " "
			       "|\n",
			       ph->load, op_names[o], pct(ph->lib[o], ph->n, 0.5));
		else
			printf("| %-6s | %-9s | %8.2f ms | %7.2f ms | %6.2fx | %5.2fx - %5.2fx %s "
			       "|\n",
			       ph->load, op_names[o], pct(ph->lib[o], ph->n, 0.5),
			       pct(ph->floor[o], ph->n, 0.5), pct(ratio, ph->n, 0.5),
			       pct(ratio, ph->n, 0.1), pct(ratio, ph->n, 0.9),
			       pct(ratio, ph->n, 0.5) <= 1.3 ? "met   " : "missed");
		free(ratio);
	}
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 40;
	char dir[] = "/tmp/bench-fair.XXXXXX", pool_dir[64], pool_name[32], path[96];
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	struct ctx c = { .next_floor_id = FLOOR_FIRST };
	struct phase quiet = { .load = "quiet" }, loaded = { .load = "loaded" };
	FILE *tsv = NULL;

	if (n < 4)
		n = 4;
	if (!mkdtemp(dir) || thinsnap_state_pool_dir(dir, pool_dir, sizeof(pool_dir)) < 0)
		return 1;
	snprintf(pool_name, sizeof(pool_name), "bfair%d", (int)getpid());
	c.pool_name = pool_name;
	c.s = bench_pool_open(dir, pool_name, BASE_SIZE);
	if (thinsnap_prepare(c.s, "parent-a", NULL, NULL, 0, NULL, &e) < 0 ||
	    thinsnap_commit(c.s, "parent", "parent-a", NULL, 0, 0, &e) < 0)
		die("parent", &e);
	if (bare_pool_devno(pool_name, &c.maj, &c.mnr) < 0)
		die("pool devno", NULL);
	snprintf(path, sizeof(path), "%s/probe", dir);
	c.sync_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (c.sync_fd < 0)
		die("probe file", NULL);

	/* a warm-up round of each, not counted */
	struct phase warm = { .load = "warm" };
	run_phase(&c, &warm, 2);
	run_phase(&c, &quiet, n);
	pid_t w = start_writer(dir);
	run_phase(&c, &loaded, n);
	stop_writer(w, dir);

	if (argc > 2 && !(tsv = fopen(argv[2], "ae")))
		die(argv[2], NULL);
	printf("thinsnap library vs the bare libdevmapper floor, %d interleaved rounds each (%s)\n",
	       n, getenv("THINSNAP_HARNESS") ? getenv("THINSNAP_HARNESS") : "native");
	printf("| load   | operation | library    | floor      | median  | ratio p10 - p90   "
	       "|\n");
	printf("| ---    | ---       | ---        | ---        | ---     | ---               "
	       "|\n");
	report(&quiet, tsv);
	report(&loaded, tsv);
	if (tsv && fclose(tsv) != 0)
		die(argv[2], NULL);

	close(c.sync_fd);
	if (thinsnap_remove(c.s, "parent", NULL) < 0)
		fprintf(stderr, "bench-fair: remove parent failed\n");
	thinsnap_free(c.s);
	if (thinsnap_pool_open(pool_name, pool_dir, &p, &e) == 0 &&
	    thinsnap_pool_destroy(p, &e) < 0) {
		fprintf(stderr, "bench-fair: destroy: %s\n", e.msg);
		thinsnap_pool_free(p);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}

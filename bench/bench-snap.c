/*
 * Benchmark of the snapshotter's operations (prepare parentless and from a parent, view,
 * commit, remove) through the library, beside the pool/ floor (create_snap + activate,
 * deactivate + delete) and the raw libdevmapper floor (bare-dm.h) measured on the same pool in
 * the same run. The pool is bench/run-all.sh's shape: 8 GiB data, 64 MiB metadata, 64 KiB
 * blocks, 1 GiB base. Prints median and p90; with TSV, appends every sample to it as
 * "system<TAB>via<TAB>op<TAB>ms" (bench/report.sh).
 * Run as root where dm-thin works: scripts/dmrun -- build/release/bench/bench-snap [N [TSV]]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#include "bare-dm.h"
#include "bench.h"

struct series {
	const char *name;
	double *v;
	int n;
};

static void stats(struct series *s, double *med, double *p90)
{
	qsort(s->v, (size_t)s->n, sizeof(double), bench_cmp_double);
	*med = s->v[s->n / 2];
	*p90 = s->v[(s->n * 9) / 10];
}

/* system, op for the report (bench/report.sh) per series, in enum order */
static const char *const tsv_names[][2] = {
	{ "pool", "prepare" }, { "pool", "remove" },      { "floor", "prepare" },
	{ "floor", "remove" }, { "library", "prepare0" }, { "library", "prepare" },
	{ "library", "view" }, { "library", "commit" },   { "library", "remove" },
};

static void write_tsv(const char *path, const struct series *sr)
{
	FILE *f = fopen(path, "ae");

	if (!f) {
		perror(path);
		exit(1);
	}
	for (size_t i = 0; i < sizeof(tsv_names) / sizeof(tsv_names[0]); i++)
		for (int k = 0; k < sr[i].n; k++)
			fprintf(f, "%s\tlibrary\t%s\t%.4f\n", tsv_names[i][0], tsv_names[i][1],
				sr[i].v[k]);
	if (fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void die(const char *what, const struct thinsnap_error *e)
{
	fprintf(stderr, "bench-snap: %s: %s\n", what, e->msg);
	exit(1);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	char dir[] = "/tmp/bench-snap.XXXXXX", pool_dir[64], pool_name[32];
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	struct thinsnap_snapshotter *s = NULL;
	enum {
		FLOOR_CREATE,
		FLOOR_DELETE,
		RAW_CREATE,
		RAW_DELETE,
		PREP0,
		PREP1,
		VIEW,
		COMMIT,
		REMOVE,
		NSERIES
	};
	static const char *names[NSERIES] = {
		"pool floor: create_snap+activate",
		"pool floor: deactivate+delete",
		"raw libdm: create_snap+activate",
		"raw libdm: deactivate+delete",
		"prepare (parentless)",
		"prepare (from parent)",
		"view",
		"commit",
		"remove (active)",
	};
	struct series sr[NSERIES];

	if (n < 10)
		n = 10;
	for (int i = 0; i < NSERIES; i++) {
		sr[i].name = names[i];
		sr[i].n = n;
		sr[i].v = calloc((size_t)n, sizeof(double));
	}
	if (!mkdtemp(dir))
		return 1;
	if (thinsnap_state_pool_dir(dir, pool_dir, sizeof(pool_dir)) < 0)
		return 1;
	snprintf(pool_name, sizeof(pool_name), "bsnap%d", (int)getpid());
	s = bench_pool_open(dir, pool_name, 1ull << 30);
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	o.state_dir = dir;
	o.pool_name = pool_name;
	o.base_size_bytes = 1ull << 30;
	/* the parent: a committed snapshot; the first prepare also formats the base */
	if (thinsnap_prepare(s, "parent-a", NULL, NULL, 0, NULL, &e) < 0 ||
	    thinsnap_commit(s, "parent", "parent-a", NULL, 0, 0, &e) < 0)
		die("parent", &e);

	for (int i = 0; i < n; i++) {
		char k[64], c[64];
		double t;

		snprintf(k, sizeof(k), "a-%d", i);
		snprintf(c, sizeof(c), "c-%d", i);
		t = bench_now_ms();
		if (thinsnap_prepare(s, k, NULL, NULL, 0, NULL, &e) < 0)
			die("prepare", &e);
		sr[PREP0].v[i] = bench_now_ms() - t;
		t = bench_now_ms();
		if (thinsnap_commit(s, c, k, NULL, 0, 0, &e) < 0)
			die("commit", &e);
		sr[COMMIT].v[i] = bench_now_ms() - t;
		t = bench_now_ms();
		if (thinsnap_prepare(s, k, "parent", NULL, 0, NULL, &e) < 0)
			die("prepare child", &e);
		sr[PREP1].v[i] = bench_now_ms() - t;
		snprintf(k + strlen(k), sizeof(k) - strlen(k), "-v");
		t = bench_now_ms();
		if (thinsnap_view(s, k, "parent", NULL, 0, NULL, &e) < 0)
			die("view", &e);
		sr[VIEW].v[i] = bench_now_ms() - t;
		t = bench_now_ms();
		if (thinsnap_remove(s, k, &e) < 0)
			die("remove", &e);
		sr[REMOVE].v[i] = bench_now_ms() - t;
		k[strlen(k) - 2] = '\0';
		if (thinsnap_remove(s, k, &e) < 0 || thinsnap_remove(s, c, &e) < 0)
			die("remove", &e);
	}
	/* the floor: the same pool, bare pool/ calls on a free id range */
	thinsnap_free(s);
	if (thinsnap_pool_open(pool_name, pool_dir, &p, &e) < 0)
		die("pool open", &e);
	for (int i = 0; i < n; i++) {
		uint32_t id = 100000 + (uint32_t)i;
		char dm[64];
		double t;

		snprintf(dm, sizeof(dm), "%s-floor", pool_name);
		t = bench_now_ms();
		if (thinsnap_pool_create_snap(p, id, 1, NULL, &e) < 0 ||
		    thinsnap_pool_activate_thin(p, id, dm, 1ull << 30, false, &e) < 0)
			die("floor create", &e);
		sr[FLOOR_CREATE].v[i] = bench_now_ms() - t;
		t = bench_now_ms();
		if (thinsnap_pool_deactivate_thin(p, dm, &e) < 0 ||
		    thinsnap_pool_delete_thin(p, id, &e) < 0)
			die("floor delete", &e);
		sr[FLOOR_DELETE].v[i] = bench_now_ms() - t;
	}
	/* the raw floor: bare libdevmapper on the same pool, the same origin */
	unsigned maj = 0, mnr = 0;
	if (bare_pool_devno(pool_name, &maj, &mnr) < 0)
		die("pool devno", &e);
	for (int i = 0; i < n; i++) {
		char dm[64], msg[64], params[64];
		uint32_t id = 200000 + (uint32_t)i;
		double t;

		snprintf(dm, sizeof(dm), "%s-raw", pool_name);
		snprintf(params, sizeof(params), "%u:%u %u", maj, mnr, id);
		snprintf(msg, sizeof(msg), "create_snap %u 1", id);
		t = bench_now_ms();
		if (bare_message(pool_name, msg) < 0 ||
		    bare_create(dm, (1ull << 30) / 512, params) < 0)
			die("raw create", &e);
		sr[RAW_CREATE].v[i] = bench_now_ms() - t;
		snprintf(msg, sizeof(msg), "delete %u", id);
		t = bench_now_ms();
		if (bare_remove(dm) < 0 || bare_message(pool_name, msg) < 0)
			die("raw delete", &e);
		sr[RAW_DELETE].v[i] = bench_now_ms() - t;
	}
	if (argc > 2)
		write_tsv(argv[2], sr);

	double fm, fp, dm_, dp;
	stats(&sr[FLOOR_CREATE], &fm, &fp);
	stats(&sr[FLOOR_DELETE], &dm_, &dp);
	printf("thinsnap library benchmark, %d cycles (%s)\n", n,
	       getenv("THINSNAP_HARNESS") ? getenv("THINSNAP_HARNESS") : "native");
	printf("%-36s %10s %10s %14s\n", "operation", "median ms", "p90 ms", "x floor");
	for (int i = 0; i < NSERIES; i++) {
		double m, q;
		stats(&sr[i], &m, &q);
		double floor = (i == REMOVE || i == FLOOR_DELETE || i == RAW_DELETE) ? dm_ : fm;
		if (i == COMMIT)
			floor = dm_; /* a commit deactivates: compare with the delete floor */
		printf("%-36s %10.3f %10.3f %13.2fx\n", sr[i].name, m, q, m / floor);
	}
	double p0, p0q, p1, p1q;
	stats(&sr[PREP0], &p0, &p0q);
	stats(&sr[PREP1], &p1, &p1q);
	double rm_, rq;
	stats(&sr[RAW_CREATE], &rm_, &rq);
	printf("parentless prepare / child prepare: %.2fx (goal <= 2x)\n", p0 / p1);
	printf("child prepare / raw create_snap+activate: %.2fx (goal <= 1.5x)\n", p1 / rm_);

	/* clean up: remove the parent, destroy the pool */
	thinsnap_pool_free(p);
	if (thinsnap_open(&o, &s, &e) == 0) {
		thinsnap_remove(s, "parent", NULL);
		thinsnap_free(s);
	}
	if (thinsnap_pool_open(pool_name, pool_dir, &p, &e) == 0) {
		uint32_t *ids = NULL;
		size_t k = 0;
		/* the base device stays in the pool; destroy removes everything */
		(void)thinsnap_pool_list_thin_ids(p, &ids, &k, NULL);
		thinsnap_pool_thin_ids_free(ids);
		if (thinsnap_pool_destroy(p, &e) < 0) {
			fprintf(stderr, "bench-snap: destroy: %s\n", e.msg);
			thinsnap_pool_free(p);
		}
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}

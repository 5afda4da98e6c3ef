/*
 * Micro-benchmark (not a test): one snapshot cycle, (create_snap + activate) then
 * (deactivate + delete), done through pool/, through bare libdevmapper calls (the floor), and
 * through dmsetup processes; median and p90 over N cycles (default 200), and pool/bare ratios.
 * Run where dm-thin works: scripts/dmrun -- build/release/bench/bench-pool [CYCLES]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/pool.h>

#include "bare-dm.h"

#define SNAP_BYTES (64ull << 20)

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	int i = (int)(p * (n - 1) + 0.5);
	return v[i];
}

static void die(const char *what, const struct thinsnap_error *e)
{
	fprintf(stderr, "bench-pool: %s: %s\n", what, e ? e->msg : "failed");
	exit(1);
}

/* --- dmsetup processes --- */

static int run(char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 200;
	char dir[] = "/tmp/thinsnap-bench.XXXXXX";
	struct thinsnap_error e = { 0, "" };
	struct thinsnap_pool *pool = NULL;
	char pname[64], msg[64], params[64], tbl[128];
	double *t[3][2];
	unsigned maj = 0, mnr = 0;

	if (n < 1)
		n = 200;
	for (int k = 0; k < 3; k++)
		for (int j = 0; j < 2; j++)
			t[k][j] = calloc((size_t)n, sizeof(double));
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(pname, sizeof(pname), "tsbench%d", (int)getpid());
	struct thinsnap_pool_create_opts o = THINSNAP_POOL_CREATE_OPTS_INIT;
	o.name = pname;
	o.state_dir = dir;
	o.data_size_bytes = 1ull << 30;
	if (thinsnap_pool_create(&o, &pool, &e) < 0)
		die("pool create", &e);
	if (thinsnap_pool_create_thin(pool, 1, &e) < 0)
		die("create_thin", &e);
	if (bare_pool_devno(pname, &maj, &mnr) < 0) /* for the bare and dmsetup tables */
		die("pool info", NULL);

	for (int i = 0; i < n; i++) {
		double a, b, c;
		/* pool/ */
		a = now_us();
		if (thinsnap_pool_create_snap(pool, 2, 1, NULL, &e) < 0)
			die("pool create_snap", &e);
		if (thinsnap_pool_activate_thin(pool, 2, "tsbench-pool", SNAP_BYTES, false, &e) < 0)
			die("pool activate", &e);
		b = now_us();
		if (thinsnap_pool_deactivate_thin(pool, "tsbench-pool", &e) < 0)
			die("pool deactivate", &e);
		if (thinsnap_pool_delete_thin(pool, 2, &e) < 0)
			die("pool delete", &e);
		c = now_us();
		t[0][0][i] = b - a;
		t[0][1][i] = c - b;

		/* bare libdevmapper */
		snprintf(params, sizeof(params), "%u:%u 3", maj, mnr);
		a = now_us();
		if (bare_message(pname, "create_snap 3 1") < 0 ||
		    bare_create("tsbench-bare", SNAP_BYTES / 512, params) < 0)
			die("bare snap+activate", NULL);
		b = now_us();
		if (bare_remove("tsbench-bare") < 0 || bare_message(pname, "delete 3") < 0)
			die("bare deactivate+delete", NULL);
		c = now_us();
		t[1][0][i] = b - a;
		t[1][1][i] = c - b;

		/* dmsetup processes */
		snprintf(tbl, sizeof(tbl), "0 %llu thin %u:%u 4", SNAP_BYTES / 512, maj, mnr);
		snprintf(msg, sizeof(msg), "create_snap 4 1");
		char *m1[] = { "dmsetup", "message", pname, "0", msg, NULL };
		char *c1[] = { "dmsetup", "create", "tsbench-dmsetup", "--table", tbl, NULL };
		char *r1[] = { "dmsetup", "remove", "tsbench-dmsetup", NULL };
		char *m2[] = { "dmsetup", "message", pname, "0", "delete 4", NULL };
		a = now_us();
		if (run(m1) < 0 || run(c1) < 0)
			die("dmsetup snap+activate", NULL);
		b = now_us();
		if (run(r1) < 0 || run(m2) < 0)
			die("dmsetup deactivate+delete", NULL);
		c = now_us();
		t[2][0][i] = b - a;
		t[2][1][i] = c - b;
	}

	static const char *const how[] = { "pool/", "bare libdm", "dmsetup" };
	static const char *const what[] = { "create_snap+activate", "deactivate+delete" };
	double med[3][2];
	printf("bench-pool: %d cycles, 64 KiB blocks, 64 MiB snapshot of an inactive origin\n", n);
	printf("%-22s %-11s %12s %12s\n", "step", "via", "median_us", "p90_us");
	for (int j = 0; j < 2; j++)
		for (int k = 0; k < 3; k++) {
			med[k][j] = pct(t[k][j], n, 0.5);
			printf("%-22s %-11s %12.1f %12.1f\n", what[j], how[k], med[k][j],
			       pct(t[k][j], n, 0.9));
		}
	printf("ratio pool/bare (median): create_snap+activate %.2f, deactivate+delete %.2f, "
	       "cycle %.2f\n",
	       med[0][0] / med[1][0], med[0][1] / med[1][1],
	       (med[0][0] + med[0][1]) / (med[1][0] + med[1][1]));
	printf("ratio dmsetup/pool (median): cycle %.2f\n",
	       (med[2][0] + med[2][1]) / (med[0][0] + med[0][1]));

	if (thinsnap_pool_delete_thin(pool, 1, &e) < 0)
		die("delete origin", &e);
	if (thinsnap_pool_destroy(pool, &e) < 0)
		die("destroy", &e);
	rmdir(dir);
	for (int k = 0; k < 3; k++)
		for (int j = 0; j < 2; j++)
			free(t[k][j]);
	return 0;
}

/*
 * meta/ benchmark: append + fdatasync latency next to a bare pwrite + fdatasync on the same file
 * system, and open time and RSS for 10k and 100k snapshots with labels.
 * Usage: bench-meta [DIR] (default build/bench-meta.tmp; it is emptied and removed).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "meta/meta.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static int rm1(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void stats(const char *what, double *v, int n)
{
	double sum = 0;

	for (int i = 0; i < n; i++)
		sum += v[i];
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("  %-28s mean %7.3f ms  median %7.3f ms  p99 %7.3f ms\n", what, sum / n, v[n / 2],
	       v[n * 99 / 100]);
}

#define N_LAT 300

static void bench_append(const char *dir)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .compact_threshold_bytes = UINT64_MAX };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	static double a[N_LAT], b[N_LAT];
	char path[4096];
	unsigned char rec[96];
	int fd;

	if (thinsnap_meta_open(&o, &m, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		exit(1);
	}
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
				       .key = "default/1/sha256:0123456789abcdef",
				       .kind = THINSNAP_META_ACTIVE,
				       .dev_id = 1 };
	if (thinsnap_meta_apply(m, &op, 1, &err) < 0)
		exit(1);
	/* interleave both so that both see the same disk conditions */
	snprintf(path, sizeof(path), "%s/bare", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		exit(1);
	memset(rec, 0x5a, sizeof(rec));
	for (int i = 0; i < N_LAT; i++) {
		struct thinsnap_meta_op u = { .type = THINSNAP_META_OP_USAGE_SET,
					      .key = op.key,
					      .usage_bytes = (uint64_t)i * 4096 };
		double t0 = now_ms();
		if (thinsnap_meta_apply(m, &u, 1, &err) < 0)
			exit(1);
		double t1 = now_ms();
		if (pwrite(fd, rec, 84, (off_t)i * 84) != 84 || fdatasync(fd) < 0)
			exit(1);
		double t2 = now_ms();
		a[i] = t1 - t0;
		b[i] = t2 - t1;
	}
	close(fd);
	thinsnap_meta_free(m);
	double sa = 0, sb = 0;
	for (int i = 0; i < N_LAT; i++)
		sa += a[i], sb += b[i];
	printf("append + fdatasync (%d appends of a usage_set record, 84 bytes):\n", N_LAT);
	stats("thinsnap_meta_apply", a, N_LAT);
	stats("bare pwrite + fdatasync", b, N_LAT);
	printf("  ratio apply / bare (means): %.3f\n", sa / sb);
}

/* Builds n snapshots: chains of 10 committed layers on one base, every 4th chain ending in an
 * active one; 2 labels each. Groups of 1000 creates per append. */
static void build(const char *dir, int n, double *ret_label_key_bytes)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .compact_threshold_bytes = UINT64_MAX };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	static char keys[1000][128], vals[1000][80];
	static struct thinsnap_meta_label labels[1000][2];
	static struct thinsnap_meta_op ops[1000];
	char prev[128] = "base";
	double bytes = 0;

	if (thinsnap_meta_open(&o, &m, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		exit(1);
	}
	struct thinsnap_meta_op b = { .type = THINSNAP_META_OP_SNAP_CREATE,
				      .key = "base",
				      .kind = THINSNAP_META_INTERNAL,
				      .dev_id = 1,
				      .fs_type = "ext4",
				      .size_bytes = 10ull << 30 };
	if (thinsnap_meta_apply(m, &b, 1, &err) < 0)
		exit(1);
	for (int i = 0; i < n;) {
		int k = 0;
		for (; k < 1000 && i < n; k++, i++) {
			bool chain_start = i % 10 == 0;
			snprintf(keys[k], sizeof(keys[k]), "default/%d/sha256:%064x", i + 1,
				 i * 7919);
			snprintf(vals[k], sizeof(vals[k]), "sha256:%064x", i);
			labels[k][0] = (struct thinsnap_meta_label){ "containerd.io/snapshot.ref",
								     vals[k] };
			labels[k][1] = (struct thinsnap_meta_label){ "containerd.io/gc.root",
								     "2026-11-27T21:00:00Z" };
			ops[k] = (struct thinsnap_meta_op){
				.type = THINSNAP_META_OP_SNAP_CREATE,
				.key = keys[k],
				.parent = chain_start ? "base" : (k ? keys[k - 1] : prev),
				.kind = (i % 40 == 39) ? THINSNAP_META_ACTIVE
						       : THINSNAP_META_COMMITTED,
				.dev_id = (uint32_t)i + 2,
				.size_bytes = 10ull << 30,
				.fs_type = "ext4",
				.labels = labels[k],
				.n_labels = 2,
				.created_ns = 1,
				.updated_ns = 2,
				.usage_bytes = 1 << 20,
				.usage_inodes = 100
			};
			if (ops[k].kind == THINSNAP_META_ACTIVE)
				ops[k].parent = k ? keys[k - 1] : prev; /* still a committed one */
			bytes += strlen(keys[k]) + 1 + strlen(labels[k][0].key) + strlen(vals[k]) +
				 strlen(labels[k][1].key) + strlen(labels[k][1].value) + 4;
		}
		/* an active entry cannot be a parent: chains restart after it */
		for (int j = 1; j < k; j++)
			if (ops[j - 1].kind == THINSNAP_META_ACTIVE && ops[j].parent == keys[j - 1])
				ops[j].parent = "base";
		if (thinsnap_meta_apply(m, ops, (size_t)k, &err) < 0) {
			fprintf(stderr, "apply: %s\n", err.msg);
			exit(1);
		}
		snprintf(prev, sizeof(prev), "%s",
			 ops[k - 1].kind == THINSNAP_META_ACTIVE ? "base" : keys[k - 1]);
	}
	thinsnap_meta_free(m);
	*ret_label_key_bytes = bytes / n;
}

/* In a fresh process (exec'd, not just forked: no inherited heap to copy on write). */
static int open_child(const char *dir, int n, const char *what, double kl)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .read_only = true };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	long r0 = rss_kib();
	size_t h0 = mallinfo2().uordblks + mallinfo2().hblkhd;
	double t0 = now_ms(), c0 = cpu_ms();

	if (thinsnap_meta_open(&o, &m, &err) < 0) {
		fprintf(stderr, "open: %s\n", err.msg);
		return 1;
	}
	double t = now_ms() - t0, c = cpu_ms() - c0;
	long r1 = rss_kib();
	size_t h1 = mallinfo2().uordblks + mallinfo2().hblkhd;
	double per = (double)(h1 - h0) / n;
	printf("  %6d snapshots, %-10s open %6.1f ms (cpu %6.1f ms), file %5.1f MiB, RSS +%5.1f "
	       "MiB, heap %4.0f B/snapshot = key+labels %3.0f B + %3.0f B\n",
	       (int)thinsnap_meta_count(m) - 1, what, t, c,
	       (double)thinsnap_meta_journal_bytes(m) / 1048576.0, (double)(r1 - r0) / 1024.0, per,
	       kl, per - kl);
	thinsnap_meta_free(m);
	return 0;
}

static void measure_open(const char *dir, int n, const char *what, double kl)
{
	char ns[32], kls[32];
	pid_t pid;

	snprintf(ns, sizeof(ns), "%d", n);
	snprintf(kls, sizeof(kls), "%f", kl);
	for (int run = 0; run < 3; run++) { /* 3 runs: the machine may be busy */
		fflush(stdout);
		pid = fork();
		if (pid == 0) {
			execl("/proc/self/exe", "bench-meta", "--open", dir, ns, what, kls,
			      (char *)NULL);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "build/bench-meta.tmp";
	int sizes[] = { 10000, 100000 };

	if (argc == 6 && strcmp(argv[1], "--open") == 0)
		return open_child(argv[2], atoi(argv[3]), argv[4], atof(argv[5]));

	(void)nftw(dir, rm1, 8, FTW_DEPTH | FTW_PHYS);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return 1;
	bench_append(dir);
	(void)nftw(dir, rm1, 8, FTW_DEPTH | FTW_PHYS);
	printf("open (read-only, fresh process, warm page cache; 3 runs each):\n");
	for (size_t i = 0; i < 2; i++) {
		double kl = 0;
		struct thinsnap_meta_open_opts o = { .state_dir = dir };
		struct thinsnap_meta *m = NULL;
		build(dir, sizes[i], &kl);
		measure_open(dir, sizes[i], "journal", kl);
		if (thinsnap_meta_open(&o, &m, NULL) < 0 || thinsnap_meta_compact(m, NULL) < 0)
			return 1;
		thinsnap_meta_free(m);
		measure_open(dir, sizes[i], "checkpoint", kl);
		if (i + 1 < 2 || !getenv("BENCH_KEEP"))
			(void)nftw(dir, rm1, 8, FTW_DEPTH | FTW_PHYS);
	}
	return 0;
}

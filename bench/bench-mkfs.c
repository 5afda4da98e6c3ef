/*
 * bench-mkfs: time to format a fresh sparse file of 1 GiB and 10 GiB with
 * thinsnap_mkfs_format() in-process versus a `mkfs.ext4 -q` process; prints the median of
 * RUNS runs and the space each format allocated. Usage: bench-mkfs [DIR [RUNS]]
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mkfs/mkfs.h"

extern char **environ;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int make_sparse(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return -1;
	if (ftruncate(fd, (off_t)size) < 0)
		r = -1;
	close(fd);
	return r;
}

static int run_mke2fs(const char *path)
{
	char *argv[] = { "mkfs.ext4", "-q", "-F", (char *)path, NULL };
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, "mkfs.ext4", NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

/* Returns the median seconds; *kib gets the allocated KiB of the last run. */
static double bench(const char *path, uint64_t size, int runs, int use_mke2fs, long long *kib)
{
	double t[64];
	struct stat st;

	for (int i = 0; i < runs; i++) {
		struct thinsnap_error err = { 0 };
		double t0;
		int r;

		if (make_sparse(path, size) < 0) {
			perror(path);
			exit(1);
		}
		t0 = now();
		r = use_mke2fs ? run_mke2fs(path) : thinsnap_mkfs_format(path, 0, NULL, &err);
		t[i] = now() - t0;
		if (r < 0) {
			fprintf(stderr, "bench-mkfs: %s failed: %s\n",
				use_mke2fs ? "mkfs.ext4" : "thinsnap_mkfs_format", err.msg);
			exit(1);
		}
		if (stat(path, &st) == 0)
			*kib = (long long)st.st_blocks / 2;
		(void)unlink(path);
	}
	qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
	return t[runs / 2];
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	static const uint64_t sizes[] = { UINT64_C(1) << 30, UINT64_C(10) << 30 };
	char path[4096];

	if (runs < 1 || runs > 64) {
		fprintf(stderr, "usage: bench-mkfs [DIR [RUNS 1..64]]\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/bench-mkfs.%d.img", dir, (int)getpid());
	printf("%-8s %-22s %12s %14s\n", "size", "formatter", "median ms", "allocated KiB");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int m = 0; m < 2; m++) {
			long long kib = 0;
			double s = bench(path, sizes[i], runs, m, &kib);

			printf("%-8s %-22s %12.2f %14lld\n", i == 0 ? "1 GiB" : "10 GiB",
			       m ? "mkfs.ext4 -q (process)" : "thinsnap (in-process)", s * 1e3,
			       kib);
		}
	}
	printf("(median of %d runs each, fresh sparse files in %s)\n", runs, dir);
	return 0;
}

/*
 * What the C benchmarks share: a monotonic clock in milliseconds, the comparison their sorts
 * use, and the report's pool (8 GiB data, 64 MiB metadata, 64 KiB blocks) with a snapshotter
 * open on it. Included by bench-*.c only.
 */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

static inline double bench_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Creates pool_name's pool in dir (mkdtemp'd by the caller) and opens a snapshotter on it
 * with base devices of base_size_bytes; exits on failure. */
static inline struct thinsnap_snapshotter *bench_pool_open(const char *dir, const char *pool_name,
							   uint64_t base_size_bytes)
{
	struct thinsnap_pool_create_opts po = THINSNAP_POOL_CREATE_OPTS_INIT;
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	char pool_dir[4096];

	if (thinsnap_state_pool_dir(dir, pool_dir, sizeof(pool_dir)) < 0)
		exit(1);
	po.name = pool_name;
	po.state_dir = pool_dir;
	po.data_size_bytes = 8ull << 30;
	po.metadata_size_bytes = 64ull << 20;
	po.data_block_sectors = 128;
	o.state_dir = dir;
	o.pool_name = pool_name;
	o.base_size_bytes = base_size_bytes;
	if (thinsnap_pool_create(&po, &p, &e) < 0 || (thinsnap_pool_free(p), 0) ||
	    thinsnap_open(&o, &s, &e) < 0) {
		fprintf(stderr, "bench: pool '%s': %s\n", pool_name, e.msg);
		exit(1);
	}
	return s;
}

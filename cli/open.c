/*
 * Opening the snapshotter for a verb: the library's options from the configuration, the
 * first read of a pool that has no journal yet, waiting for a held writer lock (--wait), and
 * the embedded default: with no pool configured, a loop-file-backed pool in the state
 * directory, created on first use with sizes that fit the free disk.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <thinsnap/pool.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/format.h"

DEFINE_CLEANUP(struct thinsnap_pool *, thinsnap_pool_free)

static void log_to_stderr(void *userdata, enum thinsnap_log_level level, const char *msg)
{
	(void)userdata;
	if (level <= THINSNAP_LOG_WARNING)
		fprintf(stderr, "thinsnap: %s\n", msg);
}

void thinsnap_cli_options(const struct thinsnap_cli *c, bool read_only,
			  struct thinsnap_options *ret)
{
	thinsnap_config_to_options(&c->cfg, ret);
	ret->read_only = read_only;
	ret->log = log_to_stderr;
}

/* A pool that was created but never opened for writing has no journal yet. */
static bool journal_missing(const struct thinsnap_cli *c)
{
	return thinsnap_state_has_journal(c->cfg.state_dir) == 0 &&
	       thinsnap_pool_recorded(c->pool_dir) == 1;
}

int thinsnap_cli_try_open(const struct thinsnap_cli *c, bool read_only,
			  struct thinsnap_snapshotter **ret, struct thinsnap_error *e)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	int r;

	thinsnap_cli_options(c, read_only, &o);
	r = thinsnap_open(&o, ret, e);
	if (r == -ENOENT && read_only && journal_missing(c)) {
		/* the first use: a writer creates the journal; reading through it is fine */
		o.read_only = false;
		thinsnap_error_clear(e);
		r = thinsnap_open(&o, ret, e);
	}
	return r;
}

/* Makes sure the embedded pool exists (0), else reports and returns 1. */
static int ensure_embedded_pool(struct thinsnap_cli *c, const char *key)
{
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *p = NULL;
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool_create_opts o = THINSNAP_POOL_CREATE_OPTS_INIT;
	struct statvfs st;
	char ds[32], ms[32];
	int r;

	o.name = c->cfg.pool_name;
	o.state_dir = c->pool_dir;
	/* a full pool fails writes at once instead of queueing them (a hang) */
	o.error_if_no_space = true;
	r = thinsnap_pool_open(c->cfg.pool_name, c->pool_dir, &p, &e);
	if (r == 0)
		return 0;
	if (r != -ENOENT)
		return thinsnap_cli_fail_err(c, key, r, &e);
	r = thinsnap_mkdir_p(c->pool_dir, 0700);
	if (r < 0)
		return thinsnap_cli_fail(c, key, "creating '%s': %s", c->pool_dir, strerror(-r));
	if (statvfs(c->pool_dir, &st) < 0)
		return thinsnap_cli_fail(c, key, "'%s': %s", c->pool_dir, strerror(errno));
	r = thinsnap_cli_default_pool_sizes((uint64_t)st.f_bavail * st.f_frsize, &o.data_size_bytes,
					    &o.metadata_size_bytes);
	if (r < 0)
		return thinsnap_cli_fail(c, key,
					 "not enough free space in '%s' for the default pool "
					 "(512 MiB needed); create one with 'thinsnap pool create'",
					 c->pool_dir);
	r = thinsnap_pool_create(&o, &p, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, key, r, &e);
	if (!c->quiet) {
		thinsnap_cli_format_size((int64_t)o.data_size_bytes, false, ds, sizeof(ds));
		thinsnap_cli_format_size((int64_t)o.metadata_size_bytes, false, ms, sizeof(ms));
		fprintf(stderr,
			"thinsnap: created pool '%s' on sparse files in '%s' (data %s, metadata "
			"%s)\n",
			c->cfg.pool_name, c->pool_dir, ds, ms);
	}
	return 0;
}

int thinsnap_cli_open(struct thinsnap_cli *c, const char *key, bool read_only,
		      struct thinsnap_snapshotter **ret)
{
	struct thinsnap_error e = { 0 };
	int r;

	if (c->embedded && ensure_embedded_pool(c, key) != 0)
		return 1;
	r = thinsnap_cli_try_open(c, read_only, ret, &e);
	if (r == -EAGAIN && !read_only && c->wait_ms) {
		struct timespec start, now, nap = { 0, 10 * 1000 * 1000 };

		clock_gettime(CLOCK_MONOTONIC, &start);
		for (;;) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((now.tv_sec - start.tv_sec) * 1000 +
				    (now.tv_nsec - start.tv_nsec) / 1000000 >=
			    (long)c->wait_ms)
				break;
			(void)nanosleep(&nap, NULL);
			if (nap.tv_nsec < 100 * 1000 * 1000)
				nap.tv_nsec *= 2; /* 10 ms, doubling, then every 160 ms */
			thinsnap_error_clear(&e);
			r = thinsnap_cli_try_open(c, read_only, ret, &e);
			if (r != -EAGAIN)
				break;
		}
	}
	if (r == -EAGAIN && !read_only)
		return thinsnap_cli_busy(c, key, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, key, r, &e);
	return 0;
}

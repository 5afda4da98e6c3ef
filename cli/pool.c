/*
 * The pool verbs (create, status, grow, autogrow, destroy) on the configured pool, through
 * the public <thinsnap/pool.h>; a pool verb in the low-level form goes to cli/debug.c. The
 * embedded default pool is created in cli/open.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <thinsnap/pool.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/parse.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/format.h"

static const struct {
	const char *name, *synopsis, *help;
} subverbs[] = {
	{ "create",
	  "pool create [--data DEV --metadata DEV | --data-size SIZE [--metadata-size SIZE]]\n"
	  "            [--block-size SIZE] [--force]",
	  "Creates the pool named by --pool (or pool_name) and records it in the state directory:\n"
	  "on two devices, or on sparse loop files in the state directory.\n"
	  "  --data DEV, --metadata DEV   the pool's devices\n"
	  "  --data-size SIZE             loop files: the data file's size (default: half the\n"
	  "                               free space, at most 100 GiB)\n"
	  "  --metadata-size SIZE         loop files: the metadata file's size\n"
	  "  --block-size SIZE            data block size, a multiple of 64 KiB (default 64K)\n"
	  "  --force                      overwrite devices that hold a filesystem\n"
	  "SIZEs as 10G, 512MiB, 1.5T (binary units).\n" },
	{ "status", "pool status [--json] [-b]",
	  "Prints the pool's mode, transaction id, data and metadata used/total, the number\n"
	  "of snapshots of each kind, and the capacity picture: overcommit (the snapshots'\n"
	  "sizes over the data size), the room left to grow (volume group or filesystem free\n"
	  "space) and what auto-grow has added.\n"
	  "  -b, --bytes      sizes in bytes\n" },
	{ "grow", "pool grow [--metadata] [[+]SIZE]",
	  "Grows the pool's data (or metadata) to SIZE (or by +SIZE). A loop-file pool grows its\n"
	  "file. A pool on devices takes the size its device was grown to (lvextend, a grown\n"
	  "partition or LUN): without SIZE, the device's whole size; with SIZE, the device must\n"
	  "hold that much. The table reload pauses I/O for the time printed.\n" },
	{ "autogrow", "pool autogrow",
	  "One auto-grow check, as thinsnapd's monitor makes: if the pool's data (or, on\n"
	  "devices, metadata) use has reached autogrow_threshold_percent, grows it by\n"
	  "autogrow_percent steps up to autogrow_max_size and the room there is (a loop file's\n"
	  "filesystem; an LVM logical volume is extended with lvextend from its volume group's\n"
	  "free space), and sets the pool's low-water mark to the threshold. Needs the writer\n"
	  "lock (not while thinsnapd runs).\n" },
	{ "destroy", "pool destroy [--force]",
	  "Destroys the pool and its loop files. Refused while it holds snapshots, unless "
	  "--force,\n"
	  "which removes them all first.\n" },
};

static void pool_usage(FILE *f)
{
	fprintf(f, "usage: thinsnap pool create|status|grow|autogrow|destroy [ARG...]\n\n");
	fprintf(f, "  (low level, bypassing the journal: thinsnap pool VERB --state-dir POOL_DIR "
		   "--name NAME ...,\n   thinsnap pool transaction-id|list-ids ...)\n");
	for (size_t i = 0; i < sizeof(subverbs) / sizeof(subverbs[0]); i++)
		fprintf(f, "  thinsnap %s\n", subverbs[i].synopsis);
}

DEFINE_CLEANUP(struct thinsnap_pool *, thinsnap_pool_free)
DEFINE_CLEANUP(struct thinsnap_snapshotter *, thinsnap_free)
DEFINE_CLEANUP(struct thinsnap_state_lock *, thinsnap_state_lock_free)

/* The pool's own directory (identity, loop files), where thinsnap_open() looks for it. */
static const char *pool_dir(const struct thinsnap_cli *c)
{
	return c->pool_dir;
}

/* A size argument: reports a usage error and returns EXIT_USAGE on a bad one. */
static int size_arg(struct thinsnap_cli *c, const char *what, const char *s, uint64_t *ret)
{
	int r = thinsnap_parse_size(s, ret);
	if (r < 0 || *ret == 0)
		return thinsnap_cli_usage_error(c, "bad size '%s' for %s", s, what);
	return 0;
}

static int pool_create(struct thinsnap_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "data-dev", required_argument, NULL, 'd' }, /* the low-level form's names */
		{ "metadata-dev", required_argument, NULL, 'm' },
		{ "data-size", required_argument, NULL, 'D' },
		{ "metadata-size", required_argument, NULL, 'M' },
		{ "block-size", required_argument, NULL, 'B' },
		{ "force", no_argument, NULL, 'f' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *p = NULL;
	struct thinsnap_pool_create_opts o = THINSNAP_POOL_CREATE_OPTS_INIT;
	struct thinsnap_error e = { 0 };
	uint64_t block = 64 * 1024;
	int opt, r;

	o.name = c->cfg.pool_name;
	o.state_dir = pool_dir(c);
	/* a full pool fails writes at once instead of queueing them (a hang) */
	o.error_if_no_space = true;
	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":fq", opts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 'd':
			o.data_dev = optarg;
			break;
		case 'm':
			o.metadata_dev = optarg;
			break;
		case 'D':
			r = size_arg(c, "--data-size", optarg, &o.data_size_bytes);
			break;
		case 'M':
			r = size_arg(c, "--metadata-size", optarg, &o.metadata_size_bytes);
			break;
		case 'B':
			r = size_arg(c, "--block-size", optarg, &block);
			if (r == 0 && (block % (64 * 1024) || block > (1ull << 30)))
				r = thinsnap_cli_usage_error(
					c,
					"--block-size must be a multiple of 64 KiB, at most 1 GiB");
			break;
		case 'f':
			o.force = true;
			break;
		default: /* -q, or a bad option */
			r = thinsnap_cli_output_option(c, argv, opt);
			break;
		}
		if (r)
			return r;
	}
	if (optind != argc)
		return thinsnap_cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
	if (!o.data_dev != !o.metadata_dev)
		return thinsnap_cli_usage_error(c, "give both --data and --metadata, or neither");
	o.data_block_sectors = (uint32_t)(block / 512);
	r = thinsnap_mkdir_p(pool_dir(c), 0700);
	if (r < 0)
		return thinsnap_cli_fail(c, c->cfg.pool_name, "creating '%s': %s", pool_dir(c),
					 strerror(-r));
	if (!o.data_dev && !o.data_size_bytes) {
		struct statvfs st;
		uint64_t meta = 0;
		if (statvfs(pool_dir(c), &st) < 0)
			return thinsnap_cli_fail(c, c->cfg.pool_name, "'%s': %s", pool_dir(c),
						 strerror(errno));
		if (thinsnap_cli_default_pool_sizes((uint64_t)st.f_bavail * st.f_frsize,
						    &o.data_size_bytes, &meta) < 0)
			return thinsnap_cli_fail(c, c->cfg.pool_name,
						 "not enough free space in '%s'; give --data-size",
						 pool_dir(c));
		if (!o.metadata_size_bytes)
			o.metadata_size_bytes = meta;
	}
	r = thinsnap_pool_create(&o, &p, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
	if (!c->quiet)
		printf("pool '%s' created%s%s\n", c->cfg.pool_name,
		       o.data_dev ? "" : " on sparse files in ", o.data_dev ? "" : pool_dir(c));
	return 0;
}

static double percent(uint64_t used, uint64_t total)
{
	return total ? 100.0 * (double)used / (double)total : 0.0;
}

static int pool_status(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *p = NULL;
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_pool_status st;
	struct thinsnap_pool_capacity cap;
	struct thinsnap_error e = { 0 }, se = { 0 }, ce = { 0 };
	struct thinsnap_counts n = { 0 };
	bool bytes = false, have_counts = false, have_cap;
	char du[32], dt[32], mu[32], mt[32], bs[32];
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c->json = true;
		else if (strcmp(argv[i], "-b") == 0 || strcmp(argv[i], "--bytes") == 0)
			bytes = true;
		else
			return thinsnap_cli_usage_error(c, "unexpected argument '%s'", argv[i]);
	}
	r = thinsnap_pool_open(c->cfg.pool_name, pool_dir(c), &p, &e);
	if (r == 0)
		r = thinsnap_pool_status(p, &st, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
	if (thinsnap_cli_try_open(c, true, &s, &se) == 0 && thinsnap_counts(s, &n, &se) == 0)
		have_counts = true;
	/* the capacity picture; lvs failing leaves it out rather than the whole status */
	have_cap = thinsnap_pool_capacity(p, &cap, &ce) == 0;
	double overcommit = st.total_data_bytes && have_counts
				    ? (double)n.virtual_bytes / (double)st.total_data_bytes
				    : 0.0;
	if (c->json) {
		json_t *capj =
			have_cap ? json_pack("{s:s, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
					     "backing",
					     cap.loop  ? "loop"
					     : cap.lvm ? "lvm"
						       : "device",
					     "volume_group", cap.volume_group, "overcommit_ratio",
					     overcommit, "virtual_bytes",
					     (json_int_t)(have_counts ? n.virtual_bytes : 0),
					     "data_device_bytes", (json_int_t)cap.data_device_bytes,
					     "metadata_device_bytes",
					     (json_int_t)cap.metadata_device_bytes,
					     "data_room_bytes", (json_int_t)cap.data_room_bytes,
					     "metadata_room_bytes",
					     (json_int_t)cap.metadata_room_bytes,
					     "autogrow_data_bytes",
					     (json_int_t)cap.autogrow_data_bytes,
					     "autogrow_metadata_bytes",
					     (json_int_t)cap.autogrow_metadata_bytes)
				 : json_null();
		json_t *snaps =
			have_counts ? json_pack("{s:I, s:I, s:I, s:I}", "committed",
						(json_int_t)n.committed, "active",
						(json_int_t)n.active, "view", (json_int_t)n.views,
						"pending_deletes", (json_int_t)n.pending_deletes)
				    : json_null();
		json_t *o = json_pack(
			"{s:s, s:s, s:s, s:b, s:I, s:I, s:{s:I, s:I, s:f}, s:{s:I, s:I, s:f}, s:o, "
			"s:{s:I, s:I}, s:o}",
			"name", thinsnap_pool_name(p), "uuid", thinsnap_pool_uuid(p), "mode",
			thinsnap_pool_mode_name(st.mode), "needs_check", st.needs_check,
			"transaction_id", (json_int_t)st.transaction_id, "data_block_bytes",
			(json_int_t)st.data_block_sectors * 512, "data", "used_bytes",
			(json_int_t)st.used_data_bytes, "total_bytes",
			(json_int_t)st.total_data_bytes, "used_percent",
			percent(st.used_data_bytes, st.total_data_bytes), "metadata", "used_bytes",
			(json_int_t)st.used_metadata_bytes, "total_bytes",
			(json_int_t)st.total_metadata_bytes, "used_percent",
			percent(st.used_metadata_bytes, st.total_metadata_bytes), "snapshots",
			snaps, "floors", "data_free_percent",
			(json_int_t)c->cfg.min_free_data_percent, "metadata_free_percent",
			(json_int_t)c->cfg.min_free_metadata_percent, "capacity", capj);
		if (thinsnap_cli_json_print(o, stdout) < 0)
			return thinsnap_cli_fail(c, NULL, "writing output failed");
		return 0;
	}
	thinsnap_cli_format_size((int64_t)st.used_data_bytes, bytes, du, sizeof(du));
	thinsnap_cli_format_size((int64_t)st.total_data_bytes, bytes, dt, sizeof(dt));
	thinsnap_cli_format_size((int64_t)st.used_metadata_bytes, bytes, mu, sizeof(mu));
	thinsnap_cli_format_size((int64_t)st.total_metadata_bytes, bytes, mt, sizeof(mt));
	thinsnap_cli_format_size((int64_t)st.data_block_sectors * 512, bytes, bs, sizeof(bs));
	printf("pool:           %s\n", thinsnap_pool_name(p));
	printf("uuid:           %s\n", thinsnap_pool_uuid(p));
	printf("mode:           %s%s\n", thinsnap_pool_mode_name(st.mode),
	       st.needs_check ? " (needs check)" : "");
	printf("transaction id: %llu\n", (unsigned long long)st.transaction_id);
	printf("data:           %s / %s (%.1f%%)\n", du, dt,
	       percent(st.used_data_bytes, st.total_data_bytes));
	printf("metadata:       %s / %s (%.1f%%)\n", mu, mt,
	       percent(st.used_metadata_bytes, st.total_metadata_bytes));
	printf("block size:     %s\n", bs);
	if (c->cfg.min_free_data_percent || c->cfg.min_free_metadata_percent)
		printf("floors:         new snapshots need %u%% of data and %u%% of metadata "
		       "free\n",
		       c->cfg.min_free_data_percent, c->cfg.min_free_metadata_percent);
	else
		printf("floors:         none\n");
	if (have_counts)
		printf("snapshots:      %zu committed, %zu active, %zu view (%zu pending "
		       "delete%s)\n",
		       n.committed, n.active, n.views, n.pending_deletes,
		       n.pending_deletes == 1 ? "" : "s");
	else
		printf("snapshots:      unknown (%s)\n", se.msg[0] ? se.msg : "no journal");
	if (!have_cap) {
		printf("capacity:       unknown (%s)\n", ce.msg);
		return 0;
	}
	thinsnap_cli_format_size(have_counts ? (int64_t)n.virtual_bytes : 0, bytes, du, sizeof(du));
	if (have_counts)
		printf("overcommit:     %.2f (snapshots' sizes %s over the data size)\n",
		       overcommit, du);
	thinsnap_cli_format_size((int64_t)cap.data_room_bytes, bytes, du, sizeof(du));
	thinsnap_cli_format_size((int64_t)cap.metadata_room_bytes, bytes, mu, sizeof(mu));
	if (cap.lvm)
		printf("room to grow:   %s data, %s metadata (volume group '%s' free space)\n", du,
		       mu, cap.volume_group);
	else if (cap.loop)
		printf("room to grow:   %s data, %s metadata (the loop files' filesystem)\n", du,
		       mu);
	else
		printf("room to grow:   %s data, %s metadata (the devices beyond the pool)\n", du,
		       mu);
	thinsnap_cli_format_size((int64_t)cap.autogrow_data_bytes, bytes, du, sizeof(du));
	thinsnap_cli_format_size((int64_t)cap.autogrow_metadata_bytes, bytes, mu, sizeof(mu));
	printf("auto-grown:     %s data, %s metadata\n", du, mu);
	return 0;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static int pool_grow(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *p = NULL;
	struct thinsnap_pool_status st;
	struct thinsnap_error e = { 0 };
	struct timespec t0;
	uint64_t size = 0;
	bool by = false, metadata = false;
	const char *arg = NULL;
	char buf[32];
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--metadata") == 0 && !metadata)
			metadata = true;
		else if (!arg && argv[i][0] != '-')
			arg = argv[i];
		else
			return thinsnap_cli_usage_error(c, "want [--metadata] [[+]SIZE]");
	}
	if (arg && arg[0] == '+') {
		by = true;
		arg++;
	}
	if (arg) {
		r = size_arg(c, "the new size", arg, &size);
		if (r)
			return r;
	}
	r = thinsnap_pool_open(c->cfg.pool_name, pool_dir(c), &p, &e);
	if (r == 0 && by) {
		r = thinsnap_pool_status(p, &st, &e);
		size += metadata ? st.total_metadata_bytes : st.total_data_bytes;
	}
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	if (r == 0)
		r = (metadata ? thinsnap_pool_grow_metadata : thinsnap_pool_grow)(p, size, &e);
	double took_ms = ms_since(&t0);
	if (r == 0)
		r = thinsnap_pool_status(p, &st, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
	thinsnap_cli_format_size(
		(int64_t)(metadata ? st.total_metadata_bytes : st.total_data_bytes), false, buf,
		sizeof(buf));
	if (!c->quiet)
		printf("pool '%s' %s is %s (grow took %.1f ms, I/O paused %.3f ms)\n",
		       c->cfg.pool_name, metadata ? "metadata" : "data", buf, took_ms,
		       (double)thinsnap_pool_last_pause_ns(p) / 1e6);
	return 0;
}

static int pool_autogrow(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_autogrow_policy o;
	struct thinsnap_space_report rep;
	struct thinsnap_pool_status before;
	struct thinsnap_error e = { 0 };
	char from[32], to[32];
	int r;

	(void)argv;
	if (argc != 1)
		return thinsnap_cli_usage_error(c, "no arguments expected");
	thinsnap_config_to_autogrow(&c->cfg, &o);
	r = thinsnap_cli_open(c, NULL, false, &s);
	if (r)
		return r;
	r = thinsnap_status(s, &before, &e);
	if (r == 0)
		r = thinsnap_autogrow(s, &o, &rep, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
	thinsnap_cli_format_size((int64_t)rep.old_data_bytes, false, from, sizeof(from));
	thinsnap_cli_format_size((int64_t)rep.total_data_bytes, false, to, sizeof(to));
	if (c->quiet)
		return 0;
	if (rep.grown && rep.total_data_bytes != rep.old_data_bytes)
		printf("pool '%s' data grown from %s to %s\n", c->cfg.pool_name, from, to);
	if (rep.grown && rep.total_metadata_bytes != before.total_metadata_bytes) {
		thinsnap_cli_format_size((int64_t)before.total_metadata_bytes, false, from,
					 sizeof(from));
		thinsnap_cli_format_size((int64_t)rep.total_metadata_bytes, false, to, sizeof(to));
		printf("pool '%s' metadata grown from %s to %s\n", c->cfg.pool_name, from, to);
	}
	if (rep.grown)
		return 0;
	if (rep.capped)
		printf("pool '%s' data %.1f%% used of %s, metadata %.1f%%, past the threshold "
		       "with nothing left to grow into, at the auto-grow cap: not grown\n",
		       c->cfg.pool_name, percent(rep.used_data_bytes, rep.total_data_bytes), to,
		       percent(rep.used_metadata_bytes, rep.total_metadata_bytes));
	else
		printf("pool '%s' data %.1f%% used of %s: not grown\n", c->cfg.pool_name,
		       percent(rep.used_data_bytes, rep.total_data_bytes), to);
	return 0;
}

struct names {
	char **name, **parent;
	size_t n, cap;
};

static int names_fn(void *userdata, const struct thinsnap_info *info)
{
	struct names *l = userdata;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 32;
		char **a = reallocarray(l->name, cap, sizeof(char *));
		if (!a)
			return -ENOMEM;
		l->name = a;
		a = reallocarray(l->parent, cap, sizeof(char *));
		if (!a)
			return -ENOMEM;
		l->parent = a;
		l->cap = cap;
	}
	l->name[l->n] = strdup(info->name);
	l->parent[l->n] = strdup(info->parent ? info->parent : "");
	if (!l->name[l->n] || !l->parent[l->n]) {
		free(l->name[l->n]);
		free(l->parent[l->n]);
		return -ENOMEM;
	}
	l->n++;
	return 0;
}

static void names_clear(struct names *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->name[i]);
		free(l->parent[i]);
	}
	free(l->name);
	free(l->parent);
}

/* Removes every snapshot, children before parents. */
static int remove_all(struct thinsnap_cli *c, struct thinsnap_snapshotter *s, struct names *l)
{
	CLEANUP_FREE bool *gone = calloc(l->n + 1, sizeof(bool));
	size_t left = l->n;

	if (!gone)
		return thinsnap_cli_fail(c, NULL, "out of memory");
	while (left) {
		size_t before = left;
		for (size_t i = 0; i < l->n; i++) {
			bool has_child = false;
			struct thinsnap_error e = { 0 };
			if (gone[i])
				continue;
			for (size_t k = 0; k < l->n && !has_child; k++)
				has_child = !gone[k] && strcmp(l->parent[k], l->name[i]) == 0;
			if (has_child)
				continue;
			int r = thinsnap_remove(s, l->name[i], &e);
			if (r < 0)
				return thinsnap_cli_fail_err(c, l->name[i], r, &e);
			gone[i] = true;
			left--;
		}
		if (left == before)
			return thinsnap_cli_fail(c, NULL,
						 "cannot order the removal of %zu snapshots", left);
	}
	return 0;
}

static int pool_destroy(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_state_lock_freep) struct thinsnap_state_lock *lock = NULL;
	char uuid[64];
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *p = NULL;
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };
	struct names l = { NULL, NULL, 0, 0 };
	bool force = false;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--force") == 0 || strcmp(argv[i], "-f") == 0)
			force = true;
		else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0)
			c->quiet = true;
		else
			return thinsnap_cli_usage_error(c, "unexpected argument '%s'", argv[i]);
	}
	r = thinsnap_pool_open(c->cfg.pool_name, pool_dir(c), &p, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
	/* what the journal holds, read-only: a pool never written to has nothing to remove */
	r = thinsnap_cli_try_open(c, true, &s, &e);
	if (r == 0) {
		r = thinsnap_walk(s, NULL, 0, names_fn, &l, &e);
		thinsnap_free(TAKE_PTR(s));
		if (r < 0) {
			names_clear(&l);
			return thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
		}
	} else if (!force) {
		return thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
	}
	if (l.n && !force) {
		r = thinsnap_cli_fail(c, c->cfg.pool_name,
				      "the pool holds %zu snapshots; remove them or use --force",
				      l.n);
		names_clear(&l);
		return r;
	}
	/* remove what is left, then delete pending devices (a snapshot committed while
	 * mounted leaves its old device to cleanup) */
	r = thinsnap_cli_try_open(c, false, &s, &e);
	if (r == -EAGAIN) {
		names_clear(&l);
		return thinsnap_cli_busy(c, c->cfg.pool_name, &e);
	}
	if (r < 0 && l.n)
		r = thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
	else if (r < 0)
		r = 0; /* nothing to remove: destroy says what is still active */
	else {
		r = l.n ? remove_all(c, s, &l) : 0;
		if (r == 0 && thinsnap_cleanup(s, &e) < 0)
			r = thinsnap_cli_fail_err(c, c->cfg.pool_name, e.err, &e);
	}
	thinsnap_free(TAKE_PTR(s));
	if (r) {
		names_clear(&l);
		return r;
	}
	names_clear(&l);
	/* the writer lock, held while the pool goes and its journal is set aside */
	r = thinsnap_state_lock(c->cfg.state_dir, &lock, NULL);
	if (r < 0)
		return thinsnap_cli_fail(c, c->cfg.pool_name, "locking state directory '%s': %s",
					 c->cfg.state_dir,
					 r == -EAGAIN ? "held by another process" : strerror(-r));
	(void)snprintf(uuid, sizeof(uuid), "%s", thinsnap_pool_uuid(p));
	r = thinsnap_pool_destroy(p, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, c->cfg.pool_name, r, &e);
	p = NULL; /* freed by destroy */
	/* its journal describes nothing now; the next pool here would refuse it */
	r = thinsnap_state_forget_pool(lock, uuid, NULL);
	if (r < 0)
		return thinsnap_cli_fail(c, c->cfg.pool_name,
					 "pool destroyed, but setting its journal aside failed: %s",
					 strerror(-r));
	if (!c->quiet)
		printf("pool '%s' destroyed\n", c->cfg.pool_name);
	return 0;
}

int thinsnap_cli_pool(struct thinsnap_cli *c, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct thinsnap_cli *c, int argc, char **argv);
		const char *verb;
	} table[] = {
		{ "create", pool_create, "pool create" },
		{ "status", pool_status, "pool status" },
		{ "grow", pool_grow, "pool grow" },
		{ "autogrow", pool_autogrow, "pool autogrow" },
		{ "destroy", pool_destroy, "pool destroy" },
	};

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		pool_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : 0;
	}
	/* the low-level form: an explicit pool directory and name (cli/debug.c) */
	bool low_level = strcmp(argv[1], "transaction-id") == 0 || strcmp(argv[1], "list-ids") == 0;
	for (int i = 2; i < argc && !low_level; i++)
		low_level = strcmp(argv[i], "--name") == 0 || strncmp(argv[i], "--name=", 7) == 0;
	if (low_level)
		return thinsnap_cli_pool_debug(argc, argv);
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(argv[1], table[i].name) != 0)
			continue;
		c->verb = table[i].verb;
		if (thinsnap_cli_wants_help(argc - 1, argv + 1)) {
			printf("usage: thinsnap %s\n\n%s", subverbs[i].synopsis, subverbs[i].help);
			return 0;
		}
		return table[i].run(c, argc - 1, argv + 1);
	}
	return thinsnap_cli_usage_error(c, "unknown pool verb '%s'", argv[1]);
}

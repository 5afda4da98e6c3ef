/*
 * The low-level debug verbs, on the public <thinsnap/pool.h> only and bypassing the journal:
 * `thinsnap thin create|snap|activate|deactivate|delete|info` and `thinsnap pool VERB
 * --state-dir DIR --name NAME` (DIR is the pool's own directory), plus `pool transaction-id`
 * and `pool list-ids`. cli/pool.c routes a pool verb here when it is given --name, or is one
 * of the last two. The pool tests t0002-t0004 drive them. Sizes take the config file's units.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <thinsnap/error.h>
#include <thinsnap/pool.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "cli/cli.h"

struct args {
	char verb[64]; /* "pool create", ... for messages */
	const char *state_dir, *name, *data_dev, *metadata_dev, *dm_name, *origin_dm;
	uint64_t data_size, metadata_size, block_size, size, low_water;
	uint64_t id, origin, old_tid, new_tid;
	bool has_id, has_origin, has_old, has_new, has_data_size, has_size;
	bool force, read_only, error_if_no_space;
};

__attribute__((format(printf, 2, 3))) static int usage_error(const struct args *a, const char *fmt,
							     ...)
{
	va_list ap;

	fprintf(stderr, "thinsnap: %s: ", a->verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 2;
}

static int fail(const struct args *a, const struct thinsnap_error *e)
{
	fprintf(stderr, "thinsnap: %s: %s\n", a->verb, e->msg[0] ? e->msg : "failed");
	return 1;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	/* each option and where its value goes; a flag only sets *given */
	const struct {
		const char *name;
		const char **str; /* a string value */
		uint64_t *num;    /* a number, or with size a size ("10G") */
		bool size;
		bool *given; /* set when the option is given */
	} table[] = {
		{ "state-dir", .str = &a->state_dir },
		{ "name", .str = &a->name },
		{ "data-size", .num = &a->data_size, .size = true, .given = &a->has_data_size },
		{ "metadata-size", .num = &a->metadata_size, .size = true },
		{ "block-size", .num = &a->block_size, .size = true },
		{ "data-dev", .str = &a->data_dev },
		{ "metadata-dev", .str = &a->metadata_dev },
		{ "low-water", .num = &a->low_water },
		{ "error-if-no-space", .given = &a->error_if_no_space },
		{ "force", .given = &a->force },
		{ "id", .num = &a->id, .given = &a->has_id },
		{ "origin", .num = &a->origin, .given = &a->has_origin },
		{ "origin-dm-name", .str = &a->origin_dm },
		{ "dm-name", .str = &a->dm_name },
		{ "size", .num = &a->size, .size = true, .given = &a->has_size },
		{ "read-only", .given = &a->read_only },
		{ "old", .num = &a->old_tid, .given = &a->has_old },
		{ "set", .num = &a->new_tid, .given = &a->has_new },
	};
	enum { FIRST = 1000 }; /* getopt_long() returns FIRST + the table index */
	struct option opts[ELEMENTSOF(table) + 1] = { { NULL, 0, NULL, 0 } };
	int c;

	for (size_t i = 0; i < ELEMENTSOF(table); i++)
		opts[i] = (struct option){ table[i].name,
					   table[i].str || table[i].num ? required_argument
									: no_argument,
					   NULL, FIRST + (int)i };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		size_t i = (size_t)(c - FIRST);
		int r = 0;

		if (c < FIRST || i >= ELEMENTSOF(table))
			return usage_error(a, "unknown or incomplete option '%s'",
					   argv[optind - 1]);
		if (table[i].str)
			*table[i].str = optarg;
		else if (table[i].num && table[i].size)
			r = thinsnap_parse_size(optarg, table[i].num);
		else if (table[i].num)
			r = thinsnap_parse_u64(optarg, table[i].num);
		if (table[i].given)
			*table[i].given = true;
		if (r < 0)
			return usage_error(a, "invalid number or size '%s'", optarg);
	}
	if (optind < argc)
		return usage_error(a, "unexpected argument '%s'", argv[optind]);
	if (!a->state_dir || !a->name)
		return usage_error(a, "%s", "--state-dir and --name are required");
	if ((a->has_id && a->id > UINT32_MAX) || (a->has_origin && a->origin > UINT32_MAX))
		return usage_error(a, "%s", "dev_id out of range");
	return 0;
}

static int open_pool(const struct args *a, struct thinsnap_pool **ret)
{
	struct thinsnap_error e = { 0, "" };
	if (thinsnap_pool_open(a->name, a->state_dir, ret, &e) < 0)
		return fail(a, &e);
	return 0;
}

static void print_status(struct thinsnap_pool *p, const struct thinsnap_pool_status *s)
{
	printf("name: %s\nuuid: %s\nmode: %s\nneeds_check: %s\ntransaction_id: %" PRIu64 "\n"
	       "block_size: %" PRIu64 "\n"
	       "data_used_blocks: %" PRIu64 "\ndata_total_blocks: %" PRIu64 "\n"
	       "data_used_bytes: %" PRIu64 "\ndata_total_bytes: %" PRIu64 "\n"
	       "metadata_used_blocks: %" PRIu64 "\nmetadata_total_blocks: %" PRIu64 "\n",
	       thinsnap_pool_name(p), thinsnap_pool_uuid(p), thinsnap_pool_mode_name(s->mode),
	       s->needs_check ? "yes" : "no", s->transaction_id,
	       (uint64_t)s->data_block_sectors * 512, s->used_data_blocks, s->total_data_blocks,
	       s->used_data_bytes, s->total_data_bytes, s->used_metadata_blocks,
	       s->total_metadata_blocks);
}

/* A low-level verb's start (thin: a thin verb, else a pool verb): the usage line when the
 * subverb is missing, else the arguments parsed into *a. 0 or the exit code. */
static int start(int argc, char **argv, bool thin, struct args *a)
{
	memset(a, 0, sizeof(*a));
	if (argc < 2) {
		fprintf(stderr, "%s",
			thin ? "usage: thinsnap thin create|snap|activate|deactivate|delete|info "
			       "--state-dir DIR --name POOL [--id N] [...]\n"
			     : "usage: thinsnap pool create|status|destroy|grow|transaction-id|"
			       "list-ids --state-dir DIR --name NAME [...]\n");
		return 2;
	}
	(void)snprintf(a->verb, sizeof(a->verb), "%s %s", thin ? "thin" : "pool", argv[1]);
	return parse_args(argc - 1, argv + 1, a);
}

static int create_pool(const struct args *a)
{
	struct thinsnap_error e = { 0, "" };
	struct thinsnap_pool *p = NULL;
	struct thinsnap_pool_create_opts o = THINSNAP_POOL_CREATE_OPTS_INIT;

	o.name = a->name;
	o.state_dir = a->state_dir;
	o.data_dev = a->data_dev;
	o.metadata_dev = a->metadata_dev;
	o.data_size_bytes = a->data_size;
	o.metadata_size_bytes = a->metadata_size;
	o.data_block_sectors = (uint32_t)(a->block_size / 512);
	o.low_water_blocks = a->low_water;
	o.force = a->force;
	o.error_if_no_space = a->error_if_no_space;
	if (!a->data_dev && !a->has_data_size)
		o.data_size_bytes = 1ull << 30;
	if (a->block_size % 512 || a->block_size / 512 > UINT32_MAX)
		return usage_error(a, "%s", "--block-size must be a multiple of 512");
	if (thinsnap_pool_create(&o, &p, &e) < 0)
		return fail(a, &e);
	printf("created pool '%s' (uuid %s)\n", thinsnap_pool_name(p), thinsnap_pool_uuid(p));
	thinsnap_pool_free(p);
	return 0;
}

int thinsnap_cli_pool_debug(int argc, char **argv)
{
	static const char *const verbs[] = { "status", "destroy", "grow", "transaction-id",
					     "list-ids" };
	struct thinsnap_error e = { 0, "" };
	struct thinsnap_pool *p = NULL;
	bool known = false;
	struct args a;
	int r = start(argc, argv, false, &a);

	if (r)
		return r;
	if (strcmp(argv[1], "create") == 0)
		return create_pool(&a);
	for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
		known = known || strcmp(argv[1], verbs[i]) == 0;
	if (!known) {
		fprintf(stderr, "thinsnap: pool: unknown verb '%s'\n", argv[1]);
		return 2;
	}
	if (strcmp(argv[1], "grow") == 0 && !a.has_data_size)
		return usage_error(&a, "%s", "--data-size is required");
	if (strcmp(argv[1], "transaction-id") == 0 && a.has_new != a.has_old)
		return usage_error(&a, "%s", "--set NEW needs --old OLD");
	if (open_pool(&a, &p))
		return 1;
	if (strcmp(argv[1], "status") == 0) {
		struct thinsnap_pool_status s;
		r = thinsnap_pool_status(p, &s, &e);
		if (r == 0)
			print_status(p, &s);
	} else if (strcmp(argv[1], "destroy") == 0) {
		r = thinsnap_pool_destroy(p, &e);
		if (r == 0)
			p = NULL; /* freed by destroy */
	} else if (strcmp(argv[1], "grow") == 0) {
		r = thinsnap_pool_grow(p, a.data_size, &e);
	} else if (strcmp(argv[1], "transaction-id") == 0) {
		uint64_t tid = 0;
		if (a.has_new)
			r = thinsnap_pool_set_transaction_id(p, a.old_tid, a.new_tid, &e);
		else if ((r = thinsnap_pool_transaction_id(p, &tid, &e)) == 0)
			printf("%" PRIu64 "\n", tid);
	} else {
		uint32_t *ids = NULL;
		size_t n = 0;
		r = thinsnap_pool_list_thin_ids(p, &ids, &n, &e);
		for (size_t i = 0; r == 0 && i < n; i++)
			printf("%" PRIu32 "\n", ids[i]);
		thinsnap_pool_thin_ids_free(ids);
	}
	thinsnap_pool_free(p);
	return r < 0 ? fail(&a, &e) : 0;
}

int thinsnap_cli_thin(int argc, char **argv)
{
	struct thinsnap_error e = { 0, "" };
	struct thinsnap_pool *p = NULL;
	struct args a;
	int r = start(argc, argv, true, &a);

	if (r)
		return r;
	bool need_id = strcmp(argv[1], "deactivate") != 0 && strcmp(argv[1], "info") != 0;
	if (need_id && !a.has_id)
		return usage_error(&a, "%s", "--id is required");
	if (!need_id && !a.dm_name)
		return usage_error(&a, "%s", "--dm-name is required");
	if (strcmp(argv[1], "create") && strcmp(argv[1], "snap") && strcmp(argv[1], "activate") &&
	    strcmp(argv[1], "deactivate") && strcmp(argv[1], "delete") && strcmp(argv[1], "info")) {
		fprintf(stderr, "thinsnap: thin: unknown verb '%s'\n", argv[1]);
		return 2;
	}
	if (strcmp(argv[1], "snap") == 0 && !a.has_origin)
		return usage_error(&a, "%s", "--origin is required");
	if (strcmp(argv[1], "activate") == 0 && (!a.dm_name || !a.has_size))
		return usage_error(&a, "%s", "--dm-name and --size are required");
	if (open_pool(&a, &p))
		return 1;
	if (strcmp(argv[1], "create") == 0) {
		r = thinsnap_pool_create_thin(p, (uint32_t)a.id, &e);
	} else if (strcmp(argv[1], "snap") == 0) {
		r = thinsnap_pool_create_snap(p, (uint32_t)a.id, (uint32_t)a.origin, a.origin_dm,
					      &e);
	} else if (strcmp(argv[1], "activate") == 0) {
		r = thinsnap_pool_activate_thin(p, (uint32_t)a.id, a.dm_name, a.size, a.read_only,
						&e);
	} else if (strcmp(argv[1], "deactivate") == 0) {
		r = thinsnap_pool_deactivate_thin(p, a.dm_name, &e);
	} else if (strcmp(argv[1], "delete") == 0) {
		r = thinsnap_pool_delete_thin(p, (uint32_t)a.id, &e);
	} else {
		struct thinsnap_pool_thin_info ti;
		r = thinsnap_pool_thin_info(p, a.dm_name, &ti, &e);
		if (r == 0)
			printf("exists: %s\ndev_id: %" PRIu32 "\nread_only: %s\nopen_count: %d\n"
			       "size_bytes: %" PRIu64 "\nmapped_sectors: %" PRIu64 "\n",
			       ti.exists ? "yes" : "no", ti.dev_id, ti.read_only ? "yes" : "no",
			       (int)ti.open_count, ti.size_bytes, ti.mapped_sectors);
	}
	thinsnap_pool_free(p);
	return r < 0 ? fail(&a, &e) : 0;
}

/*
 * The low-level debug verbs from the pool branch, on the public <thinsnap/pool.h> only and
 * bypassing the journal: `thinsnap thin create|snap|activate|deactivate|delete|info` and
 * `thinsnap pool VERB --state-dir DIR --name NAME` (DIR is the pool's own directory), plus
 * `pool transaction-id` and `pool list-ids`. cli/pool.c routes a pool verb here when it is
 * given --name, or is one of the last two. Kept as the pool branch wrote it (its tests
 * t0002-t0004 drive it). Sizes take the config file's units (thinsnap_parse_size).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <thinsnap/error.h>
#include <thinsnap/pool.h>

#include "base/parse.h"
#include "cli/cli.h"

struct args {
	const char *verb; /* "pool create", ... for messages */
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

static int parse_num(const char *s, uint64_t *ret)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

enum {
	O_STATE = 1000,
	O_NAME,
	O_DATA_SIZE,
	O_META_SIZE,
	O_BLOCK,
	O_DATA_DEV,
	O_META_DEV,
	O_FORCE,
	O_ID,
	O_ORIGIN,
	O_ORIGIN_DM,
	O_DM_NAME,
	O_SIZE,
	O_RO,
	O_OLD,
	O_NEW,
	O_LOW,
	O_ERR_NOSPACE,
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, O_STATE },
		{ "name", required_argument, NULL, O_NAME },
		{ "data-size", required_argument, NULL, O_DATA_SIZE },
		{ "metadata-size", required_argument, NULL, O_META_SIZE },
		{ "block-size", required_argument, NULL, O_BLOCK },
		{ "data-dev", required_argument, NULL, O_DATA_DEV },
		{ "metadata-dev", required_argument, NULL, O_META_DEV },
		{ "low-water", required_argument, NULL, O_LOW },
		{ "error-if-no-space", no_argument, NULL, O_ERR_NOSPACE },
		{ "force", no_argument, NULL, O_FORCE },
		{ "id", required_argument, NULL, O_ID },
		{ "origin", required_argument, NULL, O_ORIGIN },
		{ "origin-dm-name", required_argument, NULL, O_ORIGIN_DM },
		{ "dm-name", required_argument, NULL, O_DM_NAME },
		{ "size", required_argument, NULL, O_SIZE },
		{ "read-only", no_argument, NULL, O_RO },
		{ "old", required_argument, NULL, O_OLD },
		{ "set", required_argument, NULL, O_NEW },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		int r = 0;
		switch (c) {
		case O_STATE:
			a->state_dir = optarg;
			break;
		case O_NAME:
			a->name = optarg;
			break;
		case O_DATA_DEV:
			a->data_dev = optarg;
			break;
		case O_META_DEV:
			a->metadata_dev = optarg;
			break;
		case O_DM_NAME:
			a->dm_name = optarg;
			break;
		case O_ORIGIN_DM:
			a->origin_dm = optarg;
			break;
		case O_FORCE:
			a->force = true;
			break;
		case O_RO:
			a->read_only = true;
			break;
		case O_ERR_NOSPACE:
			a->error_if_no_space = true;
			break;
		case O_DATA_SIZE:
			r = thinsnap_parse_size(optarg, &a->data_size);
			a->has_data_size = true;
			break;
		case O_META_SIZE:
			r = thinsnap_parse_size(optarg, &a->metadata_size);
			break;
		case O_BLOCK:
			r = thinsnap_parse_size(optarg, &a->block_size);
			break;
		case O_SIZE:
			r = thinsnap_parse_size(optarg, &a->size);
			a->has_size = true;
			break;
		case O_LOW:
			r = parse_num(optarg, &a->low_water);
			break;
		case O_ID:
			r = parse_num(optarg, &a->id);
			a->has_id = true;
			break;
		case O_ORIGIN:
			r = parse_num(optarg, &a->origin);
			a->has_origin = true;
			break;
		case O_OLD:
			r = parse_num(optarg, &a->old_tid);
			a->has_old = true;
			break;
		case O_NEW:
			r = parse_num(optarg, &a->new_tid);
			a->has_new = true;
			break;
		default:
			return usage_error(a, "unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
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

int thinsnap_cli_pool_debug(int argc, char **argv)
{
	struct thinsnap_error e = { 0, "" };
	struct thinsnap_pool *p = NULL;
	char verb[64];
	struct args a;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: thinsnap pool create|status|destroy|grow|transaction-id|"
				"list-ids --state-dir DIR --name NAME [...]\n");
		return 2;
	}
	memset(&a, 0, sizeof(a));
	(void)snprintf(verb, sizeof(verb), "pool %s", argv[1]);
	a.verb = verb;
	r = parse_args(argc - 1, argv + 1, &a);
	if (r)
		return r;
	if (strcmp(argv[1], "create") == 0) {
		struct thinsnap_pool_create_opts o = {
			.name = a.name,
			.state_dir = a.state_dir,
			.data_dev = a.data_dev,
			.metadata_dev = a.metadata_dev,
			.data_size_bytes = a.data_size,
			.metadata_size_bytes = a.metadata_size,
			.data_block_sectors = (uint32_t)(a.block_size / 512),
			.low_water_blocks = a.low_water,
			.force = a.force,
			.error_if_no_space = a.error_if_no_space,
		};
		if (!a.data_dev && !a.has_data_size)
			o.data_size_bytes = 1ull << 30;
		if (a.block_size % 512 || a.block_size / 512 > UINT32_MAX)
			return usage_error(&a, "%s", "--block-size must be a multiple of 512");
		if (thinsnap_pool_create(&o, &p, &e) < 0)
			return fail(&a, &e);
		printf("created pool '%s' (uuid %s)\n", thinsnap_pool_name(p),
		       thinsnap_pool_uuid(p));
		thinsnap_pool_free(p);
		return 0;
	}
	if (strcmp(argv[1], "status") == 0) {
		struct thinsnap_pool_status s;
		if (open_pool(&a, &p))
			return 1;
		r = thinsnap_pool_status(p, &s, &e);
		if (r == 0)
			print_status(p, &s);
		thinsnap_pool_free(p);
		return r < 0 ? fail(&a, &e) : 0;
	}
	if (strcmp(argv[1], "destroy") == 0) {
		if (open_pool(&a, &p))
			return 1;
		if (thinsnap_pool_destroy(p, &e) < 0) {
			thinsnap_pool_free(p);
			return fail(&a, &e);
		}
		return 0;
	}
	if (strcmp(argv[1], "grow") == 0) {
		if (!a.has_data_size)
			return usage_error(&a, "%s", "--data-size is required");
		if (open_pool(&a, &p))
			return 1;
		r = thinsnap_pool_grow(p, a.data_size, &e);
		thinsnap_pool_free(p);
		return r < 0 ? fail(&a, &e) : 0;
	}
	if (strcmp(argv[1], "transaction-id") == 0) {
		uint64_t tid = 0;
		if (a.has_new != a.has_old)
			return usage_error(&a, "%s", "--set NEW needs --old OLD");
		if (open_pool(&a, &p))
			return 1;
		if (a.has_new)
			r = thinsnap_pool_set_transaction_id(p, a.old_tid, a.new_tid, &e);
		else if ((r = thinsnap_pool_transaction_id(p, &tid, &e)) == 0)
			printf("%" PRIu64 "\n", tid);
		thinsnap_pool_free(p);
		return r < 0 ? fail(&a, &e) : 0;
	}
	if (strcmp(argv[1], "list-ids") == 0) {
		uint32_t *ids = NULL;
		size_t n = 0;
		if (open_pool(&a, &p))
			return 1;
		r = thinsnap_pool_list_thin_ids(p, &ids, &n, &e);
		for (size_t i = 0; r == 0 && i < n; i++)
			printf("%" PRIu32 "\n", ids[i]);
		free(ids);
		thinsnap_pool_free(p);
		return r < 0 ? fail(&a, &e) : 0;
	}
	fprintf(stderr, "thinsnap: pool: unknown verb '%s'\n", argv[1]);
	return 2;
}

int thinsnap_cli_thin(int argc, char **argv)
{
	struct thinsnap_error e = { 0, "" };
	struct thinsnap_pool *p = NULL;
	char verb[64];
	struct args a;
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: thinsnap thin create|snap|activate|deactivate|delete|info "
				"--state-dir DIR --name POOL [--id N] [...]\n");
		return 2;
	}
	memset(&a, 0, sizeof(a));
	(void)snprintf(verb, sizeof(verb), "thin %s", argv[1]);
	a.verb = verb;
	r = parse_args(argc - 1, argv + 1, &a);
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

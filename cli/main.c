/*
 * The thinsnap command: global options, configuration (flag > env > file > default), the verb
 * table with ctr's names and aliases, --help for every verb, and one-line error reporting.
 * Verbs live in cli/snapshots.c, cli/pool.c and cli/health.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/common.h>
#include <thinsnap/pool.h>

#include "cli/args.h"
#include "cli/cli.h"

extern char **environ;

static int thin_verb(struct thinsnap_cli *c, int argc, char **argv)
{
	(void)c;
	return thinsnap_cli_thin(argc, argv);
}

struct verb {
	const char *name;
	const char *aliases[4];
	int (*run)(struct thinsnap_cli *c, int argc, char **argv);
	const char *synopsis;
	const char *help;
};

static const struct verb verbs[] = {
	{ "prepare",
	  { NULL },
	  thinsnap_cli_prepare,
	  "prepare [--target DIR] [--mounts] [--label K=V]... [--size SIZE] KEY [PARENT]",
	  "Creates active snapshot KEY (writable) on committed PARENT, or on an empty filesystem.\n"
	  "  --target DIR     mount it at DIR\n"
	  "  --size SIZE      make it SIZE (e.g. 20G) when PARENT is smaller: its filesystem\n"
	  "                   grows (label containerd.io/snapshot/max-size)\n"
	  "  --mounts         print the mount command line\n"
	  "  --label K=V      set a label (repeatable)\n"
	  "  --json           print the mount as JSON\n" },
	{ "view",
	  { NULL },
	  thinsnap_cli_view,
	  "view [--target DIR] [--mounts] [--label K=V]... KEY [PARENT]",
	  "Creates read-only view KEY of committed PARENT; options as for prepare.\n" },
	{ "resize",
	  { NULL },
	  thinsnap_cli_resize,
	  "resize KEY SIZE",
	  "Grows active snapshot KEY to SIZE (e.g. 20G), its filesystem too, mounted or not.\n" },
	{ "commit",
	  { NULL },
	  thinsnap_cli_commit,
	  "commit [--keep-active] [--label K=V]... NAME KEY",
	  "Commits active snapshot KEY as NAME.\n"
	  "  --keep-active    keep KEY active and writable (snapshot it instead of retiring it)\n"
	  "  --label K=V      the committed snapshot's labels (repeatable)\n" },
	{ "remove",
	  { "rm", "delete", "del" },
	  thinsnap_cli_remove,
	  "remove KEY...",
	  "Removes snapshots; one with children is refused. Exits 1 if any removal failed.\n" },
	{ "list",
	  { "ls" },
	  thinsnap_cli_list,
	  "list [--json] [-q] [FILTER...]",
	  "Lists snapshots (KEY PARENT KIND) matching any of containerd's FILTERs,\n"
	  "e.g. 'kind==committed', 'parent==base', 'labels.\"a\"==b', 'name~=^app'.\n"
	  "  --json           one JSON array of infos (name, parent, kind, created, updated, "
	  "labels)\n"
	  "  -q, --quiet      keys only\n" },
	{ "info",
	  { NULL },
	  thinsnap_cli_info,
	  "info KEY",
	  "Prints snapshot KEY's info as JSON (name, parent, kind, created, updated, labels).\n" },
	{ "mounts",
	  { "mount", "m" },
	  thinsnap_cli_mounts,
	  "mounts [--json] TARGET KEY",
	  "Prints the mount command line of active snapshot or view KEY at TARGET.\n" },
	{ "label",
	  { NULL },
	  thinsnap_cli_label,
	  "label [--json] NAME [KEY=VALUE...]",
	  "Sets labels of snapshot NAME (an empty VALUE removes KEY) and prints its labels.\n" },
	{ "tree",
	  { NULL },
	  thinsnap_cli_tree,
	  "tree [--json]",
	  "Draws the parent forest: children under parents, committed first, then the others.\n" },
	{ "usage",
	  { "du" },
	  thinsnap_cli_usage,
	  "usage [-b] [--json] [KEY]",
	  "Prints KEY SIZE EXCLUSIVE SHARED INODES for KEY or every snapshot: SIZE is what the\n"
	  "snapshot maps beyond its parent, EXCLUSIVE what only it maps (what removing it frees),\n"
	  "SHARED what it maps that other snapshots map too (read with thin_ls).\n"
	  "  -b, --bytes      sizes in bytes\n" },
	{ "pool",
	  { NULL },
	  thinsnap_cli_pool,
	  "pool create|status|grow|destroy ...",
	  "Manages the thin pool; 'thinsnap pool VERB --help' for each.\n" },
	{ "check",
	  { NULL },
	  thinsnap_cli_check,
	  "check [--json]",
	  "Compares the journal with the pool's devices; exits 0 only when they agree.\n" },
	{ "repair",
	  { NULL },
	  thinsnap_cli_repair,
	  "repair [--json]",
	  "Deletes leaked thin devices from the pool and dangling keys from the journal.\n" },
	{ "cleanup",
	  { NULL },
	  thinsnap_cli_cleanup,
	  "cleanup",
	  "Deletes the devices whose removal is pending (async_remove, or busy at remove).\n" },
	{ "unpack",
	  { NULL },
	  thinsnap_cli_unpack,
	  "unpack [--platform OS/ARCH[/VARIANT]] [--ref NAME] [--json] [-q] SOURCE",
	  "Imports an image's layers as committed snapshots named by their chain IDs, bottom up;\n"
	  "layers already present are skipped. SOURCE is an OCI image layout directory, an\n"
	  "oci-archive tar or a docker save tar. The last line printed is the top chain ID.\n"
	  "  --platform P     the manifest for P (default: the host's, e.g. linux/amd64)\n"
	  "  --ref NAME       the manifest annotated or tagged NAME\n"
	  "  --json           print the chain as JSON (layers' chain_id, diff_id, digest; top)\n"
	  "  -q, --quiet      print only the top chain ID\n" },
	{ "thin",
	  { NULL },
	  thin_verb,
	  "thin create|snap|activate|deactivate|delete|info --state-dir POOL_DIR --name POOL ...",
	  "Low-level debugging of a pool's thin devices, bypassing the journal:\n"
	  "  create --id N | snap --id N --origin M [--origin-dm-name DM] |\n"
	  "  activate --id N --dm-name DM --size SIZE [--read-only] | deactivate --dm-name DM |\n"
	  "  delete --id N | info --dm-name DM\n" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: thinsnap [--state-dir DIR] [--pool NAME] [--config FILE] [--json] [-q]\n"
		   "                [--wait SECONDS] VERB [ARG...]\n"
		   "       thinsnap --version | --help | VERB --help\n\n"
		   "verbs:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %s\n", verbs[i].synopsis);
	fprintf(f,
		"\nconfiguration: flags, then THINSNAP_STATE_DIR, THINSNAP_POOL, THINSNAP_CONFIG,\n"
		"THINSNAP_BASE_IMAGE_SIZE, THINSNAP_FS_TYPE, THINSNAP_FS_OPTIONS,\n"
		"THINSNAP_ASYNC_REMOVE, THINSNAP_DISCARD_BLOCKS, THINSNAP_MIN_FREE_DATA_PERCENT,\n"
		"THINSNAP_MIN_FREE_METADATA_PERCENT, then the TOML file\n"
		"(default " THINSNAP_CONFIG_DEFAULT_FILE "), then defaults. See thinsnap(1).\n"
		"\n--wait SECONDS: a changing verb whose pool is locked by another writer "
		"(thinsnapd,\n"
		"another thinsnap) retries that long (default 0). Exit: 0 ok, 1 failed, 2 usage,\n"
		"75 busy (the lock is held; nothing was changed).\n");
}

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
		for (size_t k = 0; k < 4 && verbs[i].aliases[k]; k++)
			if (strcmp(verbs[i].aliases[k], name) == 0)
				return &verbs[i];
	}
	return NULL;
}

static int vfail(const struct thinsnap_cli *c, const char *key, const char *fmt, va_list ap)
{
	char msg[1024];

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (key)
		fprintf(stderr, "thinsnap: %s %s: %s\n", c->verb, key, msg);
	else
		fprintf(stderr, "thinsnap: %s: %s\n", c->verb, msg);
	return 1;
}

int thinsnap_cli_fail(const struct thinsnap_cli *c, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vfail(c, key, fmt, ap);
	va_end(ap);
	return 1;
}

int thinsnap_cli_fail_err(const struct thinsnap_cli *c, const char *key, int r,
			  const struct thinsnap_error *e)
{
	if (e && e->msg[0])
		(void)thinsnap_cli_fail(c, key, "%s", e->msg);
	else
		(void)thinsnap_cli_fail(c, key, "%s", strerror(r < 0 ? -r : r));
	/* the pool needs repair or is read-only: not this command's fault (a held lock is
	 * refused earlier, at open, as busy) */
	return thinsnap_code_from_errno(r) == THINSNAP_CODE_UNAVAILABLE ? EXIT_UNAVAILABLE : 1;
}

int thinsnap_cli_usage_error(const struct thinsnap_cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vfail(c, NULL, fmt, ap);
	va_end(ap);
	fprintf(stderr, "try 'thinsnap %s --help'\n", c->verb);
	return EXIT_USAGE;
}

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
	struct thinsnap_options o;
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

int thinsnap_cli_busy(const struct thinsnap_cli *c, const char *key, const struct thinsnap_error *e)
{
	(void)thinsnap_cli_fail(c, key, "busy: %s; %s", e->msg,
				c->wait_ms ? "gave up waiting (--wait)"
					   : "try again, or wait with --wait SECONDS");
	return EXIT_BUSY;
}

int thinsnap_cli_open(struct thinsnap_cli *c, const char *key, bool read_only,
		      struct thinsnap_snapshotter **ret)
{
	struct thinsnap_error e = { 0 };
	int r;

	if (c->embedded && thinsnap_cli_ensure_embedded_pool(c, key) != 0)
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

/* Resolves the configuration: flags > env > file > defaults. Returns 0, or the exit code. */
static int configure(struct thinsnap_cli *c, const struct thinsnap_cli_globals *g)
{
	struct thinsnap_error e = { 0 };
	int r;

	r = thinsnap_config_load(&c->cfg, g->config, environ, &e);
	if (r < 0)
		return thinsnap_cli_fail(c, NULL, "%s", e.msg);
	r = thinsnap_config_set_flags(&c->cfg, g->state_dir, g->pool, &e);
	if (r < 0)
		return thinsnap_cli_usage_error(c, "%s", e.msg);
	c->embedded = c->cfg.source[THINSNAP_CONFIG_POOL_NAME] == THINSNAP_CONFIG_DEFAULT;
	if (asprintf(&c->pool_dir, "%s/pool", c->cfg.state_dir) < 0) {
		c->pool_dir = NULL;
		return thinsnap_cli_fail(c, NULL, "out of memory");
	}
	return 0;
}

/* True if a --help or -h comes before any "--" in argv[1..]. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct thinsnap_cli c = { .verb = "thinsnap" };
	struct thinsnap_cli_globals g;
	const struct verb *v;
	char err[256] = "";
	int r;

	if (thinsnap_cli_parse_globals(argc, argv, &g, err, sizeof(err)) < 0) {
		fprintf(stderr, "thinsnap: %s\n", err);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (g.version) {
		printf("thinsnap %s\n", thinsnap_version());
		return 0;
	}
	if (g.help) {
		usage(stdout);
		return 0;
	}
	if (g.verb >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	v = find_verb(argv[g.verb]);
	if (!v) {
		fprintf(stderr, "thinsnap: unknown verb '%s'\n", argv[g.verb]);
		usage(stderr);
		return EXIT_USAGE;
	}
	c.verb = v->name;
	if (wants_help(argc - g.verb, argv + g.verb) && v->run != thinsnap_cli_pool) {
		printf("usage: thinsnap %s\n\n%s", v->synopsis, v->help);
		return 0;
	}
	if (thinsnap_config_init(&c.cfg) < 0) {
		fprintf(stderr, "thinsnap: out of memory\n");
		return 1;
	}
	c.json = g.json;
	c.quiet = g.quiet;
	c.wait_ms = g.wait_ms;
	r = configure(&c, &g);
	if (r == 0)
		r = v->run(&c, argc - g.verb, argv + g.verb);
	thinsnap_config_clear(&c.cfg);
	free(c.pool_dir);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "thinsnap: %s: writing output: %s\n", c.verb, strerror(errno));
		return r ? r : 1;
	}
	return r;
}

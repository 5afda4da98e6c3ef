/*
 * The thinsnap command: global options, configuration (flag > env > file > default), the verb
 * table with ctr's names and aliases, --help for every verb, and the dispatch to the verb.
 * Verbs live in cli/snapshots.c, cli/pool.c, cli/health.c, cli/unpack.c and cli/debug.c;
 * what they share in cli/open.c (opening the snapshotter) and cli/report.c (failures).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <thinsnap/common.h>

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
	  "Prints snapshot KEY's info as JSON (name, parent, kind, created, updated, labels, and\n"
	  "a committed snapshot's unique id).\n" },
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
	  "repair [--json] | repair --salvage [--dry-run] [--json]",
	  "Deletes leaked thin devices from the pool and dangling keys from the journal.\n"
	  "--salvage rebuilds a damaged journal: keeps what verifies, and makes every thin\n"
	  "device it no longer names a snapshot 'lost+found/<thin id>' (never deleted).\n"
	  "--dry-run shows that plan and writes nothing.\n" },
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
	{ "send",
	  { NULL },
	  thinsnap_cli_send,
	  "send [-i BASE] [--stats] NAME > FILE",
	  "Writes committed snapshot NAME as a stream to stdout: every mapped block, or with\n"
	  "-i only the blocks that differ from committed ancestor BASE (from the pool's "
	  "metadata).\n"
	  "  -i, --incremental BASE  an incremental stream from BASE\n"
	  "  --stats          print the stream's size, data and hole bytes on stderr\n" },
	{ "receive",
	  { "recv" },
	  thinsnap_cli_receive,
	  "receive [--parent BASE] [--stats] NAME < FILE",
	  "Creates committed snapshot NAME from a stream on stdin, verified and flushed before it\n"
	  "is committed; on any failure nothing is left. An incremental stream needs its base.\n"
	  "  --parent BASE    the stream's base here (its unique id must be the stream's)\n"
	  "  --stats          print the stream's size, data and hole bytes on stderr\n" },
	{ "push",
	  { NULL },
	  thinsnap_cli_push,
	  "push [-i BASE] NAME REF",
	  "Pushes committed snapshot NAME's stream to OCI registry REF (HOST[:PORT]/REPO[:TAG]):\n"
	  "its blobs by sha256, a config and a manifest, also tagged thinsnap-<id>. With -i,\n"
	  "the stream from BASE (pushed there before), its manifest naming BASE's. Prints the\n"
	  "manifest's digest. Plain HTTP for 127.0.0.1 and localhost, else https.\n"
	  "  -i, --incremental BASE  an incremental stream from BASE\n" },
	{ "pull",
	  { NULL },
	  thinsnap_cli_pull,
	  "pull REF NAME",
	  "Pulls the stream at REF as committed snapshot NAME. An incremental stream whose base\n"
	  "is here (by its id) is received on it, fetching only its own blobs; else its base is\n"
	  "pulled first, under the name it has on the sender.\n" },
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
	r = thinsnap_state_pool_dir(c->cfg.state_dir, c->pool_dir, sizeof(c->pool_dir));
	if (r < 0)
		return thinsnap_cli_fail(c, NULL, "state directory '%s': %s", c->cfg.state_dir,
					 strerror(-r));
	return 0;
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
	if (thinsnap_cli_wants_help(argc - g.verb, argv + g.verb) && v->run != thinsnap_cli_pool) {
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
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "thinsnap: %s: writing output: %s\n", c.verb, strerror(errno));
		return r ? r : 1;
	}
	return r;
}

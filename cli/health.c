/*
 * The health verbs: check (exits 0 only when the journal and the pool agree), repair (fixes
 * what check finds; --salvage rebuilds a damaged journal, --dry-run shows the plan) and
 * cleanup (deletes devices whose removal is pending).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <thinsnap/salvage.h>

#include "base/cleanup.h"
#include "cli/cli.h"
#include "cli/format.h"

DEFINE_CLEANUP(struct thinsnap_snapshotter *, thinsnap_free)
DEFINE_CLEANUP(struct thinsnap_check_report *, thinsnap_check_report_free)
DEFINE_CLEANUP(struct thinsnap_salvage_report *, thinsnap_salvage_report_free)

/* Only --json and -q are accepted; returns 0 or the exit code. */
static int options(struct thinsnap_cli *c, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c->json = true;
		else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
			c->quiet = true;
		else if (argv[i][0] == '-')
			return thinsnap_cli_usage_error(c, "unknown option '%s'", argv[i]);
		else
			return thinsnap_cli_usage_error(c, "takes no arguments");
	}
	return 0;
}

static size_t n_mismatched(const struct thinsnap_check_report *rep)
{
	size_t n = 0;

	for (size_t i = 0; i < rep->n_unfinished; i++)
		n += rep->intents[i].recovery == THINSNAP_RECOVERY_MISMATCH;
	return n;
}

/* A crashed writer's unfinished operations are no disagreement: the next writer resolves
 * them. One whose transaction id matches neither side is. */
static bool agree(const struct thinsnap_check_report *rep)
{
	return rep->n_leaked == 0 && rep->n_dangling == 0 && n_mismatched(rep) == 0;
}

static const char *recovery_name(enum thinsnap_recovery r)
{
	return r == THINSNAP_RECOVERY_ROLL_BACK      ? "roll back"
	       : r == THINSNAP_RECOVERY_ROLL_FORWARD ? "roll forward"
						     : "mismatch";
}

static json_t *intents_json(const struct thinsnap_check_report *rep)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < rep->n_unfinished; i++) {
		const struct thinsnap_check_intent *in = &rep->intents[i];
		(void)json_array_append_new(
			a, json_pack("{s:I, s:s, s:o, s:I, s:s}", "id", (json_int_t)in->id,
				     "operation", in->operation, "key",
				     in->key ? thinsnap_cli_json_string(in->key) : json_null(),
				     "dev_id", (json_int_t)in->dev_id, "recovery",
				     recovery_name(in->recovery)));
	}
	return a;
}

/* "  operation 12: prepare 'k' (thin id 7): rolled back at the next writer's open" */
static void print_intents(const struct thinsnap_check_report *rep)
{
	for (size_t i = 0; i < rep->n_unfinished; i++) {
		const struct thinsnap_check_intent *in = &rep->intents[i];
		printf("  operation %" PRIu64 ": %s", in->id, in->operation);
		if (in->key)
			printf(" '%s'", in->key);
		printf(" (thin id %" PRIu32 "): ", in->dev_id);
		if (in->recovery == THINSNAP_RECOVERY_MISMATCH)
			printf("the pool's transaction id %" PRIu64
			       " is neither its old nor its new one\n",
			       rep->transaction_id);
		else
			printf("%s at the next writer's open\n",
			       in->recovery == THINSNAP_RECOVERY_ROLL_BACK ? "rolled back"
									   : "rolled forward");
	}
	if (rep->n_unfinished > n_mismatched(rep))
		printf("recovery pending: a writer stopped mid-operation; the next writer's open "
		       "(any changing verb, 'thinsnap cleanup', thinsnapd) finishes it\n");
}

static int print_report(struct thinsnap_cli *c, const struct thinsnap_check_report *rep,
			bool repaired)
{
	if (c->json) {
		json_t *leaked = json_array(), *dangling = json_array();
		for (size_t i = 0; leaked && i < rep->n_leaked; i++)
			(void)json_array_append_new(leaked, json_integer(rep->leaked_ids[i]));
		for (size_t i = 0; dangling && i < rep->n_dangling; i++)
			(void)json_array_append_new(
				dangling, thinsnap_cli_json_string(rep->dangling_keys[i]));
		json_t *o = json_pack("{s:b, s:o, s:o, s:I, s:I, s:o, s:b}",
				      repaired ? "repaired" : "agree", repaired ? true : agree(rep),
				      "leaked_ids", leaked, "dangling_keys", dangling,
				      "pending_deletes", (json_int_t)rep->n_pending_deletes,
				      "unfinished_intents", (json_int_t)rep->n_unfinished,
				      "unfinished", intents_json(rep), "recovery_pending",
				      rep->n_unfinished > n_mismatched(rep));
		if (thinsnap_cli_json_print(o, stdout) < 0)
			return thinsnap_cli_fail(c, NULL, "writing output failed");
		return 0;
	}
	if (c->quiet)
		return 0;
	printf("leaked thin ids:    %zu", rep->n_leaked);
	for (size_t i = 0; i < rep->n_leaked; i++)
		printf("%s%u", i ? "," : " (", rep->leaked_ids[i]);
	printf("%s\n", rep->n_leaked ? ")" : "");
	printf("dangling keys:      %zu\n", rep->n_dangling);
	for (size_t i = 0; i < rep->n_dangling; i++)
		printf("  %s\n", rep->dangling_keys[i]);
	printf("pending deletes:    %zu\n", rep->n_pending_deletes);
	printf("unfinished intents: %zu\n", rep->n_unfinished);
	print_intents(rep);
	if (repaired)
		printf("repaired\n");
	else
		printf("%s\n", agree(rep) ? "journal and pool agree"
					  : "journal and pool disagree: run 'thinsnap repair'");
	return 0;
}

/* A health verb's start: its options, then the snapshotter. 0 or the exit code. */
static int start(struct thinsnap_cli *c, int argc, char **argv, bool read_only,
		 struct thinsnap_snapshotter **ret)
{
	int r = options(c, argc, argv);

	return r ? r : thinsnap_cli_open(c, NULL, read_only, ret);
}

/* check reads (read-only) and exits 1 on a disagreement; repair fixes it (writing). */
static int check_or_repair(struct thinsnap_cli *c, int argc, char **argv, bool repair)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	CLEANUP(thinsnap_check_report_freep) struct thinsnap_check_report *rep = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	r = start(c, argc, argv, !repair, &s);
	if (r)
		return r;
	r = (repair ? thinsnap_repair : thinsnap_check)(s, &rep, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, NULL, r, &e);
	if (repair)
		return rep ? print_report(c, rep, true) : 0;
	r = print_report(c, rep, false);
	return r ? r : agree(rep) ? 0 : 1;
}

int thinsnap_cli_check(struct thinsnap_cli *c, int argc, char **argv)
{
	return check_or_repair(c, argc, argv, false);
}

/* One escaped line: "  <s>". */
static void print_escaped(const char *prefix, const char *s)
{
	CLEANUP_FREE char *e = thinsnap_cli_escape(s);

	printf("%s%s\n", prefix, e ? e : "?");
}

static json_t *lines_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		(void)json_array_append_new(a, thinsnap_cli_json_string(v[i]));
	return a;
}

static int print_salvage(struct thinsnap_cli *c, const struct thinsnap_salvage_report *rep,
			 const struct thinsnap_check_report *check)
{
	char size[32];

	if (c->json) {
		json_t *found = json_array();
		for (size_t i = 0; found && i < rep->n_found; i++)
			(void)json_array_append_new(
				found, json_pack("{s:o, s:I, s:I, s:o}", "key",
						 thinsnap_cli_json_string(rep->found[i].key),
						 "dev_id", (json_int_t)rep->found[i].dev_id, "size",
						 (json_int_t)rep->found[i].size_bytes, "fs_type",
						 thinsnap_cli_json_string(rep->found[i].fs_type)));
		json_t *o = json_pack("{s:b, s:o, s:o, s:o}", "dry_run", rep->dry_run, "recovered",
				      lines_json(rep->recovered, rep->n_recovered), "lost",
				      lines_json(rep->lost, rep->n_lost), "lost_found", found);
		if (o && check)
			(void)json_object_set_new(o, "agree", json_boolean(agree(check)));
		if (thinsnap_cli_json_print(o, stdout) < 0)
			return thinsnap_cli_fail(c, NULL, "writing output failed");
		return 0;
	}
	if (c->quiet)
		return 0;
	if (rep->dry_run)
		printf("dry run: the plan; nothing is written\n");
	printf("recovered:  %zu\n", rep->n_recovered);
	for (size_t i = 0; i < rep->n_recovered; i++)
		print_escaped("  ", rep->recovered[i]);
	printf("lost:       %zu\n", rep->n_lost);
	for (size_t i = 0; i < rep->n_lost; i++)
		print_escaped("  ", rep->lost[i]);
	printf("lost+found: %zu\n", rep->n_found);
	for (size_t i = 0; i < rep->n_found; i++) {
		const struct thinsnap_salvage_found *f = &rep->found[i];
		thinsnap_cli_format_size((int64_t)f->size_bytes, false, size, sizeof(size));
		printf("  %s (thin id %u, %s, %s)\n", f->key, f->dev_id, size,
		       *f->fs_type ? f->fs_type : "no filesystem found");
	}
	if (check)
		printf("%s\n", agree(check) ? "salvaged; journal and pool agree"
					    : "salvaged; journal and pool disagree: run 'thinsnap "
					      "check'");
	return 0;
}

/* repair --salvage [--dry-run]: the journal from what is valid, the rest to lost+found; then
 * a writer's open (which finishes what the journal left unfinished) and a check. */
static int salvage(struct thinsnap_cli *c, bool dry_run)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	struct thinsnap_salvage_options so = THINSNAP_SALVAGE_OPTIONS_INIT;
	CLEANUP(thinsnap_salvage_report_freep) struct thinsnap_salvage_report *rep = NULL;
	CLEANUP(thinsnap_check_report_freep) struct thinsnap_check_report *check = NULL;
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	thinsnap_cli_options(c, false, &o);
	so.dry_run = dry_run;
	r = thinsnap_salvage(&o, &so, &rep, &e);
	if (r == -EAGAIN)
		return thinsnap_cli_busy(c, NULL, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, NULL, r, &e);
	if (!dry_run) {
		r = thinsnap_open(&o, &s, &e);
		if (r == 0)
			r = thinsnap_check(s, &check, &e);
		if (r < 0) {
			(void)print_salvage(c, rep, NULL);
			return thinsnap_cli_fail_err(c, NULL, r, &e);
		}
	}
	r = print_salvage(c, rep, check);
	return r ? r : check && !agree(check) ? 1 : 0;
}

int thinsnap_cli_repair(struct thinsnap_cli *c, int argc, char **argv)
{
	bool salvage_opt = false, dry_run = false;
	char *rest[8];
	int n = 0;

	/* --salvage and --dry-run are repair's own; the rest as for check */
	for (int i = 0; i < argc; i++) {
		if (i > 0 && strcmp(argv[i], "--salvage") == 0)
			salvage_opt = true;
		else if (i > 0 && strcmp(argv[i], "--dry-run") == 0)
			dry_run = true;
		else if (n < (int)(sizeof(rest) / sizeof(rest[0])))
			rest[n++] = argv[i];
		else
			return thinsnap_cli_usage_error(c, "too many arguments");
	}
	if (dry_run && !salvage_opt)
		return thinsnap_cli_usage_error(c, "--dry-run goes with --salvage");
	if (!salvage_opt)
		return check_or_repair(c, argc, argv, true);
	n = options(c, n, rest);
	return n ? n : salvage(c, dry_run);
}

int thinsnap_cli_cleanup(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	r = start(c, argc, argv, false, &s);
	if (r)
		return r;
	r = thinsnap_cleanup(s, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, NULL, r, &e);
	return 0;
}

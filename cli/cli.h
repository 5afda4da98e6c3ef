/*
 * Shared by the thinsnap command's files (not a library header): the resolved invocation,
 * error reporting in one line per failure (report.c), opening the snapshotter (open.c), and
 * the verbs.
 * Verbs return the exit code: 0 ok, 1 failure, 2 usage error, 3 unavailable (containerd's
 * Unavailable: the pool needs repair or is read-only), 75 busy (another process holds the
 * writer lock: try again later).
 */
#pragma once

#include <limits.h>
#include <stdbool.h>

#include <thinsnap/snapshotter.h>

#include "config/config.h"

#define EXIT_USAGE       2
#define EXIT_UNAVAILABLE 3
#define EXIT_BUSY        75 /* sysexits' EX_TEMPFAIL */

struct thinsnap_cli {
	struct thinsnap_config cfg;
	const char *verb; /* for messages: "prepare", "pool create" */
	bool json, quiet;
	unsigned wait_ms; /* --wait: how long a writer waits for the state directory's lock */
	bool embedded;    /* no pool named anywhere: the loop-file pool, created on first use */
	char pool_dir[PATH_MAX]; /* the pool's identity and loop files: thinsnap_state_pool_dir() */
};

/* ---- report.c: one line per failure ---- */

/* Prints "thinsnap: VERB[ KEY]: MESSAGE" on stderr; returns 1. */
__attribute__((format(printf, 3, 4))) int thinsnap_cli_fail(const struct thinsnap_cli *c,
							    const char *key, const char *fmt, ...);

/* The same with the library's message (or strerror(-r) when it has none); returns 1, or
 * EXIT_UNAVAILABLE when r maps to containerd's Unavailable. */
int thinsnap_cli_fail_err(const struct thinsnap_cli *c, const char *key, int r,
			  const struct thinsnap_error *e);

/* Prints "thinsnap: VERB: MESSAGE" and a hint at --help; returns EXIT_USAGE. */
__attribute__((format(printf, 2, 3))) int thinsnap_cli_usage_error(const struct thinsnap_cli *c,
								   const char *fmt, ...);

/* Reports a writer's open refused for the lock (e: its message, naming the holder) as
 * "busy: ..." with a hint at --wait; returns EXIT_BUSY. */
int thinsnap_cli_busy(const struct thinsnap_cli *c, const char *key,
		      const struct thinsnap_error *e);

/* Resets getopt_long() for a verb's own arguments (argv[0] is the verb), errors left to the
 * caller: an optstring starting with ':', and thinsnap_cli_bad_option(). */
void thinsnap_cli_getopt_reset(void);

/* Reports what getopt_long() returned for a bad option (':' a missing value, '?' an unknown
 * option) as a usage error; returns EXIT_USAGE. */
int thinsnap_cli_bad_option(const struct thinsnap_cli *c, char **argv, int opt);

/* The output options that verbs share, for their getopt_long() tables: --json and -q/--quiet. */
#define THINSNAP_CLI_OUTPUT_OPTIONS             \
	{ "json", no_argument, NULL, 'j' },     \
	{                                       \
		"quiet", no_argument, NULL, 'q' \
	}

/* Handles what a verb's getopt loop leaves over: 'j' (--json) and 'q' (-q) set c->json and
 * c->quiet and return 0; anything else is a bad option (thinsnap_cli_bad_option()). */
int thinsnap_cli_output_option(struct thinsnap_cli *c, char **argv, int opt);

/* ---- open.c: the snapshotter on the configured pool ---- */

/* The library's options from the configuration. */
void thinsnap_cli_options(const struct thinsnap_cli *c, bool read_only,
			  struct thinsnap_options *ret);

/*
 * thinsnap_open() with the configuration; a read-only open of a pool that has no journal yet
 * (created, never written) opens for writing once, which creates it. Reports nothing.
 */
int thinsnap_cli_try_open(const struct thinsnap_cli *c, bool read_only,
			  struct thinsnap_snapshotter **ret, struct thinsnap_error *e);

/*
 * Opens the snapshotter on the configured pool (creating the embedded pool first when it is
 * the default and missing). A writer whose lock is held retries for wait_ms, then reports
 * "busy: ..." (naming the holder) and returns EXIT_BUSY. Other failures: reports them (naming
 * key, may be NULL) and returns 1.
 */
int thinsnap_cli_open(struct thinsnap_cli *c, const char *key, bool read_only,
		      struct thinsnap_snapshotter **ret);

/* ---- the verbs: argv[0] is the verb's name ---- */

/* snapshots.c */
int thinsnap_cli_prepare(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_view(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_resize(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_commit(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_remove(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_list(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_info(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_mounts(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_label(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_tree(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_usage(struct thinsnap_cli *c, int argc, char **argv);
/* pool.c */
int thinsnap_cli_pool(struct thinsnap_cli *c, int argc, char **argv);
/* health.c */
int thinsnap_cli_check(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_repair(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_cleanup(struct thinsnap_cli *c, int argc, char **argv);
/* stream.c */
struct thinsnap_stream_stats;
/* A send (to fd) or receive (from fd) of name through thinsnapd's stream socket when the
 * daemon runs, else on the pool opened here; reports failures; returns the exit code. */
int thinsnap_cli_stream_run(struct thinsnap_cli *c, bool receive, const char *name,
			    const char *base, int fd, struct thinsnap_stream_stats *ret_stats);
int thinsnap_cli_send(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_receive(struct thinsnap_cli *c, int argc, char **argv);
/* registry.c */
int thinsnap_cli_push(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_pull(struct thinsnap_cli *c, int argc, char **argv);
/* unpack.c */
int thinsnap_cli_unpack(struct thinsnap_cli *c, int argc, char **argv);

/* debug.c: the low-level verbs, bypassing the journal (argv[0] is "pool" or "thin"). */
int thinsnap_cli_pool_debug(int argc, char **argv);
int thinsnap_cli_thin(int argc, char **argv);

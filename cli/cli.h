/*
 * Shared by the thinsnap command's files (not a library header): the resolved invocation,
 * error reporting in one line per failure, opening the snapshotter, and the verbs.
 * Verbs return the exit code: 0 ok, 1 failure, 2 usage error, 3 unavailable (containerd's
 * Unavailable: the pool needs repair or is read-only), 75 busy (another process holds the
 * writer lock: try again later).
 */
#pragma once

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
	char *pool_dir;   /* <state_dir>/pool: the pool's identity and loop files */
};

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

/* pool.c: makes sure the embedded pool exists (0), else reports and returns 1. */
int thinsnap_cli_ensure_embedded_pool(struct thinsnap_cli *c, const char *key);

/* The verbs: argv[0] is the verb's name. */
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
int thinsnap_cli_pool(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_check(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_repair(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_cleanup(struct thinsnap_cli *c, int argc, char **argv);
int thinsnap_cli_unpack(struct thinsnap_cli *c, int argc, char **argv);

/* debug.c: the pool branch's low-level verbs (argv[0] is "pool" or "thin"). */
int thinsnap_cli_pool_debug(int argc, char **argv);
int thinsnap_cli_thin(int argc, char **argv);

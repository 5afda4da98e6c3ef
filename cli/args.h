/*
 * The thinsnap command's argument logic, free of library calls so it can be unit-tested:
 * global options before the verb, --help after it, KEY=VALUE labels, and the sizes of the
 * embedded loop-file pool.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Options before the verb; strings borrowed from argv, NULL when not given. */
struct thinsnap_cli_globals {
	const char *state_dir;
	const char *pool;
	const char *config;
	bool json, quiet, help, version;
	unsigned wait_ms; /* --wait SECONDS: how long a writer waits for the lock; 0: not at all */
	int verb;         /* index of the verb in argv; argc when there is none */
};

/*
 * Parses `thinsnap [--state-dir DIR] [--pool NAME] [--config FILE] [--wait SECONDS] [--json]
 * [-q|--quiet] [-h|--help] [--version] VERB ...` (also --opt=VALUE). SECONDS: a decimal number
 * from 0 to 86400, fractions allowed. -EINVAL with a reason in err.
 */
int thinsnap_cli_parse_globals(int argc, char **argv, struct thinsnap_cli_globals *ret, char *err,
			       size_t errlen);

/* True if a --help or -h comes before any "--" in argv[1..] (argv[0]: the verb). */
bool thinsnap_cli_wants_help(int argc, char **argv);

/*
 * Splits "KEY=VALUE" (at the first '='); *ret_key and *ret_value are malloc'd. An empty value
 * means "unset". -EINVAL if there is no '=' or the key is empty, -ENOMEM.
 */
int thinsnap_cli_parse_label(const char *arg, char **ret_key, char **ret_value);

/*
 * Sizes for the embedded loop-file pool from the free bytes where its files go: data is half
 * the free space, at most 100 GiB, rounded down to 64 KiB; metadata is data / 1024 rounded up
 * to 1 MiB, between 16 MiB and 16 GiB. -ENOSPC below 256 MiB of data.
 */
int thinsnap_cli_default_pool_sizes(uint64_t free_bytes, uint64_t *ret_data_bytes,
				    uint64_t *ret_metadata_bytes);

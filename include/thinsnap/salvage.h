/*
 * Rebuilding a state directory whose journal is damaged in every copy (`thinsnap repair
 * --salvage`): keep every journal record that still verifies and applies, and give every thin
 * device of the pool that no kept record names a committed snapshot "lost+found/<thin id>"
 * (with its size and filesystem type) instead of deleting it. The report says what was kept,
 * what was lost and why.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <thinsnap/common.h>
#include <thinsnap/error.h>
#include <thinsnap/snapshotter.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The key prefix of the snapshots salvage makes for unnamed thin devices. */
#define THINSNAP_LOST_FOUND_PREFIX "lost+found/"

/* What thinsnap_salvage() is given besides the snapshotter's options; start from
 * THINSNAP_SALVAGE_OPTIONS_INIT. */
struct thinsnap_salvage_options {
	unsigned int version; /* THINSNAP_SALVAGE_OPTIONS_VERSION */
	bool dry_run;         /* only read: the report is the plan; nothing is written */
};

#define THINSNAP_SALVAGE_OPTIONS_VERSION 1
#define THINSNAP_SALVAGE_OPTIONS_INIT    THINSNAP_VERSIONED_INIT(THINSNAP_SALVAGE_OPTIONS_VERSION)

/* A thin device that no kept record names, kept as a committed snapshot. */
struct thinsnap_salvage_found {
	uint32_t dev_id;
	char *key;           /* "lost+found/<dev_id>" */
	uint64_t size_bytes; /* its filesystem's size, else what is mapped, else the base size */
	char *fs_type;       /* what the probe found ("ext4", "xfs"), or "" for none */
};

struct thinsnap_salvage_report {
	bool dry_run;
	char **recovered; /* keys kept from the journal, with their thin devices */
	size_t n_recovered;
	struct thinsnap_salvage_found *found; /* the new lost+found snapshots */
	size_t n_found;
	char **lost; /* one line each: what could not be kept, and why */
	size_t n_lost;
};

/*
 * Salvages the journal in opts->state_dir against the pool opts->pool_name (the writer lock
 * is taken as by thinsnap_open(): -EAGAIN while thinsnapd runs). Journal records that verify
 * in either copy and still apply are kept (the damaged files stay as
 * "journal.corrupt-<time>", "journal.copy.corrupt-<time>"); keys whose thin device is gone
 * from the pool are removed (children first; one with surviving children is kept and listed
 * as lost); every thin device the journal does not name becomes the committed snapshot
 * "lost+found/<dev_id>". No thin device is ever deleted. Afterwards thinsnap_open() and
 * thinsnap_check() work as usual. With dry_run nothing is written (devices are activated
 * read-only for a moment, to probe them). *ret: free with thinsnap_salvage_report_free().
 */
THINSNAP_API int thinsnap_salvage(const struct thinsnap_options *opts,
				  const struct thinsnap_salvage_options *salvage_opts,
				  struct thinsnap_salvage_report **ret,
				  struct thinsnap_error *reterr);

/* Frees a report and its arrays. NULL is fine. */
THINSNAP_API void thinsnap_salvage_report_free(struct thinsnap_salvage_report *r);

#ifdef __cplusplus
}
#endif

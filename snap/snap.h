/*
 * snap/: the snapshotter core's internals shared with its tests: dm names, and crash
 * recovery's rule (snap/recovery-rule.c), pure so that it is tested without a pool. The
 * public API is include/thinsnap/snapshotter.h.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <thinsnap/error.h>
#include <thinsnap/snapshotter.h>

#include "meta/meta.h"

/* The dm name of a snapshot's (or, with base, a base device's) thin device:
 * "<pool>-snap-<dev_id>" / "<pool>-base-<dev_id>"; never made from key text. */
void thinsnap_snap_dm_name(const char *pool_name, uint32_t dev_id, bool base, char *buf,
			   size_t size);

/* The index of id in ids (ascending), or -1. */
ssize_t thinsnap_snap_find_id(const uint32_t *ids, size_t n, uint32_t id);

/* What recovery does in the pool for one unfinished intent (besides finishing it). */
struct thinsnap_snap_recovery_plan {
	bool delete_dev_ids;     /* deactivate and delete each pool op's dev_id (absent: done) */
	bool set_transaction_id; /* then set_transaction_id before -> after */
};

/*
 * Crash recovery's rule for an unfinished intent that moves the transaction id, from the
 * pool's transaction id alone (no I/O; a writer's open acts on it, check reports it). The pool committed it (tid == after):
 * roll forward, nothing left to do in the pool. It did not (tid == before): none of its dev_ids
 * may stay, since each create is undone and each delete, which can't be undone, is finished;
 * an intent with a delete then moves the transaction id on and rolls forward, any other rolls
 * back. Any other tid: MISMATCH, the journal does not describe this pool (the open refuses and
 * the intent stays unfinished). *ret_plan (NULL allowed): the pool steps that carry it out.
 */
enum thinsnap_recovery thinsnap_snap_recovery_decide(const struct thinsnap_meta_intent *in,
						     uint64_t pool_transaction_id,
						     struct thinsnap_snap_recovery_plan *ret_plan);

/*
 * The rule for every intent: one that keeps the transaction id (before == after: the
 * transaction is decided by the device list) needs the pool's thin ids, ascending
 * (pool_ids; NULL counts as an empty pool). Its pool must still have that transaction id, else
 * MISMATCH. A delete is finished (deleted again, absent is fine: roll forward); creates whose
 * dev_ids are all in the pool roll forward as they are; otherwise they roll back (every id the
 * intent creates is deleted). An intent that moves the transaction id is decided as above.
 */
enum thinsnap_recovery
thinsnap_snap_recovery_decide_ids(const struct thinsnap_meta_intent *in,
				  uint64_t pool_transaction_id, const uint32_t *pool_ids,
				  size_t n_pool_ids, struct thinsnap_snap_recovery_plan *ret_plan);
/* Whether deciding in needs the pool's thin ids (thinsnap_snap_recovery_decide_ids()). */
bool thinsnap_snap_recovery_needs_ids(const struct thinsnap_meta_intent *in);

/* The pool as recovery drives it: the real one (snap/recovery.c) or a model (tests). */
struct thinsnap_snap_recovery_pool {
	/* takes down every device dev_id may be active as (a snapshot's, a base device's, the
	 * one its blocks are discarded through); 0 if there is none */
	int (*deactivate)(void *userdata, uint32_t dev_id, struct thinsnap_error *reterr);
	/* -ENOENT if dev_id does not exist */
	int (*delete_thin)(void *userdata, uint32_t dev_id, struct thinsnap_error *reterr);
	/* the kernel's compare-and-swap: fails, changing nothing, unless the id is old_tid */
	int (*set_transaction_id)(void *userdata, uint64_t old_tid, uint64_t new_tid,
				  struct thinsnap_error *reterr);
	void *userdata;
};

/*
 * Carries out plan (from thinsnap_snap_recovery_decide()) for in on pool. A crash part-way
 * leaves the intent unfinished: deciding and applying again completes it (a dev_id already
 * deleted counts as deleted; once the transaction id moved, the intent rolls forward as is).
 */
int thinsnap_snap_recovery_apply(const struct thinsnap_meta_intent *in,
				 const struct thinsnap_snap_recovery_plan *plan,
				 const struct thinsnap_snap_recovery_pool *pool,
				 struct thinsnap_error *reterr);

struct thinsnap_salvage_report;

/*
 * Salvage's plan (snap/salvage.c), without I/O: the journal m (NULL: none) against the pool's
 * sorted pool_ids. Lists in rep the keys whose thin device is in the pool (recovered), those
 * whose device is gone (lost; with apply, removed from m, leaves first, unless snapshots depend
 * on them), and the pool's ids that m does not name (found, keyed "lost+found/<dev_id>"; size
 * and fs type left for the caller to probe). -ENOMEM, or apply's errors.
 */
int thinsnap_snap_salvage_plan(struct thinsnap_meta *m, const uint32_t *pool_ids, size_t n,
			       bool apply, struct thinsnap_salvage_report *rep,
			       struct thinsnap_error *reterr);
/* Records each of rep's found devices in m as a committed snapshot under its key. */
int thinsnap_snap_salvage_adopt(struct thinsnap_meta *m, const struct thinsnap_salvage_report *rep,
				int64_t now_ns, struct thinsnap_error *reterr);

/*
 * snap/recovery-rule: every kind of pool transaction (prepare, view, base, commit, remove,
 * cleanup, repair) crashes after each of its pool steps, on a fake pool and the real journal;
 * recovery (decide, apply, finish) must leave pool and journal agreeing: no leaked dev_id, no
 * dangling key, the transaction id moved exactly when the intent rolls forward.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "fake-pool.h"
#include "meta/meta.h"
#include "snap/snap.h"
#include "testutil.h"

#define TID 7 /* the pool's transaction id when an intent is journaled */

/* The pool and journal every scenario starts from (the journal knows all of these): */
#define BASE_ID    1 /* the base device, an INTERNAL entry */
#define PARENT_ID  2 /* "p", committed, a snapshot of the base */
#define ACTIVE_ID  3 /* "a", active (and its device active), a snapshot of "p" */
/* and for some scenarios: */
#define PENDING_ID 4 /* a pending delete (cleanup) */
#define LEAKED_ID  5 /* in the pool only (repair) */
#define NEW_ID     0 /* in a scenario: the id the operation allocates from the journal */

#define BASE_KEY "\x1fthinsnap/base/ext4/1048576/"

enum step_type {
	STEP_CREATE_THIN,
	STEP_CREATE_SNAP,
	STEP_ACTIVATE,
	STEP_DEACTIVATE,
	STEP_DELETE,
	STEP_SET_TID,
};

/* One change to the pool, as the operation's pool step makes it (NEW_ID: the allocated id). */
struct step {
	enum step_type type;
	uint32_t dev_id;
	uint32_t origin_id;
};

struct scenario {
	const char *name;
	bool pending;  /* the world also has PENDING_ID */
	bool leaked;   /* the world also has LEAKED_ID */
	bool inactive; /* ACTIVE_ID is deactivated before the intent (remove does that) */
	struct thinsnap_meta_pool_op pool_op;
	struct thinsnap_meta_op ops[3];
	size_t n_ops;
	/* the pool changes in order; SET_TID last when the pool step succeeds */
	struct step steps[6];
	size_t n_steps;
};

/* What each pool transaction of snap/ journals and does (the callers of
 * thinsnap_snap_pool_txn()), written with these: */
#define CREATE(k, p, kd)                                                                      \
	{                                                                                     \
		.type = THINSNAP_META_OP_SNAP_CREATE, .key = (k), .parent = (p), .kind = (kd) \
	}
#define SNAP_OF(origin)                                          \
	{                                                        \
		THINSNAP_META_POOL_CREATE_SNAP, NEW_ID, (origin) \
	}
#define DELETE_OF(id)                              \
	{                                          \
		THINSNAP_META_POOL_DELETE, (id), 0 \
	}

/* the pool step of prepare and view */
#define ACTIVATED_SNAP_OF(origin)                          \
	.steps = { { STEP_CREATE_SNAP, NEW_ID, (origin) }, \
		   { STEP_ACTIVATE, NEW_ID, 0 },           \
		   { STEP_SET_TID, 0, 0 } },               \
	.n_steps = 3

static const struct scenario scenarios[] = {
	{ .name = "prepare",
	  .pool_op = SNAP_OF(PARENT_ID),
	  .ops = { CREATE("b", "p", THINSNAP_META_ACTIVE) },
	  .n_ops = 1,
	  ACTIVATED_SNAP_OF(PARENT_ID) },
	{ .name = "prepare without a parent",
	  .pool_op = SNAP_OF(BASE_ID),
	  .ops = { CREATE("b", NULL, THINSNAP_META_ACTIVE) },
	  .n_ops = 1,
	  ACTIVATED_SNAP_OF(BASE_ID) },
	{ .name = "view",
	  .pool_op = SNAP_OF(PARENT_ID),
	  .ops = { CREATE("v", "p", THINSNAP_META_VIEW) },
	  .n_ops = 1,
	  ACTIVATED_SNAP_OF(PARENT_ID) },
	{ .name = "prepare whose transaction id failed, undone",
	  .pool_op = SNAP_OF(PARENT_ID),
	  .ops = { CREATE("b", "p", THINSNAP_META_ACTIVE) },
	  .n_ops = 1,
	  .steps = { { STEP_CREATE_SNAP, NEW_ID, PARENT_ID },
		     { STEP_ACTIVATE, NEW_ID, 0 },
		     { STEP_DEACTIVATE, NEW_ID, 0 },
		     { STEP_DELETE, NEW_ID, 0 } },
	  .n_steps = 4 },
	{ .name = "base",
	  .pool_op = { THINSNAP_META_POOL_CREATE_THIN, NEW_ID, 0 },
	  .ops = { CREATE("\x1fthinsnap/base/xfs/1048576/", NULL, THINSNAP_META_INTERNAL) },
	  .n_ops = 1,
	  /* created, activated, formatted and measured, deactivated */
	  .steps = { { STEP_CREATE_THIN, NEW_ID, 0 },
		     { STEP_ACTIVATE, NEW_ID, 0 },
		     { STEP_DEACTIVATE, NEW_ID, 0 },
		     { STEP_SET_TID, 0, 0 } },
	  .n_steps = 4 },
	{ .name = "commit, key kept",
	  .pool_op = SNAP_OF(ACTIVE_ID),
	  .ops = { CREATE("c", "p", THINSNAP_META_COMMITTED) },
	  .n_ops = 1,
	  .steps = { { STEP_CREATE_SNAP, NEW_ID, ACTIVE_ID }, { STEP_SET_TID, 0, 0 } },
	  .n_steps = 2 },
	{ .name = "commit of an open device, key retired",
	  .pool_op = SNAP_OF(ACTIVE_ID),
	  .ops = { CREATE("c", "p", THINSNAP_META_COMMITTED),
		   { .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "a" },
		   { .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = ACTIVE_ID } },
	  .n_ops = 3,
	  .steps = { { STEP_CREATE_SNAP, NEW_ID, ACTIVE_ID }, { STEP_SET_TID, 0, 0 } },
	  .n_steps = 2 },
	{ .name = "remove",
	  .inactive = true,
	  .pool_op = DELETE_OF(ACTIVE_ID),
	  .ops = { { .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "a" } },
	  .n_ops = 1,
	  .steps = { { STEP_DELETE, ACTIVE_ID, 0 }, { STEP_SET_TID, 0, 0 } },
	  .n_steps = 2 },
	{ .name = "remove, discarding the device's blocks first",
	  .inactive = true,
	  .pool_op = DELETE_OF(ACTIVE_ID),
	  .ops = { { .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "a" } },
	  .n_ops = 1,
	  /* activated as <pool>-discard-<id>, BLKDISCARD, deactivated, deleted */
	  .steps = { { STEP_ACTIVATE, ACTIVE_ID, 0 },
		     { STEP_DEACTIVATE, ACTIVE_ID, 0 },
		     { STEP_DELETE, ACTIVE_ID, 0 },
		     { STEP_SET_TID, 0, 0 } },
	  .n_steps = 4 },
	{ .name = "cleanup",
	  .pending = true,
	  .pool_op = DELETE_OF(PENDING_ID),
	  .ops = { { .type = THINSNAP_META_OP_DELETE_PENDING_REMOVE, .dev_id = PENDING_ID } },
	  .n_ops = 1,
	  .steps = { { STEP_DELETE, PENDING_ID, 0 }, { STEP_SET_TID, 0, 0 } },
	  .n_steps = 2 },
	{ .name = "repair of a leaked id",
	  .leaked = true,
	  .pool_op = DELETE_OF(LEAKED_ID),
	  .n_ops = 0,
	  .steps = { { STEP_DELETE, LEAKED_ID, 0 }, { STEP_SET_TID, 0, 0 } },
	  .n_steps = 2 },
};

/* A world: the pool, the journal (in dir), and the scenario's intent in it. */
struct world {
	const struct scenario *sc;
	char *dir;
	struct thinsnap_meta *m;
	struct fake_pool pool;
	uint32_t new_id;
	struct thinsnap_meta_pool_op pool_op;
	struct thinsnap_meta_op ops[3];
	struct thinsnap_meta_intent in;
	char where[160]; /* the case, for failure messages */
};

#define CHECK(w, cond)                                                \
	do {                                                          \
		if (!(cond))                                          \
			fail_msg("%s: %s failed", (w)->where, #cond); \
	} while (0)

static uint32_t id_of(const struct world *w, uint32_t dev_id)
{
	return dev_id == NEW_ID ? w->new_id : dev_id;
}

static struct thinsnap_meta *open_journal(struct world *w)
{
	struct thinsnap_meta_open_opts o = { .state_dir = w->dir, .pool_uuid = "fake" };
	struct thinsnap_error err = { 0 };
	struct thinsnap_meta *m = NULL;

	if (thinsnap_meta_open(&o, &m, &err) < 0)
		fail_msg("%s: opening the journal: %s", w->where, err.msg);
	return m;
}

static void journal(struct world *w, const struct thinsnap_meta_op *ops, size_t n)
{
	struct thinsnap_error err = { 0 };

	if (thinsnap_meta_apply(w->m, ops, n, &err) < 0)
		fail_msg("%s: journal: %s", w->where, err.msg);
}

/* The world of scenario sc, with its intent journaled and nothing of it done. */
static void world_init(struct world *w, const struct scenario *sc, const char *where)
{
	const struct thinsnap_meta_op setup[] = {
		{ .type = THINSNAP_META_OP_SNAP_CREATE,
		  .key = BASE_KEY,
		  .kind = THINSNAP_META_INTERNAL,
		  .dev_id = BASE_ID },
		{ .type = THINSNAP_META_OP_SNAP_CREATE,
		  .key = "p",
		  .parent = BASE_KEY,
		  .kind = THINSNAP_META_COMMITTED,
		  .dev_id = PARENT_ID },
		{ .type = THINSNAP_META_OP_SNAP_CREATE,
		  .key = "a",
		  .parent = "p",
		  .kind = THINSNAP_META_ACTIVE,
		  .dev_id = ACTIVE_ID },
	};
	const struct thinsnap_meta_op pending = { .type = THINSNAP_META_OP_DELETE_PENDING_ADD,
						  .dev_id = PENDING_ID };
	struct thinsnap_error err = { 0 };
	uint64_t intent_id;

	memset(w, 0, sizeof(*w));
	w->sc = sc;
	(void)snprintf(w->where, sizeof(w->where), "%s: %s", sc->name, where);
	w->dir = tu_mkdtemp();
	w->m = open_journal(w);
	fake_pool_init(&w->pool, TID);
	CHECK(w, fake_pool_create_thin(&w->pool, BASE_ID) == 0);
	CHECK(w, fake_pool_create_snap(&w->pool, PARENT_ID, BASE_ID) == 0);
	CHECK(w, fake_pool_create_snap(&w->pool, ACTIVE_ID, PARENT_ID) == 0);
	CHECK(w, fake_pool_activate(&w->pool, ACTIVE_ID) == 0);
	journal(w, setup, ELEMENTSOF(setup));
	if (sc->pending) {
		CHECK(w, fake_pool_create_snap(&w->pool, PENDING_ID, PARENT_ID) == 0);
		journal(w, &pending, 1);
	}
	if (sc->leaked)
		CHECK(w, fake_pool_create_thin(&w->pool, LEAKED_ID) == 0);
	if (sc->inactive)
		CHECK(w, fake_pool_deactivate(&w->pool, ACTIVE_ID) == 0);

	/* as snap/ journals it: the new id from the journal's allocator, the intent from N to
	 * N+1 with its pool op and the ops its completion applies */
	if (sc->pool_op.dev_id == NEW_ID && thinsnap_meta_alloc_dev_id(w->m, &w->new_id, &err) < 0)
		fail_msg("%s: alloc_dev_id: %s", w->where, err.msg);
	w->pool_op = sc->pool_op;
	w->pool_op.dev_id = id_of(w, sc->pool_op.dev_id);
	for (size_t i = 0; i < sc->n_ops; i++) {
		w->ops[i] = sc->ops[i];
		if (w->ops[i].type == THINSNAP_META_OP_SNAP_CREATE)
			w->ops[i].dev_id = w->new_id;
	}
	w->in = (struct thinsnap_meta_intent){
		.pool_ops = &w->pool_op,
		.n_pool_ops = 1,
		.transaction_id_before = TID,
		.transaction_id_after = TID + 1,
		.ops = w->ops,
		.n_ops = sc->n_ops,
	};
	if (thinsnap_meta_intent_begin(w->m, &w->in, &intent_id, &err) < 0)
		fail_msg("%s: intent_begin: %s", w->where, err.msg);
}

static void world_free(struct world *w)
{
	thinsnap_meta_free(w->m);
	tu_rmrf(w->dir);
}

/* The operation makes its first k pool changes, then the process dies. */
static void crash_after(struct world *w, size_t k)
{
	const struct scenario *sc = w->sc;

	fake_pool_crash_after(&w->pool, (long)k);
	for (size_t i = 0; i < sc->n_steps; i++) {
		const struct step *st = &sc->steps[i];
		uint32_t id = id_of(w, st->dev_id);
		int r = -EINVAL;

		switch (st->type) {
		case STEP_CREATE_THIN:
			r = fake_pool_create_thin(&w->pool, id);
			break;
		case STEP_CREATE_SNAP:
			r = fake_pool_create_snap(&w->pool, id, id_of(w, st->origin_id));
			break;
		case STEP_ACTIVATE:
			r = fake_pool_activate(&w->pool, id);
			break;
		case STEP_DEACTIVATE:
			r = fake_pool_deactivate(&w->pool, id);
			break;
		case STEP_DELETE:
			r = fake_pool_delete(&w->pool, id);
			break;
		case STEP_SET_TID:
			r = fake_pool_set_transaction_id(&w->pool, TID, TID + 1);
			break;
		}
		if (r == -EIO && fake_pool_crashed(&w->pool))
			break;
		CHECK(w, r == 0);
	}
	/* the crash fired, unless every step ran */
	CHECK(w, fake_pool_crashed(&w->pool) == (k < sc->n_steps));
	fake_pool_crash_after(&w->pool, -1);
	thinsnap_meta_free(w->m); /* the intent is on disk, nothing after it */
	w->m = NULL;
}

static int pool_deactivate(void *userdata, uint32_t dev_id, struct thinsnap_error *reterr)
{
	int r = fake_pool_deactivate(userdata, dev_id);

	return r < 0 ? thinsnap_error_setf(reterr, r, "deactivating %u", dev_id) : 0;
}

static int pool_delete_thin(void *userdata, uint32_t dev_id, struct thinsnap_error *reterr)
{
	int r = fake_pool_delete(userdata, dev_id);

	return r < 0 ? thinsnap_error_setf(reterr, r, "deleting %u", dev_id) : 0;
}

static int pool_set_transaction_id(void *userdata, uint64_t old_tid, uint64_t new_tid,
				   struct thinsnap_error *reterr)
{
	int r = fake_pool_set_transaction_id(userdata, old_tid, new_tid);

	return r < 0 ? thinsnap_error_setf(reterr, r, "set_transaction_id") : 0;
}

struct resolved {
	struct world *w;
	const struct thinsnap_snap_recovery_pool *pool;
	size_t n;
	uint64_t id;
	enum thinsnap_recovery outcome;
	int r;
};

static int resolve_one(const struct thinsnap_meta_intent *in, void *userdata)
{
	struct resolved *c = userdata;
	struct thinsnap_snap_recovery_plan plan;
	struct thinsnap_error err = { 0 };
	uint64_t tid = c->w->pool.transaction_id;

	c->n++;
	c->id = in->id;
	c->outcome = thinsnap_snap_recovery_decide(in, tid, &plan);
	/* what check reports is what recovery does */
	CHECK(c->w, thinsnap_snap_recovery_decide(in, tid, NULL) == c->outcome);
	if (c->outcome == THINSNAP_RECOVERY_MISMATCH) {
		CHECK(c->w, !plan.delete_dev_ids && !plan.set_transaction_id);
		return 0;
	}
	c->r = thinsnap_snap_recovery_apply(in, &plan, c->pool, &err);
	return 0;
}

/*
 * A writer's open, as snap/recovery.c does it: the journal's unfinished intent, decided by the
 * pool's transaction id, applied to the pool, then finished (unless MISMATCH). With the pool
 * crashing at its crash_at-th change (< 0: never), apply may die part-way: *ret_crashed, and
 * nothing is finished.
 */
static enum thinsnap_recovery recover(struct world *w, long crash_at, bool *ret_crashed)
{
	const struct thinsnap_snap_recovery_pool pool = {
		.deactivate = pool_deactivate,
		.delete_thin = pool_delete_thin,
		.set_transaction_id = pool_set_transaction_id,
		.userdata = &w->pool,
	};
	struct resolved c = { .w = w, .pool = &pool };
	struct thinsnap_error err = { 0 };

	w->m = open_journal(w);
	fake_pool_crash_after(&w->pool, crash_at);
	CHECK(w, thinsnap_meta_unfinished(w->m, resolve_one, &c) == 0);
	CHECK(w, c.n == 1);
	*ret_crashed = fake_pool_crashed(&w->pool);
	fake_pool_crash_after(&w->pool, -1);
	if (*ret_crashed) {
		CHECK(w, c.r == -EIO);
		thinsnap_meta_free(w->m);
		w->m = NULL;
		return c.outcome;
	}
	CHECK(w, c.r == 0);
	if (c.outcome != THINSNAP_RECOVERY_MISMATCH &&
	    thinsnap_meta_intent_finish(w->m, c.id, c.outcome == THINSNAP_RECOVERY_ROLL_FORWARD,
					&err) < 0)
		fail_msg("%s: intent_finish: %s", w->where, err.msg);
	return c.outcome;
}

static int count_unfinished(const struct thinsnap_meta_intent *in, void *userdata)
{
	(void)in;
	++*(size_t *)userdata;
	return 0;
}

/* The journal's dev_ids (entries and pending deletes), and which of them may be active. */
struct known {
	uint32_t ids[16];
	bool active[16];
	size_t n;
};

static int known_entry(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct known *k = userdata;

	if (k->n == ELEMENTSOF(k->ids))
		return -ENOSPC;
	k->active[k->n] = e->kind == THINSNAP_META_ACTIVE || e->kind == THINSNAP_META_VIEW;
	k->ids[k->n++] = e->dev_id;
	return 0;
}

static int known_pending(uint32_t dev_id, void *userdata)
{
	struct known *k = userdata;

	if (k->n == ELEMENTSOF(k->ids))
		return -ENOSPC;
	k->active[k->n] = true; /* busy when it was removed: cleanup deletes it once it is not */
	k->ids[k->n++] = dev_id;
	return 0;
}

/*
 * What check verifies: every pool id is known to the journal (no leak), every id the journal
 * knows is in the pool (no dangling key), and no device is active that the journal does not
 * keep active.
 */
static void check_agrees(struct world *w)
{
	struct known k = { .n = 0 };
	uint32_t ids[FAKE_POOL_MAX_DEVS];
	size_t n = fake_pool_ids(&w->pool, ids, ELEMENTSOF(ids));

	CHECK(w, thinsnap_meta_walk(w->m, known_entry, &k) == 0);
	CHECK(w, thinsnap_meta_each_delete_pending(w->m, known_pending, &k) == 0);
	for (size_t i = 0; i < n; i++) {
		size_t at = 0;
		while (at < k.n && k.ids[at] != ids[i])
			at++;
		if (at == k.n)
			fail_msg("%s: dev_id %u leaked", w->where, ids[i]);
		if (fake_pool_active(&w->pool, ids[i]) && !k.active[at])
			fail_msg("%s: dev_id %u left active", w->where, ids[i]);
	}
	for (size_t i = 0; i < k.n; i++)
		if (!fake_pool_exists(&w->pool, k.ids[i]))
			fail_msg("%s: dev_id %u dangling", w->where, k.ids[i]);
}

/* After recovery: the outcome the pool's transaction id calls for, and its effects. */
static void check_outcome(struct world *w, size_t k, enum thinsnap_recovery outcome)
{
	const struct scenario *sc = w->sc;
	bool deletes = sc->pool_op.type == THINSNAP_META_POOL_DELETE;
	bool tid_set = k == sc->n_steps && sc->steps[sc->n_steps - 1].type == STEP_SET_TID;
	bool forward = deletes || tid_set;
	size_t unfinished = 0;

	CHECK(w,
	      outcome == (forward ? THINSNAP_RECOVERY_ROLL_FORWARD : THINSNAP_RECOVERY_ROLL_BACK));
	CHECK(w, w->pool.transaction_id == (forward ? TID + 1 : TID));
	if (deletes)
		CHECK(w, !fake_pool_exists(&w->pool, w->pool_op.dev_id));
	else
		CHECK(w, fake_pool_exists(&w->pool, w->new_id) == forward);
	/* the journal's side: a rolled-forward create has its entry, a rolled-back one none */
	for (size_t i = 0; i < sc->n_ops; i++)
		if (sc->ops[i].type == THINSNAP_META_OP_SNAP_CREATE)
			CHECK(w, (thinsnap_meta_get(w->m, sc->ops[i].key) != NULL) == forward);
	check_agrees(w);
	/* and that holds after the next open: nothing is left to recover */
	thinsnap_meta_free(w->m);
	w->m = open_journal(w);
	CHECK(w, thinsnap_meta_unfinished(w->m, count_unfinished, &unfinished) == 0);
	CHECK(w, unfinished == 0);
	check_agrees(w);
}

/*
 * Each crash point of the operation (k changes made: none, each pool step, the transaction id
 * set but the completion lost); then recovery, itself crashing after each of its own changes
 * and run again by the next open, until it has nothing left to crash.
 */
static void test_crash_points(void **state)
{
	const struct scenario *sc = *state;

	for (size_t k = 0; k <= sc->n_steps; k++) {
		for (long j = 0;; j++) {
			struct world w;
			enum thinsnap_recovery outcome;
			bool crashed = false, fired;
			char where[64];

			(void)snprintf(where, sizeof(where),
				       "crash after %zu pool changes, recovery after %ld", k, j);
			world_init(&w, sc, where);
			crash_after(&w, k);
			outcome = recover(&w, j, &crashed);
			fired = crashed;
			if (crashed) /* the next open decides again */
				outcome = recover(&w, -1, &crashed);
			CHECK(&w, !crashed);
			check_outcome(&w, k, outcome);
			world_free(&w);
			if (!fired)
				break;
		}
	}
}

/* The pool's transaction id is neither side's (another writer moved it): nothing is done,
 * the intent stays unfinished. */
static void test_mismatch(void **state)
{
	const struct scenario *sc = *state;
	const uint64_t other[] = { TID - 1, TID + 2, 0, UINT64_MAX };

	for (size_t k = 0; k <= sc->n_steps; k++) {
		for (size_t i = 0; i < ELEMENTSOF(other); i++) {
			struct world w;
			uint32_t before[FAKE_POOL_MAX_DEVS], after[FAKE_POOL_MAX_DEVS];
			size_t n_before, n_after, unfinished = 0;
			bool crashed = false;
			long changes;
			char where[64];

			(void)snprintf(where, sizeof(where),
				       "crash after %zu pool changes, transaction id %" PRIu64, k,
				       other[i]);
			world_init(&w, sc, where);
			crash_after(&w, k);
			CHECK(&w, fake_pool_set_transaction_id(&w.pool, w.pool.transaction_id,
							       other[i]) == 0);
			n_before = fake_pool_ids(&w.pool, before, ELEMENTSOF(before));
			changes = w.pool.changes;
			CHECK(&w, recover(&w, -1, &crashed) == THINSNAP_RECOVERY_MISMATCH);
			CHECK(&w, w.pool.changes == changes);
			n_after = fake_pool_ids(&w.pool, after, ELEMENTSOF(after));
			CHECK(&w, n_after == n_before &&
					  memcmp(before, after, n_after * sizeof(*after)) == 0);
			CHECK(&w,
			      thinsnap_meta_unfinished(w.m, count_unfinished, &unfinished) == 0);
			CHECK(&w, unfinished == 1);
			world_free(&w);
		}
	}
}

/* The rule itself, as a table: transaction id x kind of pool op. */
static void test_decide(void **state)
{
	static const struct {
		enum thinsnap_meta_pool_op_type type;
		uint64_t tid;
		enum thinsnap_recovery outcome;
		bool delete_dev_ids, set_transaction_id;
	} cases[] = {
		{ THINSNAP_META_POOL_CREATE_THIN, TID, THINSNAP_RECOVERY_ROLL_BACK, true, false },
		{ THINSNAP_META_POOL_CREATE_SNAP, TID, THINSNAP_RECOVERY_ROLL_BACK, true, false },
		{ THINSNAP_META_POOL_DELETE, TID, THINSNAP_RECOVERY_ROLL_FORWARD, true, true },
		{ THINSNAP_META_POOL_CREATE_THIN, TID + 1, THINSNAP_RECOVERY_ROLL_FORWARD, false,
		  false },
		{ THINSNAP_META_POOL_CREATE_SNAP, TID + 1, THINSNAP_RECOVERY_ROLL_FORWARD, false,
		  false },
		{ THINSNAP_META_POOL_DELETE, TID + 1, THINSNAP_RECOVERY_ROLL_FORWARD, false,
		  false },
		{ THINSNAP_META_POOL_CREATE_SNAP, TID - 1, THINSNAP_RECOVERY_MISMATCH, false,
		  false },
		{ THINSNAP_META_POOL_DELETE, TID + 2, THINSNAP_RECOVERY_MISMATCH, false, false },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		struct thinsnap_meta_pool_op op = { .type = cases[i].type, .dev_id = 9 };
		struct thinsnap_meta_intent in = { .pool_ops = &op,
						   .n_pool_ops = 1,
						   .transaction_id_before = TID,
						   .transaction_id_after = TID + 1 };
		struct thinsnap_snap_recovery_plan plan = { true, true };

		assert_int_equal(thinsnap_snap_recovery_decide(&in, cases[i].tid, &plan),
				 cases[i].outcome);
		assert_int_equal(plan.delete_dev_ids, cases[i].delete_dev_ids);
		assert_int_equal(plan.set_transaction_id, cases[i].set_transaction_id);
		assert_int_equal(thinsnap_snap_recovery_decide(&in, cases[i].tid, NULL),
				 cases[i].outcome);
	}
}

/* The model keeps the kernel's rules the tests above rely on. */
static void test_fake_pool(void **state)
{
	struct fake_pool p;

	(void)state;
	fake_pool_init(&p, 3);
	assert_int_equal(fake_pool_create_thin(&p, 1), 0);
	assert_int_equal(fake_pool_create_thin(&p, 1), -EEXIST);
	assert_int_equal(fake_pool_create_snap(&p, 1, 1), -EEXIST);
	assert_int_equal(fake_pool_create_snap(&p, 2, 7), -ENOENT);
	assert_int_equal(fake_pool_create_thin(&p, FAKE_POOL_DEV_ID_LIMIT), -ERANGE);
	assert_int_equal(fake_pool_create_snap(&p, 2, 1), 0);
	assert_int_equal(fake_pool_activate(&p, 2), 0);
	assert_int_equal(fake_pool_delete(&p, 2), -EBUSY);
	assert_int_equal(fake_pool_deactivate(&p, 2), 0);
	assert_int_equal(fake_pool_deactivate(&p, 8), 0);
	assert_int_equal(fake_pool_activate(&p, 8), -ENOENT);
	assert_int_equal(fake_pool_delete(&p, 2), 0);
	assert_int_equal(fake_pool_delete(&p, 2), -ENOENT);
	assert_int_equal(fake_pool_set_transaction_id(&p, 2, 4), -ESTALE);
	assert_int_equal(p.transaction_id, 3);
	assert_int_equal(fake_pool_set_transaction_id(&p, 3, 4), 0);
	assert_int_equal(p.transaction_id, 4);
	/* a crash point: the first change goes through, the second and every later one fail */
	fake_pool_crash_after(&p, 1);
	assert_int_equal(fake_pool_create_thin(&p, 5), 0);
	assert_false(fake_pool_crashed(&p));
	assert_int_equal(fake_pool_create_thin(&p, 6), -EIO);
	assert_true(fake_pool_crashed(&p));
	assert_int_equal(fake_pool_set_transaction_id(&p, 4, 5), -EIO);
	assert_false(fake_pool_exists(&p, 6));
	assert_int_equal(p.transaction_id, 4);
	fake_pool_crash_after(&p, -1);
	assert_int_equal(fake_pool_create_thin(&p, 6), 0);
	uint32_t ids[4];
	assert_int_equal(fake_pool_ids(&p, ids, ELEMENTSOF(ids)), 3);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 5);
	assert_int_equal(ids[2], 6);
}

int main(void)
{
	static char names[ELEMENTSOF(scenarios)][80];
	struct CMUnitTest tests[2 + 2 * ELEMENTSOF(scenarios)] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_fake_pool),
	};
	size_t n = 2;

	for (size_t i = 0; i < ELEMENTSOF(scenarios); i++) {
		(void)snprintf(names[i], sizeof(names[i]), "%s: mismatch", scenarios[i].name);
		tests[n++] = (struct CMUnitTest){ .name = scenarios[i].name,
						  .test_func = test_crash_points,
						  .initial_state = (void *)&scenarios[i] };
		tests[n++] = (struct CMUnitTest){ .name = names[i],
						  .test_func = test_mismatch,
						  .initial_state = (void *)&scenarios[i] };
	}
	return _cmocka_run_group_tests("test-snap-recovery", tests, n, NULL, NULL);
}

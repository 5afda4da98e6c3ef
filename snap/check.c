/*
 * check and repair: the journal against the pool's own list of thin ids (leaked ids, dangling
 * keys, unfinished operations with what recovery will do with them), and the repair that
 * checks the pool's metadata, deletes leaks and removes dangling keys.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "snap/internal.h"

DEFINE_CLEANUP(struct thinsnap_check_report *, thinsnap_check_report_free)
DEFINE_CLEANUP(uint32_t *, thinsnap_pool_thin_ids_free)

struct check_ctx {
	const uint32_t *pool_ids;
	size_t n_pool;
	bool *known; /* per pool id: the journal knows it */
	struct thinsnap_check_report *rep;
	uint64_t tid;
	int r;
};

/* Whether an unfinished intent deletes dev_id (its key is then not dangling). */
static bool intent_deletes(const struct check_ctx *c, uint32_t dev_id)
{
	for (size_t i = 0; i < c->rep->n_unfinished; i++)
		if (c->rep->intents[i].dev_id == dev_id &&
		    (strcmp(c->rep->intents[i].operation, "remove") == 0 ||
		     strcmp(c->rep->intents[i].operation, "cleanup") == 0 ||
		     strcmp(c->rep->intents[i].operation, "repair") == 0))
			return true;
	return false;
}

static int check_entry(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct check_ctx *c = userdata;
	ssize_t i = thinsnap_snap_find_id(c->pool_ids, c->n_pool, e->dev_id);
	char **v;

	if (i >= 0) {
		c->known[i] = true;
		return 0;
	}
	if (intent_deletes(c, e->dev_id))
		return 0; /* the next writer's open finishes the delete */
	v = realloc(c->rep->dangling_keys, (c->rep->n_dangling + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->rep->dangling_keys = v;
	v[c->rep->n_dangling] = strdup(e->key);
	if (!v[c->rep->n_dangling])
		return -ENOMEM;
	c->rep->n_dangling++;
	return 0;
}

static int check_pending(uint32_t dev_id, void *userdata)
{
	struct check_ctx *c = userdata;
	ssize_t i = thinsnap_snap_find_id(c->pool_ids, c->n_pool, dev_id);

	if (i >= 0)
		c->known[i] = true;
	c->rep->n_pending_deletes++;
	return 0;
}

/* The operation an intent belongs to, from its journal ops (see the callers of
 * thinsnap_snap_pool_txn()). */
static const char *intent_operation(const struct thinsnap_meta_intent *in, const char **ret_key)
{
	const struct thinsnap_meta_op *op = in->n_ops ? &in->ops[0] : NULL;

	*ret_key = NULL;
	if (!op)
		return in->n_pool_ops && in->pool_ops[0].type == THINSNAP_META_POOL_DELETE
			       ? "repair"
			       : "unknown";
	if (op->type == THINSNAP_META_OP_DELETE_PENDING_REMOVE)
		return "cleanup";
	if (op->type == THINSNAP_META_OP_SNAP_REMOVE) {
		*ret_key = op->key;
		return "remove";
	}
	if (op->type != THINSNAP_META_OP_SNAP_CREATE)
		return "unknown";
	if (op->kind == THINSNAP_META_INTERNAL)
		return "base";
	*ret_key = op->key;
	return op->kind == THINSNAP_META_VIEW        ? "view"
	       : op->kind == THINSNAP_META_COMMITTED ? "commit"
						     : "prepare";
}

/* Lists an unfinished intent; its pool ids are accounted for (rolled back or forward). */
static int list_unfinished(const struct thinsnap_meta_intent *in, void *userdata)
{
	struct check_ctx *c = userdata;
	struct thinsnap_check_report *rep = c->rep;
	struct thinsnap_check_intent *v, *it;
	const char *key = NULL;

	v = realloc(rep->intents, (rep->n_unfinished + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rep->intents = v;
	it = &v[rep->n_unfinished];
	*it = (struct thinsnap_check_intent){
		.id = in->id,
		.operation = intent_operation(in, &key),
		.dev_id = in->n_pool_ops ? in->pool_ops[0].dev_id : 0,
		.recovery =
			thinsnap_snap_recovery_decide_ids(in, c->tid, c->pool_ids, c->n_pool, NULL),
	};
	if (key && !(it->key = strdup(key)))
		return -ENOMEM;
	rep->n_unfinished++;
	for (size_t i = 0; i < in->n_pool_ops; i++) {
		ssize_t k = thinsnap_snap_find_id(c->pool_ids, c->n_pool, in->pool_ops[i].dev_id);
		if (k >= 0)
			c->known[k] = true;
	}
	return 0;
}

/* The journal (s->meta) against the pool's ids (ascending). Under write_lock. */
static int check_compare(struct thinsnap_snapshotter *s, const uint32_t *ids, size_t n,
			 struct thinsnap_check_report **ret, struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_check_report_freep) struct thinsnap_check_report *rep = NULL;
	CLEANUP_FREE bool *known = NULL;
	int r;

	rep = calloc(1, sizeof(*rep));
	known = calloc(n ? n : 1, sizeof(*known));
	if (!rep || !known)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	r = thinsnap_pool_transaction_id(s->pool, &rep->transaction_id, reterr);
	if (r < 0)
		return r;
	struct check_ctx c = {
		.pool_ids = ids, .n_pool = n, .known = known, .rep = rep, .tid = rep->transaction_id
	};
	pthread_rwlock_rdlock(&s->state_lock);
	r = 0;
	if (s->meta) /* NULL: a reader before anything was written */
		r = thinsnap_meta_unfinished(s->meta, list_unfinished, &c);
	if (r >= 0 && s->meta)
		r = thinsnap_meta_walk(s->meta, check_entry, &c);
	if (r >= 0 && s->meta)
		r = thinsnap_meta_each_delete_pending(s->meta, check_pending, &c);
	pthread_rwlock_unlock(&s->state_lock);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "reading the journal");
	for (size_t i = 0; i < n; i++) {
		if (known[i])
			continue;
		uint32_t *v = realloc(rep->leaked_ids, (rep->n_leaked + 1) * sizeof(*v));
		if (!v)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		rep->leaked_ids = v;
		v[rep->n_leaked++] = ids[i];
	}
	*ret = TAKE_PTR(rep);
	return 0;
}

/* Under write_lock. */
static int check_locked(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
			struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_pool_thin_ids_freep) uint32_t *ids = NULL;
	size_t n = 0;
	int r;

	r = thinsnap_pool_list_thin_ids(s->pool, &ids, &n, reterr);
	if (r < 0)
		return r;
	return check_compare(s, ids, n, ret, reterr);
}

static bool check_agrees(const struct thinsnap_check_report *rep)
{
	return rep->n_leaked == 0 && rep->n_dangling == 0 && rep->n_unfinished == 0;
}

/* Keeps in rep only the leaked ids and dangling keys that older (an earlier journal) has too. */
static void check_keep_common(struct thinsnap_check_report *rep,
			      const struct thinsnap_check_report *older)
{
	size_t k = 0;

	for (size_t i = 0; i < rep->n_leaked; i++)
		for (size_t j = 0; j < older->n_leaked; j++)
			if (older->leaked_ids[j] == rep->leaked_ids[i]) {
				rep->leaked_ids[k++] = rep->leaked_ids[i];
				break;
			}
	rep->n_leaked = k;
	k = 0;
	for (size_t i = 0; i < rep->n_dangling; i++) {
		bool common = false;
		for (size_t j = 0; j < older->n_dangling && !common; j++)
			common = strcmp(older->dangling_keys[j], rep->dangling_keys[i]) == 0;
		if (common)
			rep->dangling_keys[k++] = rep->dangling_keys[i];
		else
			free(rep->dangling_keys[i]);
	}
	rep->n_dangling = k;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/*
 * A reader's check races the writer holding the lock (thinsnapd): the journal it holds was
 * read before the pool's ids, which are read now. So it compares the pool's ids with that
 * journal and with one read afterwards. If the journal did not move in between, the result
 * is exact (an open intent may still be a live writer's: it waits ~1 s for it to finish);
 * else only what both journals show counts, since a real leak or dangling key stays in both
 * while an operation in flight shows in at most one. It retries until the pool and journal
 * agree, or for ~10 s, then reports what it saw.
 */
static int check_reader(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
			struct thinsnap_error *reterr)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		CLEANUP(thinsnap_check_report_freep) struct thinsnap_check_report *before = NULL;
		CLEANUP(thinsnap_check_report_freep) struct thinsnap_check_report *rep = NULL;
		CLEANUP(thinsnap_pool_thin_ids_freep) uint32_t *ids = NULL;
		struct thinsnap_meta *fresh = NULL, *old;
		size_t n = 0;
		int r = thinsnap_pool_list_thin_ids(s->pool, &ids, &n, reterr);
		if (r >= 0)
			r = check_compare(s, ids, n, &before, reterr);
		if (r >= 0)
			r = thinsnap_snap_open_meta(s, &fresh, reterr);
		if (r < 0)
			return r;
		bool still = thinsnap_meta_same_position(s->meta, fresh);
		pthread_rwlock_wrlock(&s->state_lock);
		old = s->meta;
		s->meta = fresh;
		pthread_rwlock_unlock(&s->state_lock);
		thinsnap_meta_free(old);
		r = check_compare(s, ids, n, &rep, reterr);
		if (r < 0)
			return r;
		if (!still)
			check_keep_common(rep, before);
		long ms = ms_since(&t0);
		if (check_agrees(rep) || (still && (rep->n_unfinished == 0 || ms >= 1000)) ||
		    ms >= 10000) {
			*ret = TAKE_PTR(rep);
			return 0;
		}
		(void)usleep(100 * 1000);
	}
}

int thinsnap_check(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
		   struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	int r;

	if (!ret)
		return thinsnap_error_setf(reterr, -EINVAL, "no report pointer");
	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	locked = lock_writes(s);
	if (s->closed)
		return thinsnap_error_setf(reterr, -EBADF, "snapshotter is closed");
	return s->read_only ? check_reader(s, ret, reterr) : check_locked(s, ret, reterr);
}

/* Appends key and its descendants, children first, to a list of SNAP_REMOVE ops. */
struct subtree {
	struct thinsnap_snapshotter *s;
	struct thinsnap_meta_op *ops;
	size_t n, cap;
};

static int subtree_add(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct subtree *t = userdata;
	int r;

	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->ops[i].key, e->key) == 0)
			return 0; /* already listed */
	r = thinsnap_meta_children(t->s->meta, e->key, subtree_add, t);
	if (r < 0)
		return r;
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct thinsnap_meta_op *v = realloc(t->ops, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->ops = v;
		t->cap = cap;
	}
	char *k = strdup(e->key);
	if (!k)
		return -ENOMEM;
	t->ops[t->n++] =
		(struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = k };
	return 0;
}

/* Deactivates every thin device the journal activates (before the pool goes away). */
static int deactivate_one(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct reactivate_ctx *c = userdata;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	int r;

	thinsnap_snap_dm_name_of(c->s, e, name);
	r = thinsnap_pool_deactivate_thin(c->s->pool, name, c->reterr);
	if (r == -EBUSY)
		return thinsnap_error_setf(c->reterr, -EBUSY,
					   "snapshot '%s' is in use (device %s): unmount it before "
					   "repairing the pool",
					   e->key, name);
	return r;
}

/*
 * The pool needs a check (the kernel's needs_check flag), or is read-only or failed: take
 * every thin device down, let the pool check and clear its metadata and come back up, then
 * bring the devices back (under write_lock).
 */
static int repair_pool(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	struct reactivate_ctx rc = { .s = s, .reterr = reterr };
	struct thinsnap_pool *rp = NULL;
	int r;

	r = thinsnap_meta_walk(s->meta, deactivate_one, &rc);
	if (r < 0)
		return r;
	r = thinsnap_pool_repair(s->pool, reterr);
	if (r < 0)
		return r;
	thinsnap_snap_logf(s, THINSNAP_LOG_INFO, "repair: pool '%s' checked and re-activated",
			   s->pool_name);
	/* the readers' handle still names the old loop devices */
	r = thinsnap_snap_open_pool(s, &rp, reterr);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->rpool_lock);
	thinsnap_pool_free(s->rpool);
	s->rpool = rp;
	pthread_mutex_unlock(&s->rpool_lock);
	r = thinsnap_pool_transaction_id(s->pool, &s->tid, reterr);
	if (r < 0)
		return r;
	return thinsnap_meta_walk(s->meta, thinsnap_snap_reactivate_one, &rc);
}

int thinsnap_repair(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
		    struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	CLEANUP(thinsnap_check_report_freep) struct thinsnap_check_report *rep = NULL;
	struct thinsnap_pool_status st;
	int r;

	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	locked = lock_writes(s);
	if (s->read_only)
		return thinsnap_error_setf(reterr, -EROFS, "snapshotter is open read-only");
	r = thinsnap_pool_status(s->pool, &st, reterr);
	if (r < 0)
		return r;
	if (st.needs_check || st.mode == THINSNAP_POOL_MODE_RO ||
	    st.mode == THINSNAP_POOL_MODE_FAIL) {
		r = repair_pool(s, reterr);
		if (r < 0)
			return r;
	}
	r = thinsnap_snap_check_writable(s, reterr);
	if (r < 0)
		return r;
	r = check_locked(s, &rep, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rep->n_leaked; i++) {
		uint32_t id = rep->leaked_ids[i];
		char dm[THINSNAP_POOL_DM_NAME_MAX + 1];
		for (int base = 0; base < 2; base++) {
			thinsnap_snap_dm_name(s->pool_name, id, base, dm, sizeof(dm));
			r = thinsnap_pool_deactivate_thin(s->pool, dm, reterr);
			if (r < 0)
				return r;
		}
		r = thinsnap_snap_delete_txn(s, id, 0, NULL, 0, reterr);
		if (r < 0)
			return r;
		thinsnap_snap_logf(s, THINSNAP_LOG_INFO, "repair: deleted leaked thin id %" PRIu32,
				   id);
	}
	if (rep->n_dangling) {
		struct subtree t = { .s = s };
		for (size_t i = 0; i < rep->n_dangling && r >= 0; i++) {
			const struct thinsnap_meta_snap *e =
				thinsnap_meta_get(s->meta, rep->dangling_keys[i]);
			if (e)
				r = subtree_add(e, &t);
		}
		if (r >= 0)
			r = thinsnap_snap_journal_apply(s, t.ops, t.n, reterr);
		else
			thinsnap_error_setf(reterr, r, "listing dangling snapshots");
		for (size_t i = 0; i < t.n; i++)
			free((char *)t.ops[i].key);
		free(t.ops);
		if (r < 0)
			return r;
		thinsnap_snap_logf(s, THINSNAP_LOG_INFO, "repair: removed %zu dangling keys", t.n);
	}
	if (ret)
		*ret = TAKE_PTR(rep);
	return 0;
}

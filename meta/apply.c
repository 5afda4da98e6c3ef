/*
 * meta/: changes to the in-memory index (meta/index.h). A group of ops applies op by op,
 * each validated against the state the earlier ones left, and every change is recorded in
 * the undo log: on any failure the group rolls back whole; once its record is durable, the
 * caller commits it. Also the key and label checks that snap/ shares.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "meta/index.h"

/* ---- the undo log: a group applies op by op, and rolls back on any failure ---- */

int thinsnap_meta_undo_reserve(struct thinsnap_meta_index *ix, size_t more)
{
	size_t want = ix->n_undo + more, cap = ix->undo_cap ? ix->undo_cap : 64;
	struct undo *u;

	if (want <= ix->undo_cap)
		return 0;
	while (cap < want)
		cap *= 2;
	u = realloc(ix->undo, cap * sizeof(*u));
	if (!u)
		return -ENOMEM;
	ix->undo = u;
	ix->undo_cap = cap;
	return 0;
}

void thinsnap_meta_undo_push(struct thinsnap_meta_index *ix, struct undo u)
{
	if (ix->n_undo >= ix->undo_cap)
		abort(); /* reserved by the caller */
	ix->undo[ix->n_undo++] = u;
}

static void bit_set(struct thinsnap_meta_index *ix, int map, uint32_t id, bool v)
{
	thinsnap_meta_undo_push(ix, (struct undo){ .type = U_BIT,
						   .map = map,
						   .id = id,
						   .old = thinsnap_meta_map_get(ix, map, id) });
	thinsnap_meta_map_put(ix, map, id, v);
}

void thinsnap_meta_undo_rollback(struct thinsnap_meta_index *ix)
{
	while (ix->n_undo > 0) {
		struct undo *u = &ix->undo[--ix->n_undo];
		struct lblk *cur;

		switch (u->type) {
		case U_INSERT:
			thinsnap_meta_index_unlink(ix, u->e);
			thinsnap_meta_entry_free(u->e);
			break;
		case U_REMOVE:
			thinsnap_meta_index_link(ix, u->e);
			break;
		case U_LABELS:
			cur = u->e->lb;
			thinsnap_meta_entry_set_lblk(u->e, u->lb);
			u->e->pub.updated_ns = u->updated_ns;
			thinsnap_meta_lblk_release(u->e, cur);
			break;
		case U_USAGE:
			u->e->pub.usage_bytes = u->a;
			u->e->pub.usage_inodes = u->b;
			break;
		case U_SIZE:
			u->e->pub.size_bytes = u->a;
			break;
		case U_UID: /* set only once: it had none before */
			memset(u->e->pub.uid, 0, sizeof(u->e->pub.uid));
			break;
		case U_BIT:
			thinsnap_meta_map_put(ix, u->map, u->id, u->old);
			break;
		case U_INTENT_ADD:
			thinsnap_meta_intent_unlink(ix, u->in);
			thinsnap_meta_intent_free(u->in);
			break;
		case U_INTENT_DEL:
			thinsnap_meta_intent_link(ix, u->in);
			break;
		}
	}
}

void thinsnap_meta_undo_commit(struct thinsnap_meta_index *ix)
{
	for (size_t i = 0; i < ix->n_undo; i++) {
		struct undo *u = &ix->undo[i];
		if (u->type == U_REMOVE)
			thinsnap_meta_entry_free(u->e);
		else if (u->type == U_LABELS)
			thinsnap_meta_lblk_release(u->e, u->lb);
		else if (u->type == U_INTENT_DEL)
			thinsnap_meta_intent_free(u->in);
	}
	ix->n_undo = 0;
}

/* ---- validation and application of one op ---- */

int thinsnap_meta_check_key(const char *what, const char *key, struct thinsnap_error *reterr)
{
	size_t n;

	if (!key || !*key)
		return thinsnap_error_setf(reterr, -EINVAL, "%s must not be empty", what);
	n = strlen(key);
	if (n > THINSNAP_META_KEY_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "%s is %zu bytes long, more than %u",
					   what, n, THINSNAP_META_KEY_MAX);
	return 0;
}

int thinsnap_meta_check_label(const char *key, const char *value, struct thinsnap_error *reterr)
{
	size_t len;

	if (!key || !*key)
		return thinsnap_error_setf(reterr, -EINVAL, "label key must not be empty");
	len = strlen(key) + (value ? strlen(value) : 0);
	if (len > THINSNAP_META_LABEL_MAX)
		return thinsnap_error_setf(
			reterr, -EINVAL,
			"label key and value of '%.64s' are %zu bytes, more than %u", key, len,
			THINSNAP_META_LABEL_MAX);
	return 0;
}

int thinsnap_meta_check_labels(const struct thinsnap_meta_label *l, size_t n,
			       struct thinsnap_error *reterr)
{
	if (n && !l)
		return thinsnap_error_setf(reterr, -EINVAL, "labels missing");
	for (size_t i = 0; i < n; i++) {
		int r = thinsnap_meta_check_label(l[i].key, l[i].value, reterr);
		if (r < 0)
			return r;
		if (!l[i].value) /* the journal stores a string */
			return thinsnap_error_setf(reterr, -EINVAL, "label '%.64s': value missing",
						   l[i].key);
	}
	return 0;
}

static int check_dev_id(uint32_t id, struct thinsnap_error *reterr)
{
	if (id == 0 || id >= THINSNAP_META_DEV_ID_LIMIT)
		return thinsnap_error_setf(reterr, -ERANGE,
					   "dev_id %" PRIu32 " out of range (1..%u)", id,
					   THINSNAP_META_DEV_ID_LIMIT - 1);
	return 0;
}

static int op_create(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *o,
		     struct thinsnap_error *reterr)
{
	struct entry *parent = NULL, *e = NULL, *last = ix->last_created;
	const struct intent *in;
	size_t kl, slot;
	uint64_t h;
	int r;

	if ((r = thinsnap_meta_check_key("key", o->key, reterr)) < 0 ||
	    (r = thinsnap_meta_check_labels(o->labels, o->n_labels, reterr)) < 0 ||
	    (r = check_dev_id(o->dev_id, reterr)) < 0)
		return r;
	if (o->kind < THINSNAP_META_VIEW || o->kind > THINSNAP_META_INTERNAL)
		return thinsnap_error_setf(reterr, -EINVAL, "key '%.200s': bad kind %d", o->key,
					   (int)o->kind);
	if (o->fs_type && strnlen(o->fs_type, FS_TYPE_MAX + 1) > FS_TYPE_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "fs_type longer than %u bytes",
					   FS_TYPE_MAX);
	kl = strlen(o->key);
	h = thinsnap_meta_hash_key(o->key, kl);
	slot = thinsnap_meta_index_slot(ix, o->key, kl,
					h); /* thinsnap_meta_ops_apply made the table non-empty */
	if (ix->slots[slot])
		return thinsnap_error_setf(reterr, -EEXIST, "key '%.200s' already exists", o->key);
	if (o->parent) {
		if ((r = thinsnap_meta_check_key("parent", o->parent, reterr)) < 0)
			return r;
		if (last && strncmp(last->key, o->parent, last->key_len + 1) == 0)
			parent = last; /* no hash lookup */
		else
			parent = thinsnap_meta_index_find(ix, o->parent);
		if (!parent)
			return thinsnap_error_setf(reterr, -ENOENT, "parent '%.200s' not found",
						   o->parent);
		if (parent->pub.kind != THINSNAP_META_COMMITTED &&
		    parent->pub.kind != THINSNAP_META_INTERNAL)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "parent '%.200s' is not committed", o->parent);
	}
	if (thinsnap_meta_map_get(ix, MAP_ENTRY, o->dev_id))
		return thinsnap_error_setf(reterr, -EEXIST, "dev_id %" PRIu32 " already in use",
					   o->dev_id);
	if (thinsnap_meta_map_get(ix, MAP_PENDING, o->dev_id))
		return thinsnap_error_setf(reterr, -EEXIST,
					   "dev_id %" PRIu32 " is still pending delete", o->dev_id);
	in = thinsnap_meta_intent_touching(ix, o->dev_id);
	if (in)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "dev_id %" PRIu32
					   " is touched by unfinished intent %" PRIu64,
					   o->dev_id, in->id);
	r = thinsnap_meta_map_prepare(ix, MAP_ENTRY, o->dev_id);
	if (r == 0)
		r = thinsnap_meta_entry_new(o, o->key, kl, h, parent, &e);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	e->pub.kind = o->kind;
	e->pub.dev_id = o->dev_id;
	e->pub.size_bytes = o->size_bytes;
	e->pub.created_ns = o->created_ns;
	e->pub.updated_ns = o->updated_ns;
	e->pub.usage_bytes = o->usage_bytes;
	e->pub.usage_inodes = o->usage_inodes;
	if (thinsnap_meta_map_get(ix, MAP_RESERVED, o->dev_id))
		bit_set(ix, MAP_RESERVED, o->dev_id, false); /* the reservation is consumed */
	thinsnap_meta_index_link_at(ix, e,
				    slot); /* no table change since thinsnap_meta_index_slot() */
	ix->last_created = e;
	thinsnap_meta_undo_push(ix, (struct undo){ .type = U_INSERT, .e = e });
	return 0;
}

static int lookup(struct thinsnap_meta_index *ix, const char *key, struct entry **ret,
		  struct thinsnap_error *reterr)
{
	int r = thinsnap_meta_check_key("key", key, reterr);

	if (r < 0)
		return r;
	*ret = thinsnap_meta_index_find(ix, key);
	if (!*ret)
		return thinsnap_error_setf(reterr, -ENOENT, "key '%.200s' not found", key);
	return 0;
}

static int op_remove(struct thinsnap_meta_index *ix, const char *key, struct thinsnap_error *reterr)
{
	struct entry *e = NULL;
	int r = lookup(ix, key, &e, reterr);

	if (r < 0)
		return r;
	if (e->first_child)
		return thinsnap_error_setf(reterr, -ENOTEMPTY, "key '%.200s' has children", key);
	thinsnap_meta_index_unlink(ix, e);
	thinsnap_meta_undo_push(ix, (struct undo){ .type = U_REMOVE, .e = e });
	return 0;
}

static int op_commit(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *o,
		     struct thinsnap_error *reterr)
{
	struct entry *e = NULL, *n = NULL;
	int r = lookup(ix, o->key, &e, reterr);

	if (r < 0)
		return r;
	if ((r = thinsnap_meta_check_key("name", o->name, reterr)) < 0 ||
	    (r = thinsnap_meta_check_labels(o->labels, o->n_labels, reterr)) < 0)
		return r;
	if (e->pub.kind != THINSNAP_META_ACTIVE)
		return thinsnap_error_setf(reterr, -EINVAL, "key '%.200s' is not active", o->key);
	if (thinsnap_meta_index_find(ix, o->name))
		return thinsnap_error_setf(reterr, -EEXIST, "name '%.200s' already exists",
					   o->name);
	{
		struct thinsnap_meta_op c = *o;
		c.fs_type = e->pub.fs_type;
		r = thinsnap_meta_entry_new(&c, o->name, strlen(o->name),
					    thinsnap_meta_hash_key(o->name, strlen(o->name)),
					    e->parent, &n);
	}
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	n->pub = e->pub;
	n->pub.key = n->key;
	thinsnap_meta_entry_set_lblk(n, n->lb);
	n->pub.kind = THINSNAP_META_COMMITTED;
	/* a committed snapshot is created by its commit, as in containerd */
	n->pub.created_ns = o->updated_ns;
	n->pub.updated_ns = o->updated_ns;
	thinsnap_meta_index_unlink(ix, e);
	thinsnap_meta_undo_push(ix, (struct undo){ .type = U_REMOVE, .e = e });
	thinsnap_meta_index_link(ix, n);
	thinsnap_meta_undo_push(ix, (struct undo){ .type = U_INSERT, .e = n });
	return 0;
}

static int op_labels(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *o,
		     struct thinsnap_error *reterr)
{
	struct entry *e = NULL;
	struct lblk *lb;
	int r = lookup(ix, o->key, &e, reterr);

	if (r < 0 || (r = thinsnap_meta_check_labels(o->labels, o->n_labels, reterr)) < 0)
		return r;
	lb = thinsnap_meta_lblk_new(e->pub.fs_type, o->labels, o->n_labels);
	if (!lb)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	thinsnap_meta_undo_push(ix, (struct undo){ .type = U_LABELS,
						   .e = e,
						   .lb = e->lb,
						   .updated_ns = e->pub.updated_ns });
	thinsnap_meta_entry_set_lblk(e, lb);
	e->pub.updated_ns = o->updated_ns;
	return 0;
}

static int op_ids(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *o,
		  struct thinsnap_error *reterr)
{
	uint32_t id = o->dev_id;
	const struct intent *in;
	int r = check_dev_id(id, reterr);

	if (r < 0)
		return r;
	if (thinsnap_meta_map_prepare(ix, MAP_RESERVED, id) < 0 ||
	    thinsnap_meta_map_prepare(ix, MAP_PENDING, id) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	switch (o->type) {
	case THINSNAP_META_OP_ID_ALLOC:
		if (thinsnap_meta_map_get(ix, MAP_ENTRY, id) ||
		    thinsnap_meta_map_get(ix, MAP_RESERVED, id) ||
		    thinsnap_meta_map_get(ix, MAP_PENDING, id))
			return thinsnap_error_setf(reterr, -EEXIST,
						   "dev_id %" PRIu32 " already in use", id);
		in = thinsnap_meta_intent_touching(ix, id);
		if (in)
			return thinsnap_error_setf(reterr, -EBUSY,
						   "dev_id %" PRIu32
						   " is touched by unfinished intent %" PRIu64,
						   id, in->id);
		bit_set(ix, MAP_RESERVED, id, true);
		return 0;
	case THINSNAP_META_OP_ID_RELEASE:
		if (!thinsnap_meta_map_get(ix, MAP_RESERVED, id))
			return thinsnap_error_setf(reterr, -ENOENT,
						   "dev_id %" PRIu32 " not reserved", id);
		bit_set(ix, MAP_RESERVED, id, false);
		return 0;
	case THINSNAP_META_OP_DELETE_PENDING_ADD:
		if (thinsnap_meta_map_get(ix, MAP_ENTRY, id))
			return thinsnap_error_setf(reterr, -EBUSY,
						   "dev_id %" PRIu32 " is used by a snapshot", id);
		if (thinsnap_meta_map_get(ix, MAP_PENDING, id))
			return thinsnap_error_setf(reterr, -EEXIST,
						   "dev_id %" PRIu32 " already pending delete", id);
		if (thinsnap_meta_map_get(ix, MAP_RESERVED, id))
			bit_set(ix, MAP_RESERVED, id, false);
		bit_set(ix, MAP_PENDING, id, true);
		return 0;
	default:
		if (!thinsnap_meta_map_get(ix, MAP_PENDING, id))
			return thinsnap_error_setf(reterr, -ENOENT,
						   "dev_id %" PRIu32 " not pending delete", id);
		bit_set(ix, MAP_PENDING, id, false);
		return 0;
	}
}

/* Whether uid (THINSNAP_META_UID_SIZE bytes) is all zero: no id. */
bool thinsnap_meta_uid_is_null(const uint8_t *uid)
{
	for (size_t i = 0; i < THINSNAP_META_UID_SIZE; i++)
		if (uid[i])
			return false;
	return true;
}

static int op_uid(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *o,
		  struct thinsnap_error *reterr)
{
	struct entry *e = NULL;
	int r = lookup(ix, o->key, &e, reterr);

	if (r < 0)
		return r;
	if (!o->uid || thinsnap_meta_uid_is_null(o->uid))
		return thinsnap_error_setf(reterr, -EINVAL, "key '%.200s': empty unique id",
					   o->key);
	if (e->pub.kind != THINSNAP_META_COMMITTED)
		return thinsnap_error_setf(reterr, -EINVAL, "key '%.200s' is not committed",
					   o->key);
	if (!thinsnap_meta_uid_is_null(e->pub.uid))
		return thinsnap_error_setf(reterr, -EEXIST, "key '%.200s' has a unique id", o->key);
	thinsnap_meta_undo_push(ix, (struct undo){ .type = U_UID, .e = e });
	memcpy(e->pub.uid, o->uid, THINSNAP_META_UID_SIZE);
	return 0;
}

static int apply_op(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *o,
		    struct thinsnap_error *reterr)
{
	struct entry *e = NULL;
	int r;

	switch (o->type) {
	case THINSNAP_META_OP_SNAP_CREATE:
		return op_create(ix, o, reterr);
	case THINSNAP_META_OP_SNAP_REMOVE:
		return op_remove(ix, o->key, reterr);
	case THINSNAP_META_OP_SNAP_COMMIT:
		return op_commit(ix, o, reterr);
	case THINSNAP_META_OP_LABELS_SET:
		return op_labels(ix, o, reterr);
	case THINSNAP_META_OP_USAGE_SET:
		r = lookup(ix, o->key, &e, reterr);
		if (r < 0)
			return r;
		thinsnap_meta_undo_push(ix, (struct undo){ .type = U_USAGE,
							   .e = e,
							   .a = e->pub.usage_bytes,
							   .b = e->pub.usage_inodes });
		e->pub.usage_bytes = o->usage_bytes;
		e->pub.usage_inodes = o->usage_inodes;
		return 0;
	case THINSNAP_META_OP_SIZE_SET:
		if (o->size_bytes == 0)
			return thinsnap_error_setf(reterr, -EINVAL, "size must not be 0");
		r = lookup(ix, o->key, &e, reterr);
		if (r < 0)
			return r;
		thinsnap_meta_undo_push(
			ix, (struct undo){ .type = U_SIZE, .e = e, .a = e->pub.size_bytes });
		e->pub.size_bytes = o->size_bytes;
		return 0;
	case THINSNAP_META_OP_UID_SET:
		return op_uid(ix, o, reterr);
	case THINSNAP_META_OP_ID_ALLOC:
	case THINSNAP_META_OP_ID_RELEASE:
	case THINSNAP_META_OP_DELETE_PENDING_ADD:
	case THINSNAP_META_OP_DELETE_PENDING_REMOVE:
		return op_ids(ix, o, reterr);
	}
	return thinsnap_error_setf(reterr, -EINVAL, "unknown op type %d", (int)o->type);
}

/* Applies a group in memory, recording undo entries; on failure everything is rolled back. */
int thinsnap_meta_ops_apply(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *ops,
			    size_t n, struct thinsnap_error *reterr)
{
	int r;

	if (n && !ops)
		return thinsnap_error_setf(reterr, -EINVAL, "ops missing");
	if (n > REC_PAYLOAD_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "too many ops");
	r = thinsnap_meta_index_reserve(ix, n);
	if (r == 0)
		r = thinsnap_meta_undo_reserve(ix, 3 * n + 2);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	for (size_t i = 0; i < n; i++) {
		r = apply_op(ix, &ops[i], reterr);
		if (r < 0) {
			thinsnap_meta_undo_rollback(ix);
			return r;
		}
	}
	return 0;
}

/* ---- intents ---- */

int thinsnap_meta_pool_ops_check(const struct thinsnap_meta_intent *in,
				 struct thinsnap_error *reterr)
{
	int r;

	if (in->n_pool_ops && !in->pool_ops)
		return thinsnap_error_setf(reterr, -EINVAL, "pool ops missing");
	if (in->n_pool_ops > 1024)
		return thinsnap_error_setf(reterr, -EINVAL, "too many pool ops");
	for (size_t i = 0; i < in->n_pool_ops; i++) {
		const struct thinsnap_meta_pool_op *p = &in->pool_ops[i];
		if (p->type < THINSNAP_META_POOL_CREATE_THIN || p->type > THINSNAP_META_POOL_DELETE)
			return thinsnap_error_setf(reterr, -EINVAL, "bad pool op type %d",
						   (int)p->type);
		if ((r = check_dev_id(p->dev_id, reterr)) < 0)
			return r;
		if (p->type == THINSNAP_META_POOL_CREATE_SNAP &&
		    (r = check_dev_id(p->origin_id, reterr)) < 0)
			return r;
	}
	return 0;
}

/* Applies (completed) or drops an intent in memory, with undo entries. */
int thinsnap_meta_intent_resolve(struct thinsnap_meta_index *ix, struct op_scratch *scratch,
				 struct intent *in, bool completed, struct thinsnap_error *reterr)
{
	int r;

	if (completed) {
		struct rd rd = { .p = in->ops, .len = in->ops_len };
		const struct thinsnap_meta_op *ops = NULL;
		size_t n = 0;

		r = thinsnap_meta_fmt_get_ops(&rd, scratch, &ops, &n);
		if (r < 0)
			return thinsnap_error_setf(reterr, r == -ENOMEM ? r : -EUCLEAN,
						   "intent %" PRIu64 ": cannot decode its ops",
						   in->id);
		ix->exclude = in;
		r = thinsnap_meta_ops_apply(ix, ops, n, reterr);
		ix->exclude = NULL;
		if (r < 0)
			return r;
	} else {
		r = thinsnap_meta_undo_reserve(ix, 1);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "out of memory");
	}
	thinsnap_meta_intent_unlink(ix, in);
	thinsnap_meta_undo_push(ix, (struct undo){ .type = U_INTENT_DEL, .in = in });
	return 0;
}

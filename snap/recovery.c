/*
 * Crash recovery at a writer's open: after a writer died holding the lock, the thin devices it
 * left suspended are resumed; each unfinished intent is resolved by the rule in
 * snap/recovery-rule.c (the pool's device list, or its transaction id, decides), carried out on
 * the pool; after a reboot, what a lost intent left; then every active snapshot and view whose
 * device is missing (after a reboot) is activated again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fileio.h"
#include "pool/thin.h"
#include "snap/internal.h"

static int resolve_intent(const struct thinsnap_meta_intent *in, void *userdata);

DEFINE_CLEANUP(uint32_t *, thinsnap_pool_thin_ids_free)

struct resolve_ctx {
	struct thinsnap_snapshotter *s;
	struct thinsnap_error *reterr;
	uint64_t ids[64];
	bool completed[64];
	size_t n;
	/* the pool's thin ids, read once when an intent or the boot check needs them */
	uint32_t *pool_ids;
	size_t n_pool;
	bool have_pool_ids;
};

static int pool_ids(struct resolve_ctx *c)
{
	if (c->have_pool_ids)
		return 0;
	int r = thinsnap_pool_list_thin_ids(c->s->pool, &c->pool_ids, &c->n_pool, c->reterr);
	c->have_pool_ids = r >= 0;
	return r;
}

/* The pool recovery drives (thinsnap_snap_recovery_apply()), userdata: the snapshotter. */
static int recovery_deactivate(void *userdata, uint32_t dev_id, struct thinsnap_error *reterr)
{
	struct thinsnap_snapshotter *s = userdata;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	int r;

	for (int base = 0; base < 2; base++) {
		thinsnap_snap_dm_name(s->pool_name, dev_id, base, name, sizeof(name));
		r = thinsnap_pool_deactivate_thin(s->pool, name, reterr);
		if (r < 0)
			return r;
	}
	(void)snprintf(name, sizeof(name), "%s-discard-%" PRIu32, s->pool_name, dev_id);
	(void)thinsnap_pool_deactivate_thin(s->pool, name, NULL);
	return 0;
}

static int recovery_delete_thin(void *userdata, uint32_t dev_id, struct thinsnap_error *reterr)
{
	struct thinsnap_snapshotter *s = userdata;

	return thinsnap_pool_delete_thin(s->pool, dev_id, reterr);
}

static int recovery_set_transaction_id(void *userdata, uint64_t old_tid, uint64_t new_tid,
				       struct thinsnap_error *reterr)
{
	struct thinsnap_snapshotter *s = userdata;

	return thinsnap_pool_set_transaction_id(s->pool, old_tid, new_tid, reterr);
}

static int resolve_intent(const struct thinsnap_meta_intent *in, void *userdata)
{
	struct resolve_ctx *c = userdata;
	struct thinsnap_snapshotter *s = c->s;
	const struct thinsnap_snap_recovery_pool pool = {
		.deactivate = recovery_deactivate,
		.delete_thin = recovery_delete_thin,
		.set_transaction_id = recovery_set_transaction_id,
		.userdata = s,
	};
	struct thinsnap_snap_recovery_plan plan;
	enum thinsnap_recovery outcome;
	uint64_t tid = s->tid;
	int r;

	if (c->n >= ELEMENTSOF(c->ids))
		return thinsnap_error_setf(c->reterr, -EUCLEAN, "too many unfinished intents");
	if (thinsnap_snap_recovery_needs_ids(in)) {
		r = pool_ids(c);
		if (r < 0)
			return r;
	}
	outcome = thinsnap_snap_recovery_decide_ids(in, tid, c->pool_ids, c->n_pool, &plan);
	if (outcome == THINSNAP_RECOVERY_MISMATCH)
		return thinsnap_error_setf(c->reterr, -EUCLEAN,
					   "pool '%s' has transaction id %" PRIu64
					   ", but the unfinished operation %" PRIu64
					   " expects %" PRIu64 " or %" PRIu64
					   ": run 'thinsnap check'",
					   s->pool_name, tid, in->id, in->transaction_id_before,
					   in->transaction_id_after);
	r = thinsnap_snap_recovery_apply(in, &plan, &pool, c->reterr);
	if (r < 0)
		return r;
	if (plan.set_transaction_id)
		s->tid = in->transaction_id_after;
	c->ids[c->n] = in->id;
	c->completed[c->n++] = outcome == THINSNAP_RECOVERY_ROLL_FORWARD;
	return 0;
}

/* ---- after a reboot: what a lost intent left ---- */

#define BOOT_ID_FILE "boot-id"

/* This boot's id (the kernel's random boot_id, 36 characters), or -errno. */
static int boot_id_now(char buf[static 64])
{
	CLEANUP_CLOSE int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, 63);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static bool boot_id_recorded(struct thinsnap_snapshotter *s, const char *now)
{
	char path[PATH_MAX], buf[64];
	CLEANUP_CLOSE int fd = -EBADF;
	ssize_t n;

	if (snprintf(path, sizeof(path), "%s/" BOOT_ID_FILE, s->state_dir) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return strcmp(buf, now) == 0;
}

static int boot_id_record(struct thinsnap_snapshotter *s, const char *now,
			  struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int dirfd = open(s->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char line[80];
	int n = snprintf(line, sizeof(line), "%s\n", now), r;

	if (dirfd < 0)
		return thinsnap_error_setf(reterr, -errno, "cannot open '%s': %m", s->state_dir);
	r = thinsnap_file_replace(dirfd, BOOT_ID_FILE, line, (size_t)n, NULL, NULL);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "cannot write '%s/" BOOT_ID_FILE "': %s",
					   s->state_dir, strerror(-r));
	return 0;
}

void thinsnap_snap_forget_boot(struct thinsnap_snapshotter *s)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/" BOOT_ID_FILE, s->state_dir) < (int)sizeof(path))
		(void)unlink(path);
}

struct lost_remove {
	struct resolve_ctx *c;
	char *key; /* the one entry whose device the pool lacks */
	size_t n;
};

static int find_lost_remove(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct lost_remove *l = userdata;

	if (thinsnap_snap_find_id(l->c->pool_ids, l->c->n_pool, e->dev_id) >= 0)
		return 0;
	if (l->n++ == 0 && e->kind != THINSNAP_META_INTERNAL &&
	    !thinsnap_meta_has_children(l->c->s->meta, e->key)) {
		l->key = strdup(e->key);
		if (!l->key)
			return -ENOMEM;
	}
	return 0;
}

/*
 * After a power cut (a new boot id), a decidable transaction's intent may be lost while its
 * pool step reached the pool (the journal's sync overlapped the pool's commit), but only the
 * one in flight: every earlier one was synced before its call returned. A lost create left
 * the id the journal allocates next in the pool, unknown to the journal: it is deleted. A lost
 * remove left a key, without children, whose device the pool lacks: the key is removed. Any
 * other disagreement is left to check and repair.
 */
static int recover_boot(struct resolve_ctx *c)
{
	struct thinsnap_snapshotter *s = c->s;
	struct lost_remove l = { .c = c };
	char now[64], name[THINSNAP_POOL_DM_NAME_MAX + 1];
	uint32_t next;
	int r;

	if (boot_id_now(now) < 0 || boot_id_recorded(s, now))
		return 0; /* no boot id to tell (never after a reboot here), or the same boot */
	if (thinsnap_meta_count(s->meta) > 0) {
		struct thinsnap_error e = { 0 };
		struct thinsnap_error *saved = c->reterr;

		c->reterr = &e;
		r = pool_ids(c);
		c->reterr = saved;
		if (r < 0) { /* thin_dump missing, say: open anyway, look again next time */
			thinsnap_snap_logf(s, THINSNAP_LOG_WARNING,
					   "not looking for what a power cut may have left: %s",
					   e.msg);
			return 0;
		}
		r = thinsnap_meta_alloc_dev_id(s->meta, &next, c->reterr);
		if (r < 0)
			return r;
		if (thinsnap_snap_find_id(c->pool_ids, c->n_pool, next) >= 0) {
			thinsnap_snap_dm_name(s->pool_name, next, false, name, sizeof(name));
			(void)thinsnap_pool_deactivate_thin(s->pool, name, NULL);
			r = thinsnap_pool_delete_thin(s->pool, next, c->reterr);
			if (r < 0 && r != -ENOENT)
				return r;
			thinsnap_snap_logf(s, THINSNAP_LOG_INFO,
					   "deleted device %" PRIu32
					   " of an operation the power cut "
					   "interrupted",
					   next);
		}
		r = thinsnap_meta_walk(s->meta, find_lost_remove, &l);
		if (r >= 0 && l.n == 1 && l.key) {
			struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_REMOVE,
						       .key = l.key };
			r = thinsnap_snap_journal_apply(s, &op, 1, c->reterr);
			if (r >= 0)
				thinsnap_snap_logf(s, THINSNAP_LOG_INFO,
						   "removed a snapshot whose remove the power cut "
						   "interrupted");
		}
		free(l.key);
		if (r < 0)
			return r;
	}
	return boot_id_record(s, now, c->reterr);
}

/*
 * A writer killed between a suspend and its resume (a snapshot of an active device, a resize)
 * left that device suspended: every read of it would wait forever. Looked for only when the
 * lock's last holder died holding it (meta/lock.c).
 */
static int resume_left_suspended(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	size_t n = 0;
	int r;

	if (!thinsnap_meta_writer_died(s->meta))
		return 0;
	r = thinsnap_pool_resume_left_suspended(s->pool, &n, reterr);
	if (r >= 0 && n)
		thinsnap_snap_logf(s, THINSNAP_LOG_INFO,
				   "resumed %zu device(s) a killed writer left suspended", n);
	return r;
}

int thinsnap_snap_recover(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	struct resolve_ctx c = { .s = s, .reterr = reterr };
	CLEANUP(thinsnap_pool_thin_ids_freep) uint32_t *ids = NULL;
	int r;

	r = resume_left_suspended(s, reterr); /* first: recovery may read those devices */
	if (r < 0)
		return r;
	r = thinsnap_meta_unfinished(s->meta, resolve_intent, &c);
	ids = c.pool_ids;
	if (r < 0)
		return r;
	for (size_t i = 0; i < c.n; i++) {
		r = thinsnap_meta_intent_finish(s->meta, c.ids[i], c.completed[i], reterr);
		if (r < 0)
			return r;
		thinsnap_snap_logf(s, THINSNAP_LOG_INFO, "recovered operation %" PRIu64 ": %s",
				   c.ids[i], c.completed[i] ? "completed" : "rolled back");
	}
	/* the ids read for the intents stay valid: recovery deleted only ids no entry holds */
	r = recover_boot(&c);
	ids = c.pool_ids;
	return r;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int thinsnap_snap_reactivate_one(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct reactivate_ctx *c = userdata;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	struct thinsnap_pool_thin_info ti = { 0 };
	int r;

	if (e->kind != THINSNAP_META_ACTIVE && e->kind != THINSNAP_META_VIEW)
		return 0;
	thinsnap_snap_dm_name_of(c->s, e, name);
	const char *key = name;
	if (c->n_active && bsearch(&key, c->active, c->n_active, sizeof(*c->active), cmp_name))
		return 0;
	r = thinsnap_pool_thin_info(c->s->pool, name, &ti, c->reterr);
	if (r < 0)
		return r;
	if (ti.exists)
		return 0;
	r = thinsnap_pool_activate_thin(c->s->pool, e->dev_id, name, e->size_bytes,
					e->kind == THINSNAP_META_VIEW, c->reterr);
	if (r < 0)
		return r;
	thinsnap_snap_logf(c->s, THINSNAP_LOG_INFO, "re-activated %s", name);
	return 0;
}

/*
 * The snapshotter core: containerd's snapshot model (keys, kinds, parents) mapped onto the
 * thin devices of one pool and the journal. Every pool change follows LVM's protocol:
 * journal an intent, send the pool messages, set_transaction_id N N+1, journal the
 * completion; open resolves what a crash left in between.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#include "base/cleanup.h"
#include "base/fault.h"
#include "meta/meta.h"
#include "mkfs/mkfs.h"
#include "snap/filter.h"
#include "snap/snap.h"

#define DEFAULT_BASE_SIZE (10ull << 30)
#define DEFAULT_MIN_FREE  10 /* percent of data and of metadata space */
/* How long a thin_ls walk of the pool serves usage_detail (the kernel commits its metadata,
 * which thin_ls reads, about once a second anyway). */
#define USAGE_CACHE_NS    1000000000
/* Internal keys start with a byte containerd never sends in practice; walk/stat hide them. */
#define INTERNAL_PREFIX   "\x1fthinsnap/"

struct thinsnap_snapshotter {
	char *state_dir;
	char *pool_name;
	char *fs_type;
	char *fs_options;
	uint64_t base_size_bytes;
	bool async_remove;
	bool discard_blocks;
	bool read_only;
	bool closed;
	int min_free_data_percent; /* 0: no floor */
	int min_free_metadata_percent;
	void (*log)(void *userdata, enum thinsnap_log_level level, const char *msg);
	void *log_userdata;

	struct thinsnap_pool *pool;  /* for writers, under write_lock */
	struct thinsnap_pool *rpool; /* for readers (usage), under rpool_lock */
	pthread_mutex_t rpool_lock;
	struct thinsnap_pool *epool; /* for thinsnap_wait_pool_event(), under event_lock */
	pthread_mutex_t event_lock;
	/* The last thin_ls result, under rpool_lock: reused for USAGE_CACHE_NS while the pool's
	 * transaction id stays the same (usage_cache_ns 0: none). */
	struct thinsnap_pool_thin_usage *usage_cache;
	size_t n_usage_cache;
	int64_t usage_cache_ns; /* CLOCK_MONOTONIC */
	uint64_t usage_cache_tid;
	struct thinsnap_meta *meta;
	uint64_t tid; /* the pool's transaction id as this handle last set it */
	char *base_key;

	/* write_lock serialises mutations; state_lock guards the journal's in-memory state
	 * (readers share it, a writer takes it only around journal updates). */
	pthread_mutex_t write_lock;
	pthread_rwlock_t state_lock;
};

static void unlock_mutexp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}

static void unlock_rwlockp(pthread_rwlock_t **l)
{
	if (*l)
		pthread_rwlock_unlock(*l);
}

#define CLEANUP_UNLOCK  CLEANUP(unlock_mutexp)
#define CLEANUP_RUNLOCK CLEANUP(unlock_rwlockp)

static pthread_mutex_t *lock_writes(struct thinsnap_snapshotter *s)
{
	pthread_mutex_lock(&s->write_lock);
	return &s->write_lock;
}

static pthread_rwlock_t *lock_state_read(struct thinsnap_snapshotter *s)
{
	pthread_rwlock_rdlock(&s->state_lock);
	return &s->state_lock;
}

static void logf_(struct thinsnap_snapshotter *s, enum thinsnap_log_level level, const char *fmt,
		  ...) __attribute__((format(printf, 3, 4)));
static void logf_(struct thinsnap_snapshotter *s, enum thinsnap_log_level level, const char *fmt,
		  ...)
{
	char buf[512];
	va_list ap;

	if (!s->log)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->log(s->log_userdata, level, buf);
}

static int64_t clock_ns(clockid_t clock)
{
	struct timespec ts;

	(void)clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ns(void)
{
	return clock_ns(CLOCK_REALTIME);
}

const char *thinsnap_kind_name(enum thinsnap_kind kind)
{
	switch (kind) {
	case THINSNAP_KIND_VIEW:
		return "view";
	case THINSNAP_KIND_ACTIVE:
		return "active";
	case THINSNAP_KIND_COMMITTED:
		return "committed";
	case THINSNAP_KIND_UNKNOWN:
		break;
	}
	return "unknown";
}

static enum thinsnap_kind kind_from_meta(enum thinsnap_meta_kind k)
{
	switch (k) {
	case THINSNAP_META_VIEW:
		return THINSNAP_KIND_VIEW;
	case THINSNAP_META_ACTIVE:
		return THINSNAP_KIND_ACTIVE;
	case THINSNAP_META_COMMITTED:
		return THINSNAP_KIND_COMMITTED;
	case THINSNAP_META_INTERNAL:
		break;
	}
	return THINSNAP_KIND_UNKNOWN;
}

/* A short, printable form of a key for messages (keys may be 4 KiB of anything). */
static const char *shown(const char *key, char buf[static 80])
{
	size_t n = strlen(key);

	if (n < 72)
		return key;
	snprintf(buf, 80, "%.32s...%s", key, key + n - 32);
	return buf;
}

void thinsnap_snap_dm_name(const char *pool_name, uint32_t dev_id, bool base, char *buf,
			   size_t size)
{
	(void)snprintf(buf, size, "%s-%s-%" PRIu32, pool_name, base ? "base" : "snap", dev_id);
}

static void dm_name_of(const struct thinsnap_snapshotter *s, const struct thinsnap_meta_snap *e,
		       char buf[static THINSNAP_POOL_DM_NAME_MAX + 1])
{
	thinsnap_snap_dm_name(s->pool_name, e->dev_id, e->kind == THINSNAP_META_INTERNAL, buf,
			      THINSNAP_POOL_DM_NAME_MAX + 1);
}

static bool is_internal_key(const char *key)
{
	return strncmp(key, INTERNAL_PREFIX, strlen(INTERNAL_PREFIX)) == 0;
}

static int check_key(const char *what, const char *key, struct thinsnap_error *reterr)
{
	size_t n;

	if (!key || !*key)
		return thinsnap_error_setf(reterr, -EINVAL, "%s must not be empty", what);
	n = strlen(key);
	if (n > THINSNAP_META_KEY_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "%s is %zu bytes long, more than %u",
					   what, n, THINSNAP_META_KEY_MAX);
	if (is_internal_key(key))
		return thinsnap_error_setf(reterr, -EINVAL, "%s uses the reserved prefix \\x1f",
					   what);
	return 0;
}

static int check_labels(const struct thinsnap_label *labels, size_t n,
			struct thinsnap_error *reterr)
{
	if (n && !labels)
		return thinsnap_error_setf(reterr, -EINVAL, "labels missing");
	for (size_t i = 0; i < n; i++) {
		size_t len;
		if (!labels[i].key || !*labels[i].key)
			return thinsnap_error_setf(reterr, -EINVAL, "label key must not be empty");
		len = strlen(labels[i].key) + (labels[i].value ? strlen(labels[i].value) : 0);
		if (len > THINSNAP_META_LABEL_MAX)
			return thinsnap_error_setf(
				reterr, -EINVAL,
				"label key and value of '%.64s' are %zu bytes, more than %u",
				labels[i].key, len, THINSNAP_META_LABEL_MAX);
	}
	return 0;
}

static int check_open(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	if (!s)
		return thinsnap_error_setf(reterr, -EINVAL, "no snapshotter");
	if (s->closed)
		return thinsnap_error_setf(reterr, -EBADF, "snapshotter is closed");
	return 0;
}

/*
 * Mutations need an open, writable handle and a pool in read-write mode. The pool status it
 * read goes to *ret_st (NULL allowed), for check_space_floors() under the same write lock.
 */
static int check_writable_status(struct thinsnap_snapshotter *s,
				 struct thinsnap_pool_status *ret_st, struct thinsnap_error *reterr)
{
	struct thinsnap_pool_status st;
	int r;

	r = check_open(s, reterr);
	if (r < 0)
		return r;
	if (s->read_only)
		return thinsnap_error_setf(reterr, -EROFS, "snapshotter is open read-only");
	r = thinsnap_pool_status(s->pool, &st, reterr);
	if (r < 0)
		return r;
	if (ret_st)
		*ret_st = st;
	if (st.needs_check)
		return thinsnap_error_setf(reterr, -ENODEV,
					   "pool '%s' needs a check: run 'thinsnap repair' (with "
					   "thinsnapd stopped)",
					   s->pool_name);
	/* read-only without needs_check: the kernel's out-of-metadata-space mode (we never
	 * load pools read-only), which growing the metadata device ends */
	if (st.mode == THINSNAP_POOL_MODE_RO)
		return thinsnap_error_setf(reterr, -ENODEV,
					   "pool '%s' is out of metadata space (%" PRIu64
					   " of %" PRIu64 " blocks used): grow it with 'thinsnap "
					   "pool grow --metadata SIZE' (with thinsnapd stopped)",
					   s->pool_name, st.used_metadata_blocks,
					   st.total_metadata_blocks);
	if (st.mode == THINSNAP_POOL_MODE_FAIL)
		return thinsnap_error_setf(reterr, -ENODEV,
					   "pool '%s' is %s: run 'thinsnap repair' (with thinsnapd "
					   "stopped)",
					   s->pool_name, thinsnap_pool_mode_name(st.mode));
	return 0;
}

static int check_writable(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	return check_writable_status(s, NULL, reterr);
}

/* "62.0 MiB", "1.0 GiB": a size for messages. */
static const char *human_size(uint64_t bytes, char buf[static 32])
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	size_t u = 0;

	if (bytes < 1024) {
		(void)snprintf(buf, 32, "%" PRIu64 " bytes", bytes);
		return buf;
	}
	while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
		v /= 1024;
		u++;
	}
	(void)snprintf(buf, 32, "%.1f %s", v, units[u]);
	return buf;
}

static int check_floor(struct thinsnap_snapshotter *s, const char *what, uint64_t used,
		       uint64_t total, int floor_percent, struct thinsnap_error *reterr)
{
	char fb[32], tb[32];
	uint64_t free_bytes = total > used ? total - used : 0;

	if (floor_percent <= 0 || total == 0)
		return 0;
	/* free / total < floor / 100, in integers */
	if ((unsigned __int128)free_bytes * 100 >=
	    (unsigned __int128)total * (unsigned)floor_percent)
		return 0;
	return thinsnap_error_setf(reterr, -ENOSPC,
				   "pool '%s': %.1f%% of %s space free (%s of %s), below the %d%% "
				   "floor",
				   s->pool_name, (double)free_bytes * 100.0 / (double)total, what,
				   human_size(free_bytes, fb), human_size(total, tb),
				   floor_percent);
}

/*
 * Before creating a thin device: -ENOSPC while free data or metadata space is below its
 * floor, so that writes to existing devices keep the room they need (under write_lock).
 * known: the pool's status read under this write lock with nothing created since, or NULL
 * to read it here (a status read is an ioctl, a tenth of a prepare).
 */
static int check_space_floors_status(struct thinsnap_snapshotter *s,
				     const struct thinsnap_pool_status *known,
				     struct thinsnap_error *reterr)
{
	struct thinsnap_pool_status st;
	int r;

	if (s->min_free_data_percent <= 0 && s->min_free_metadata_percent <= 0)
		return 0;
	if (known) {
		st = *known;
	} else {
		r = thinsnap_pool_status(s->pool, &st, reterr);
		if (r < 0)
			return r;
	}
	r = check_floor(s, "data", st.used_data_bytes, st.total_data_bytes,
			s->min_free_data_percent, reterr);
	if (r < 0)
		return r;
	return check_floor(s, "metadata", st.used_metadata_bytes, st.total_metadata_bytes,
			   s->min_free_metadata_percent, reterr);
}

static int check_space_floors(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	return check_space_floors_status(s, NULL, reterr);
}

/* ---- conversions ---- */

void thinsnap_info_free(struct thinsnap_info *info)
{
	if (!info)
		return;
	free(info->name);
	free(info->parent);
	for (size_t i = 0; i < info->n_labels; i++) {
		free((char *)info->labels[i].key);
		free((char *)info->labels[i].value);
	}
	free(info->labels);
	free(info);
}

DEFINE_CLEANUP(struct thinsnap_info *, thinsnap_info_free)

static int info_from_meta(const struct thinsnap_meta_snap *e, struct thinsnap_info **ret)
{
	CLEANUP(thinsnap_info_freep) struct thinsnap_info *info = NULL;

	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	info->name = strdup(e->key);
	if (!info->name)
		return -ENOMEM;
	if (e->parent) {
		info->parent = strdup(e->parent);
		if (!info->parent)
			return -ENOMEM;
	}
	info->kind = kind_from_meta(e->kind);
	info->created_ns = e->created_ns;
	info->updated_ns = e->updated_ns;
	if (e->n_labels) {
		info->labels = calloc(e->n_labels, sizeof(*info->labels));
		if (!info->labels)
			return -ENOMEM;
		for (size_t i = 0; i < e->n_labels; i++) {
			info->labels[i].key = strdup(e->labels[i].key);
			info->labels[i].value = strdup(e->labels[i].value);
			info->n_labels = i + 1;
			if (!info->labels[i].key || !info->labels[i].value)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(info);
	return 0;
}

void thinsnap_mount_free(struct thinsnap_mount *m)
{
	if (!m)
		return;
	free(m->type);
	free(m->source);
	for (size_t i = 0; i < m->n_options; i++)
		free(m->options[i]);
	free(m->options);
	free(m);
}

DEFINE_CLEANUP(struct thinsnap_mount *, thinsnap_mount_free)

static int mount_for(const struct thinsnap_snapshotter *s, const struct thinsnap_meta_snap *e,
		     struct thinsnap_mount **ret, struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_mount_freep) struct thinsnap_mount *m = NULL;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];

	dm_name_of(s, e, name);
	if (thinsnap_pool_dev_path(name, path, sizeof(path)) < 0)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "device name '%s' too long",
					   name);
	m = calloc(1, sizeof(*m));
	if (!m)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	m->type = strdup(*e->fs_type ? e->fs_type : "ext4");
	m->source = strdup(path);
	m->options = calloc(3, sizeof(char *));
	if (!m->type || !m->source || !m->options)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (strcmp(m->type, "xfs") == 0) {
		/* every snapshot carries its base's uuid, which xfs refuses to mount twice; a
		 * read-only device must not replay the log */
		bool view = e->kind == THINSNAP_META_VIEW;
		const char *xo[] = { "ro", "nouuid", "norecovery" };
		for (size_t i = view ? 0 : 1; i < (view ? 3u : 2u); i++) {
			m->options[m->n_options] = strdup(xo[i]);
			if (!m->options[m->n_options])
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			m->n_options++;
		}
	} else if (e->kind == THINSNAP_META_VIEW) {
		/* the device is read-only: ext3/4 must not replay its journal */
		bool ext = strncmp(m->type, "ext", 3) == 0;
		m->options[0] = strdup("ro");
		m->options[1] = ext ? strdup("noload") : NULL;
		if (!m->options[0] || (ext && !m->options[1]))
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		m->n_options = ext ? 2 : 1;
	}
	*ret = TAKE_PTR(m);
	return 0;
}

/* ---- the pool transaction: intent, pool step, transaction id, completion ---- */

struct pool_step {
	/* does the pool work; on failure it has undone what it did */
	int (*run)(struct thinsnap_snapshotter *s, void *ctx, struct thinsnap_error *reterr);
	/* undoes a successful run (when the transaction id can't be set) */
	void (*undo)(struct thinsnap_snapshotter *s, void *ctx);
	void *ctx;
};

static int journal_intent_begin(struct thinsnap_snapshotter *s,
				const struct thinsnap_meta_intent *in, uint64_t *ret_id,
				struct thinsnap_error *reterr)
{
	int r;

	pthread_rwlock_wrlock(&s->state_lock);
	r = thinsnap_meta_intent_begin(s->meta, in, ret_id, reterr);
	pthread_rwlock_unlock(&s->state_lock);
	return r;
}

static int journal_intent_finish(struct thinsnap_snapshotter *s, uint64_t id, bool completed,
				 struct thinsnap_error *reterr)
{
	int r;

	pthread_rwlock_wrlock(&s->state_lock);
	/* lazy: the pool's transaction id decides an unfinished intent at the next open */
	r = thinsnap_meta_intent_finish_lazy(s->meta, id, completed, reterr);
	pthread_rwlock_unlock(&s->state_lock);
	return r;
}

static int journal_apply(struct thinsnap_snapshotter *s, const struct thinsnap_meta_op *ops,
			 size_t n, struct thinsnap_error *reterr)
{
	int r;

	pthread_rwlock_wrlock(&s->state_lock);
	r = thinsnap_meta_apply(s->meta, ops, n, reterr);
	pthread_rwlock_unlock(&s->state_lock);
	return r;
}

static int pool_txn(struct thinsnap_snapshotter *s, const struct thinsnap_meta_pool_op *pool_ops,
		    size_t n_pool_ops, const struct thinsnap_meta_op *ops, size_t n_ops,
		    const struct pool_step *step, struct thinsnap_error *reterr)
{
	struct thinsnap_meta_intent in = {
		.pool_ops = pool_ops,
		.n_pool_ops = n_pool_ops,
		.transaction_id_before = s->tid,
		.transaction_id_after = s->tid + 1,
		.ops = ops,
		.n_ops = n_ops,
	};
	uint64_t id = 0;
	int r;

	r = journal_intent_begin(s, &in, &id, reterr);
	if (r < 0)
		return r;
	r = THINSNAP_FAULT("snap.txn.after_intent");
	if (r >= 0)
		r = step->run(s, step->ctx, reterr);
	else
		thinsnap_error_setf(reterr, r, "injected fault after the intent");
	if (r >= 0) {
		r = THINSNAP_FAULT("snap.txn.after_pool");
		if (r >= 0)
			r = thinsnap_pool_set_transaction_id(s->pool, in.transaction_id_before,
							     in.transaction_id_after, reterr);
		else
			thinsnap_error_setf(reterr, r, "injected fault after the pool step");
		if (r < 0 && step->undo)
			step->undo(s, step->ctx);
	}
	if (r < 0) {
		/* nothing of it is in the pool now: drop the intent (if this fails, the
		 * next open rolls it back) */
		(void)journal_intent_finish(s, id, false, NULL);
		return r;
	}
	s->tid = in.transaction_id_after;
	r = THINSNAP_FAULT("snap.txn.after_tid");
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "injected fault after the transaction id");
	r = journal_intent_finish(s, id, true, reterr);
	if (r < 0)
		return r; /* the pool has it; the next open completes it */
	return THINSNAP_FAULT("snap.txn.after_finish");
}

/* ---- pool steps ---- */

struct create_ctx {
	uint32_t dev_id;
	uint32_t origin_id; /* UINT32_MAX: a fresh thin device */
	const char *origin_dm_name;
	const char *dm_name; /* NULL: leave inactive */
	uint64_t size_bytes;
	bool read_only;
	const char *grow_fs_type; /* non-NULL: grow the origin's filesystem to size_bytes */
};

static int create_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct create_ctx *c = v;
	int r;

	if (c->origin_id == UINT32_MAX)
		r = thinsnap_pool_create_thin(s->pool, c->dev_id, reterr);
	else
		r = thinsnap_pool_create_snap(s->pool, c->dev_id, c->origin_id, c->origin_dm_name,
					      reterr);
	if (r < 0)
		return r;
	if (!c->dm_name)
		return 0;
	r = thinsnap_pool_activate_thin(s->pool, c->dev_id, c->dm_name, c->size_bytes, c->read_only,
					reterr);
	if (r < 0)
		(void)thinsnap_pool_delete_thin(s->pool, c->dev_id, NULL);
	return r;
}

static void create_undo(struct thinsnap_snapshotter *s, void *v)
{
	struct create_ctx *c = v;

	if (c->dm_name)
		(void)thinsnap_pool_deactivate_thin(s->pool, c->dm_name, NULL);
	(void)thinsnap_pool_delete_thin(s->pool, c->dev_id, NULL);
}

/* create_run, then (for a snapshot larger than its origin) an online grow of its fs. */
static int create_grow_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct create_ctx *c = v;
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];
	int r;

	r = create_run(s, c, reterr);
	if (r < 0 || !c->grow_fs_type || !c->dm_name)
		return r;
	(void)thinsnap_pool_dev_path(c->dm_name, path, sizeof(path));
	r = THINSNAP_FAULT("snap.create.before_grow");
	if (r >= 0)
		r = thinsnap_mkfs_grow(path, c->grow_fs_type, c->size_bytes, s->state_dir, reterr);
	else
		thinsnap_error_setf(reterr, r, "injected fault before growing the filesystem");
	if (r < 0)
		create_undo(s, c);
	return r;
}

#define SIZE_ALIGN 4096u

/* The max-size label: 0 if absent, else the size rounded up to SIZE_ALIGN. */
static int size_label(const struct thinsnap_label *labels, size_t n, uint64_t *ret,
		      struct thinsnap_error *reterr)
{
	const char *v = NULL;
	uint64_t size = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].key, THINSNAP_LABEL_MAX_SIZE) == 0)
			v = labels[i].value ? labels[i].value : "";
	*ret = 0;
	if (!v)
		return 0;
	if (!*v)
		return thinsnap_error_setf(reterr, -EINVAL, "label %s is empty",
					   THINSNAP_LABEL_MAX_SIZE);
	for (const char *p = v; *p; p++) {
		if (*p < '0' || *p > '9')
			return thinsnap_error_setf(reterr, -EINVAL,
						   "label %s='%.32s' is not a number of bytes",
						   THINSNAP_LABEL_MAX_SIZE, v);
		if (size > (UINT64_MAX - SIZE_ALIGN) / 10)
			return thinsnap_error_setf(reterr, -EINVAL, "label %s='%.32s' is too large",
						   THINSNAP_LABEL_MAX_SIZE, v);
		size = size * 10 + (uint64_t)(*p - '0');
	}
	if (size == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "label %s must not be 0",
					   THINSNAP_LABEL_MAX_SIZE);
	*ret = (size + SIZE_ALIGN - 1) / SIZE_ALIGN * SIZE_ALIGN;
	return 0;
}

/* A thin device whose size is forgotten (a pending delete) is activated this large to
 * discard it: only the part up to its highest mapped block is discarded. */
#define DISCARD_UNKNOWN_SIZE (1ull << 50)

/*
 * Discards every mapped block of an inactive thin device, so the pool gets them back at once
 * (and, with discard passdown, the data device: a loop file gets holes). size_bytes 0: unknown.
 */
static int discard_device(struct thinsnap_snapshotter *s, uint32_t dev_id, uint64_t size_bytes,
			  struct thinsnap_error *reterr)
{
	char name[THINSNAP_POOL_DM_NAME_MAX + 1], path[THINSNAP_POOL_DM_NAME_MAX + 32];
	struct thinsnap_pool_thin_info ti = { 0 };
	CLEANUP_CLOSE int fd = -EBADF;
	uint64_t range[2] = { 0, size_bytes };
	int r;

	if (!size_bytes)
		size_bytes = DISCARD_UNKNOWN_SIZE;
	(void)snprintf(name, sizeof(name), "%s-discard-%" PRIu32, s->pool_name, dev_id);
	(void)thinsnap_pool_dev_path(name, path, sizeof(path));
	r = thinsnap_pool_activate_thin(s->pool, dev_id, name, size_bytes, false, reterr);
	if (r < 0)
		return r;
	/* discard up to the highest mapped block: nothing beyond it is in the pool */
	if (thinsnap_pool_thin_info(s->pool, name, &ti, NULL) == 0 && ti.exists)
		range[1] = ti.mapped_end_bytes < size_bytes ? ti.mapped_end_bytes : size_bytes;
	else
		range[1] = size_bytes;
	if (range[1] == 0)
		return thinsnap_pool_deactivate_thin(s->pool, name, reterr);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, BLKDISCARD, range) < 0)
		logf_(s, THINSNAP_LOG_WARNING, "discard of '%s' failed: %s", name, strerror(errno));
	if (fd >= 0)
		(void)close(TAKE_FD(fd));
	return thinsnap_pool_deactivate_thin(s->pool, name, reterr);
}

struct delete_ctx {
	uint32_t dev_id;
	uint64_t size_bytes;
};

static int delete_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct delete_ctx *c = v;
	int r;

	if (s->discard_blocks)
		(void)discard_device(s, c->dev_id, c->size_bytes, NULL);
	r = thinsnap_pool_delete_thin(s->pool, c->dev_id, reterr);
	if (r == -ENOENT)
		return 0; /* already gone: the intent only records it */
	return r;
}

/* Deletes dev_id from the pool, journaling ops on completion. */
static int delete_txn(struct thinsnap_snapshotter *s, uint32_t dev_id, uint64_t size_bytes,
		      const struct thinsnap_meta_op *ops, size_t n_ops,
		      struct thinsnap_error *reterr)
{
	struct thinsnap_meta_pool_op pop = { .type = THINSNAP_META_POOL_DELETE, .dev_id = dev_id };
	struct delete_ctx c = { .dev_id = dev_id, .size_bytes = size_bytes };
	struct pool_step step = { .run = delete_run, .undo = NULL, .ctx = &c };

	return pool_txn(s, &pop, 1, ops, n_ops, &step, reterr);
}

/* ---- the base device: one formatted thin device per fs configuration ---- */

static int make_base_key(struct thinsnap_snapshotter *s)
{
	if (asprintf(&s->base_key, INTERNAL_PREFIX "base/%s/%" PRIu64 "/%s", s->fs_type,
		     s->base_size_bytes, s->fs_options ? s->fs_options : "") < 0) {
		s->base_key = NULL;
		return -ENOMEM;
	}
	return 0;
}

struct base_ctx {
	struct create_ctx create;
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];
	const struct thinsnap_mkfs_opts *mkfs;
	uint64_t mapped_bytes;
};

static int base_run(struct thinsnap_snapshotter *s, void *v, struct thinsnap_error *reterr)
{
	struct base_ctx *c = v;
	struct thinsnap_pool_thin_info ti = { 0 };
	int r;

	r = create_run(s, &c->create, reterr);
	if (r < 0)
		return r;
	r = thinsnap_mkfs_format(c->path, c->create.size_bytes, c->mkfs, reterr);
	if (r >= 0)
		r = thinsnap_mkfs_verify(c->path, s->fs_type, reterr);
	if (r >= 0)
		r = thinsnap_pool_thin_info(s->pool, c->create.dm_name, &ti, reterr);
	if (r >= 0) {
		c->mapped_bytes = ti.mapped_sectors * 512;
		r = thinsnap_pool_deactivate_thin(s->pool, c->create.dm_name, reterr);
	}
	if (r < 0)
		create_undo(s, &c->create);
	return r;
}

/* The base entry for the configured fs, formatting it on first use (under write_lock). */
static int ensure_base(struct thinsnap_snapshotter *s, const struct thinsnap_meta_snap **ret,
		       struct thinsnap_error *reterr)
{
	struct thinsnap_mkfs_opts mo = { .fs_type = s->fs_type, .fs_options = s->fs_options };
	struct base_ctx c = { .mkfs = &mo };
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	const struct thinsnap_meta_snap *e;
	uint32_t dev_id;
	int64_t now = now_ns();
	int r;

	e = thinsnap_meta_get(s->meta, s->base_key);
	if (e) {
		*ret = e;
		return 0;
	}
	r = check_space_floors(s, reterr);
	if (r < 0)
		return r;
	r = thinsnap_meta_alloc_dev_id(s->meta, &dev_id, reterr);
	if (r < 0)
		return r;
	thinsnap_snap_dm_name(s->pool_name, dev_id, true, name, sizeof(name));
	(void)thinsnap_pool_dev_path(name, c.path, sizeof(c.path));
	c.create = (struct create_ctx){ .dev_id = dev_id,
					.origin_id = UINT32_MAX,
					.dm_name = name,
					.size_bytes = s->base_size_bytes };
	struct thinsnap_meta_pool_op pop = { .type = THINSNAP_META_POOL_CREATE_THIN,
					     .dev_id = dev_id };
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
				       .key = s->base_key,
				       .kind = THINSNAP_META_INTERNAL,
				       .dev_id = dev_id,
				       .size_bytes = s->base_size_bytes,
				       .fs_type = s->fs_type,
				       .created_ns = now,
				       .updated_ns = now };
	struct pool_step step = { .run = base_run, .undo = create_undo, .ctx = &c };

	r = pool_txn(s, &pop, 1, &op, 1, &step, reterr);
	if (r < 0)
		return r;
	/* remember how much the empty filesystem maps: usage is counted beyond it */
	struct thinsnap_meta_op us = { .type = THINSNAP_META_OP_USAGE_SET,
				       .key = s->base_key,
				       .usage_bytes = c.mapped_bytes };
	(void)journal_apply(s, &us, 1, NULL);
	logf_(s, THINSNAP_LOG_INFO, "formatted base device %s (%s, %" PRIu64 " bytes)", name,
	      s->fs_type, s->base_size_bytes);
	e = thinsnap_meta_get(s->meta, s->base_key);
	if (!e)
		return thinsnap_error_setf(reterr, -EIO, "base device vanished from the journal");
	*ret = e;
	return 0;
}

/* ---- open / close ---- */

static int resolve_intent(const struct thinsnap_meta_intent *in, void *userdata);

struct resolve_ctx {
	struct thinsnap_snapshotter *s;
	struct thinsnap_error *reterr;
	uint64_t ids[64];
	bool completed[64];
	size_t n;
	int r;
};

/*
 * What recovery does with an unfinished intent when the pool's transaction id is tid: the
 * pool committed it (after): complete it; it did not (before): undo it, except a delete,
 * which can't be undone and is finished instead; anything else: the journal does not
 * describe this pool.
 */
static enum thinsnap_recovery intent_recovery(const struct thinsnap_meta_intent *in, uint64_t tid)
{
	if (tid == in->transaction_id_after)
		return THINSNAP_RECOVERY_ROLL_FORWARD;
	if (tid != in->transaction_id_before)
		return THINSNAP_RECOVERY_MISMATCH;
	for (size_t i = 0; i < in->n_pool_ops; i++)
		if (in->pool_ops[i].type == THINSNAP_META_POOL_DELETE)
			return THINSNAP_RECOVERY_ROLL_FORWARD;
	return THINSNAP_RECOVERY_ROLL_BACK;
}

static int resolve_intent(const struct thinsnap_meta_intent *in, void *userdata)
{
	struct resolve_ctx *c = userdata;
	struct thinsnap_snapshotter *s = c->s;
	uint64_t tid = s->tid;

	if (c->n >= ELEMENTSOF(c->ids))
		return thinsnap_error_setf(c->reterr, -EUCLEAN, "too many unfinished intents");
	if (tid == in->transaction_id_after) {
		c->ids[c->n] = in->id;
		c->completed[c->n++] = true;
		return 0;
	}
	if (intent_recovery(in, tid) == THINSNAP_RECOVERY_MISMATCH)
		return thinsnap_error_setf(c->reterr, -EUCLEAN,
					   "pool '%s' has transaction id %" PRIu64
					   ", but the unfinished operation %" PRIu64
					   " expects %" PRIu64 " or %" PRIu64
					   ": run 'thinsnap check'",
					   s->pool_name, tid, in->id, in->transaction_id_before,
					   in->transaction_id_after);
	/* Not committed by the pool: undo what may have reached it. A delete can't be
	 * undone; finish it instead. */
	bool roll_forward = false;
	for (size_t i = 0; i < in->n_pool_ops; i++) {
		const struct thinsnap_meta_pool_op *p = &in->pool_ops[i];
		char name[THINSNAP_POOL_DM_NAME_MAX + 1];
		int r;

		if (p->type == THINSNAP_META_POOL_DELETE) {
			r = thinsnap_pool_delete_thin(s->pool, p->dev_id, c->reterr);
			if (r < 0 && r != -ENOENT)
				return r;
			roll_forward = true;
			continue;
		}
		for (int base = 0; base < 2; base++) {
			thinsnap_snap_dm_name(s->pool_name, p->dev_id, base, name, sizeof(name));
			r = thinsnap_pool_deactivate_thin(s->pool, name, c->reterr);
			if (r < 0)
				return r;
		}
		(void)snprintf(name, sizeof(name), "%s-discard-%" PRIu32, s->pool_name, p->dev_id);
		(void)thinsnap_pool_deactivate_thin(s->pool, name, NULL);
		r = thinsnap_pool_delete_thin(s->pool, p->dev_id, c->reterr);
		if (r < 0 && r != -ENOENT)
			return r;
	}
	if (roll_forward) {
		int r = thinsnap_pool_set_transaction_id(s->pool, in->transaction_id_before,
							 in->transaction_id_after, c->reterr);
		if (r < 0)
			return r;
		s->tid = in->transaction_id_after;
	}
	c->ids[c->n] = in->id;
	c->completed[c->n++] = roll_forward;
	return 0;
}

static int recover(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	struct resolve_ctx c = { .s = s, .reterr = reterr };
	int r;

	r = thinsnap_meta_unfinished(s->meta, resolve_intent, &c);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c.n; i++) {
		r = thinsnap_meta_intent_finish(s->meta, c.ids[i], c.completed[i], reterr);
		if (r < 0)
			return r;
		logf_(s, THINSNAP_LOG_INFO, "recovered operation %" PRIu64 ": %s", c.ids[i],
		      c.completed[i] ? "completed" : "rolled back");
	}
	return 0;
}

struct reactivate_ctx {
	struct thinsnap_snapshotter *s;
	char **active; /* the pool's active dm names, sorted: skip those without an ioctl each */
	size_t n_active;
	struct thinsnap_error *reterr;
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int reactivate_one(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct reactivate_ctx *c = userdata;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	struct thinsnap_pool_thin_info ti = { 0 };
	int r;

	if (e->kind != THINSNAP_META_ACTIVE && e->kind != THINSNAP_META_VIEW)
		return 0;
	dm_name_of(c->s, e, name);
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
	logf_(c->s, THINSNAP_LOG_INFO, "re-activated %s", name);
	return 0;
}

DEFINE_CLEANUP(struct thinsnap_snapshotter *, thinsnap_free)

static int dup_opt(const char *v, const char *def, char **ret)
{
	*ret = strdup(v && *v ? v : def);
	return *ret ? 0 : -ENOMEM;
}

/* A handle on the pool recorded in <state_dir>/pool. */
static int open_pool(struct thinsnap_snapshotter *s, struct thinsnap_pool **ret,
		     struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *pool_dir = NULL;

	if (asprintf(&pool_dir, "%s/pool", s->state_dir) < 0) {
		pool_dir = NULL;
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	}
	return thinsnap_pool_open(s->pool_name, pool_dir, ret, reterr);
}

/* The journal, as this handle opens it; a reader of a pool never written to gets NULL. */
static int open_meta(struct thinsnap_snapshotter *s, struct thinsnap_meta **ret,
		     struct thinsnap_error *reterr)
{
	struct thinsnap_meta_open_opts mo = {
		.state_dir = s->state_dir,
		.pool_uuid = thinsnap_pool_uuid(s->pool),
		.read_only = s->read_only,
	};
	int r = thinsnap_meta_open(&mo, ret, reterr);

	if (r == -ENOENT && s->read_only) {
		/* nothing written yet: a reader sees no snapshots */
		thinsnap_error_clear(reterr);
		*ret = NULL;
		r = 0;
	}
	return r;
}

int thinsnap_open(const struct thinsnap_options *o, struct thinsnap_snapshotter **ret,
		  struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	int r;

	if (!o || !ret || !o->state_dir || !*o->state_dir || !o->pool_name || !*o->pool_name)
		return thinsnap_error_setf(reterr, -EINVAL, "state_dir and pool_name are required");
	if (strlen(o->pool_name) > THINSNAP_POOL_DM_NAME_MAX - 14)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG,
					   "pool name '%.40s...' is longer than %d bytes",
					   o->pool_name, THINSNAP_POOL_DM_NAME_MAX - 14);
	if (o->fs_type && *o->fs_type && strcmp(o->fs_type, "ext4") != 0 &&
	    strcmp(o->fs_type, "ext3") != 0 && strcmp(o->fs_type, "ext2") != 0 &&
	    strcmp(o->fs_type, "xfs") != 0)
		return thinsnap_error_setf(reterr, -EINVAL, "fs_type '%s' is not supported",
					   o->fs_type);
	if (o->base_size_bytes % 512)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "base size %" PRIu64 " is not a multiple of 512",
					   o->base_size_bytes);
	if (o->min_free_data_percent > 100 || o->min_free_metadata_percent > 100)
		return thinsnap_error_setf(
			reterr, -EINVAL,
			"a free space floor above 100%% (data %d%%, metadata %d%%)",
			o->min_free_data_percent, o->min_free_metadata_percent);

	s = calloc(1, sizeof(*s));
	if (!s)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	pthread_mutex_init(&s->write_lock, NULL);
	pthread_mutex_init(&s->rpool_lock, NULL);
	pthread_mutex_init(&s->event_lock, NULL);
	pthread_rwlock_init(&s->state_lock, NULL);
	s->closed = true; /* until everything is open */
	if (dup_opt(o->state_dir, "", &s->state_dir) < 0 ||
	    dup_opt(o->pool_name, "", &s->pool_name) < 0 ||
	    dup_opt(o->fs_type, "ext4", &s->fs_type) < 0 ||
	    dup_opt(o->fs_options, "", &s->fs_options) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	s->base_size_bytes = o->base_size_bytes ? o->base_size_bytes : DEFAULT_BASE_SIZE;
	s->async_remove = o->async_remove;
	s->min_free_data_percent =
		o->min_free_data_percent ? o->min_free_data_percent : DEFAULT_MIN_FREE;
	s->min_free_metadata_percent =
		o->min_free_metadata_percent ? o->min_free_metadata_percent : DEFAULT_MIN_FREE;
	s->discard_blocks = o->discard_blocks;
	s->read_only = o->read_only;
	s->log = o->log;
	s->log_userdata = o->log_userdata;
	if (make_base_key(s) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");

	r = open_pool(s, &s->pool, reterr);
	if (r < 0)
		return r;
	r = open_pool(s, &s->rpool, reterr);
	if (r < 0)
		return r;
	r = open_meta(s, &s->meta, reterr);
	if (r < 0)
		return r;
	r = thinsnap_pool_transaction_id(s->pool, &s->tid, reterr);
	if (r < 0)
		return r;
	if (!s->read_only) {
		r = recover(s, reterr);
		if (r < 0)
			return r;
		/* one list ioctl, then a check only for what is not active (after a reboot) */
		struct reactivate_ctx rc = { .s = s, .reterr = reterr };
		r = thinsnap_pool_active_names(s->pool, &rc.active, &rc.n_active, reterr);
		if (r < 0)
			return r;
		r = thinsnap_meta_walk(s->meta, reactivate_one, &rc);
		thinsnap_pool_names_free(rc.active, rc.n_active);
		if (r < 0)
			return r;
	}
	s->closed = false;
	*ret = TAKE_PTR(s);
	return 0;
}

void thinsnap_close(struct thinsnap_snapshotter *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->write_lock);
	pthread_rwlock_wrlock(&s->state_lock);
	s->closed = true;
	thinsnap_meta_free(TAKE_PTR(s->meta));
	thinsnap_pool_free(TAKE_PTR(s->pool));
	thinsnap_pool_free(TAKE_PTR(s->rpool));
	pthread_rwlock_unlock(&s->state_lock);
	pthread_mutex_unlock(&s->write_lock);
	pthread_mutex_lock(&s->event_lock);
	thinsnap_pool_free(TAKE_PTR(s->epool));
	pthread_mutex_unlock(&s->event_lock);
}

void thinsnap_free(struct thinsnap_snapshotter *s)
{
	if (!s)
		return;
	thinsnap_close(s);
	pthread_rwlock_destroy(&s->state_lock);
	pthread_mutex_destroy(&s->write_lock);
	pthread_mutex_destroy(&s->rpool_lock);
	pthread_mutex_destroy(&s->event_lock);
	free(s->state_dir);
	free(s->pool_name);
	free(s->fs_type);
	free(s->fs_options);
	free(s->base_key);
	free(s->usage_cache);
	free(s);
}

/* ---- prepare / view ---- */

static int create_snapshot(struct thinsnap_snapshotter *s, enum thinsnap_meta_kind kind,
			   const char *key, const char *parent, const struct thinsnap_label *labels,
			   size_t n_labels, struct thinsnap_mount **ret_mount,
			   struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	const struct thinsnap_meta_snap *origin = NULL, *e;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1], kb[80], pb[80];
	uint32_t dev_id;
	int64_t now;
	int r;

	r = check_key("key", key, reterr);
	if (r < 0)
		return r;
	if (parent && !*parent)
		parent = NULL;
	if (parent) {
		r = check_key("parent", parent, reterr);
		if (r < 0)
			return r;
	}
	r = check_labels(labels, n_labels, reterr);
	if (r < 0)
		return r;
	uint64_t want_size = 0;
	r = size_label(labels, n_labels, &want_size, reterr);
	if (r < 0)
		return r;
	r = check_open(s, reterr);
	if (r < 0)
		return r;
	locked = lock_writes(s);
	struct thinsnap_pool_status st;
	r = check_writable_status(s, &st, reterr);
	if (r < 0)
		return r;
	/* the status stays current unless ensure_base() creates the base device below */
	bool st_current = parent || thinsnap_meta_get(s->meta, s->base_key);

	if (thinsnap_meta_get(s->meta, key))
		return thinsnap_error_setf(reterr, -EEXIST, "snapshot '%s' already exists",
					   shown(key, kb));
	if (parent) {
		origin = thinsnap_meta_get(s->meta, parent);
		if (!origin)
			return thinsnap_error_setf(reterr, -ENOENT, "parent '%s' not found",
						   shown(parent, pb));
		if (origin->kind != THINSNAP_META_COMMITTED)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "parent '%s' is not a committed snapshot",
						   shown(parent, pb));
	} else {
		r = ensure_base(s, &origin, reterr);
		if (r < 0)
			return r;
	}
	r = check_space_floors_status(s, st_current ? &st : NULL, reterr);
	if (r < 0)
		return r;

	r = thinsnap_meta_alloc_dev_id(s->meta, &dev_id, reterr);
	if (r < 0)
		return r;
	thinsnap_snap_dm_name(s->pool_name, dev_id, false, name, sizeof(name));
	now = now_ns();
	/* origin points into the journal's state, which the intent may move: copy it */
	char fs_type[32];
	(void)snprintf(fs_type, sizeof(fs_type), "%s", origin->fs_type);
	uint64_t size_bytes = origin->size_bytes;
	uint32_t origin_id = origin->dev_id;
	bool grow = false;
	if (want_size && want_size < size_bytes)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "snapshot '%s' cannot be smaller (%" PRIu64
					   " bytes) than its parent (%" PRIu64 " bytes)",
					   shown(key, kb), want_size, size_bytes);
	if (want_size > size_bytes) {
		if (kind == THINSNAP_META_VIEW)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "view '%s' cannot be larger than its parent",
						   shown(key, kb));
		size_bytes = want_size;
		grow = true;
	}
	struct thinsnap_meta_label *ml = NULL;
	CLEANUP_FREE struct thinsnap_meta_label *ml_owned = NULL;
	if (n_labels) {
		ml_owned = ml = calloc(n_labels, sizeof(*ml));
		if (!ml)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		for (size_t i = 0; i < n_labels; i++)
			ml[i] = (struct thinsnap_meta_label){ labels[i].key,
							      labels[i].value ? labels[i].value
									      : "" };
	}
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
				       .key = key,
				       .parent = parent,
				       .kind = kind,
				       .dev_id = dev_id,
				       .size_bytes = size_bytes,
				       .fs_type = fs_type,
				       .labels = ml,
				       .n_labels = n_labels,
				       .created_ns = now,
				       .updated_ns = now };
	struct thinsnap_meta_pool_op pop = { .type = THINSNAP_META_POOL_CREATE_SNAP,
					     .dev_id = dev_id,
					     .origin_id = origin_id };
	struct create_ctx c = { .dev_id = dev_id,
				.origin_id = origin_id,
				.dm_name = name,
				.size_bytes = size_bytes,
				.read_only = kind == THINSNAP_META_VIEW,
				.grow_fs_type = grow ? fs_type : NULL };
	struct pool_step step = { .run = create_grow_run, .undo = create_undo, .ctx = &c };

	r = pool_txn(s, &pop, 1, &op, 1, &step, reterr);
	if (r < 0)
		return r;
	if (!ret_mount)
		return 0;
	e = thinsnap_meta_get(s->meta, key);
	if (!e)
		return thinsnap_error_setf(reterr, -EIO, "snapshot '%s' vanished", shown(key, kb));
	return mount_for(s, e, ret_mount, reterr);
}

int thinsnap_prepare(struct thinsnap_snapshotter *s, const char *key, const char *parent,
		     const struct thinsnap_label *labels, size_t n_labels,
		     struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	return create_snapshot(s, THINSNAP_META_ACTIVE, key, parent, labels, n_labels, ret_mount,
			       reterr);
}

int thinsnap_view(struct thinsnap_snapshotter *s, const char *key, const char *parent,
		  const struct thinsnap_label *labels, size_t n_labels,
		  struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	return create_snapshot(s, THINSNAP_META_VIEW, key, parent, labels, n_labels, ret_mount,
			       reterr);
}

/*
 * The readers' prologue: checks key and handle, takes the state lock for reading (into
 * *locked, released by the caller's CLEANUP_RUNLOCK) and finds key (-ENOENT if absent).
 */
static int read_lookup(struct thinsnap_snapshotter *s, const char *key, pthread_rwlock_t **locked,
		       const struct thinsnap_meta_snap **ret, struct thinsnap_error *reterr)
{
	const struct thinsnap_meta_snap *e;
	char kb[80];
	int r;

	r = check_key("key", key, reterr);
	if (r < 0)
		return r;
	r = check_open(s, reterr);
	if (r < 0)
		return r;
	*locked = lock_state_read(s);
	e = s->meta ? thinsnap_meta_get(s->meta, key) : NULL;
	if (!e)
		return thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found",
					   shown(key, kb));
	*ret = e;
	return 0;
}

/*
 * The writers' prologue: the handle open and writable, under the write lock (*locked, released
 * by the caller's CLEANUP_UNLOCK), then key's entry or NotFound naming it.
 */
static int write_lookup(struct thinsnap_snapshotter *s, const char *key, pthread_mutex_t **locked,
			const struct thinsnap_meta_snap **ret, struct thinsnap_error *reterr)
{
	const struct thinsnap_meta_snap *e;
	char kb[80];
	int r;

	r = check_open(s, reterr);
	if (r < 0)
		return r;
	*locked = lock_writes(s);
	r = check_writable(s, reterr);
	if (r < 0)
		return r;
	e = thinsnap_meta_get(s->meta, key);
	if (!e)
		return thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found",
					   shown(key, kb));
	*ret = e;
	return 0;
}

int thinsnap_mounts(struct thinsnap_snapshotter *s, const char *key,
		    struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	CLEANUP_RUNLOCK pthread_rwlock_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	char kb[80];
	int r;

	r = read_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (e->kind == THINSNAP_META_COMMITTED)
		return thinsnap_error_setf(reterr, -EROFS,
					   "snapshot '%s' is committed: it has no mounts",
					   shown(key, kb));
	return mount_for(s, e, ret_mount, reterr);
}

/* ---- commit ---- */

static uint64_t origin_mapped_bytes(struct thinsnap_snapshotter *s,
				    const struct thinsnap_meta_snap *e)
{
	const struct thinsnap_meta_snap *p;

	if (e->parent) {
		p = thinsnap_meta_get(s->meta, e->parent);
		return p ? p->usage_bytes : 0;
	}
	p = thinsnap_meta_get(s->meta, s->base_key);
	return p ? p->usage_bytes : 0;
}

/*
 * Commits active e as `name` by a thin snapshot of its device (suspended around it when
 * active). retire: the key goes too, and its device becomes a pending delete (deleted by
 * cleanup once nothing holds it open); else the key stays active.
 */
static int commit_by_snapshot(struct thinsnap_snapshotter *s, const char *name,
			      const struct thinsnap_meta_snap *e,
			      const struct thinsnap_meta_label *ml, size_t n_labels,
			      const struct thinsnap_pool_thin_info *ti, const char *dm, int64_t now,
			      bool retire, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *parent = e->parent ? strdup(e->parent) : NULL;
	CLEANUP_FREE char *fs_type = strdup(e->fs_type);
	CLEANUP_FREE char *key = strdup(e->key);
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];
	uint64_t inodes = e->usage_inodes;
	uint32_t dev_id, old_id = e->dev_id;
	int r;

	if ((e->parent && !parent) || !fs_type || !key)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (!retire) { /* a kept key adds a device; a retired one gives its own back */
		r = check_space_floors(s, reterr);
		if (r < 0)
			return r;
	}
	if (ti->exists && thinsnap_pool_dev_path(dm, path, sizeof(path)) == 0)
		(void)thinsnap_mkfs_inodes_used(path, &inodes, NULL);
	r = thinsnap_meta_alloc_dev_id(s->meta, &dev_id, reterr);
	if (r < 0)
		return r;
	struct thinsnap_meta_op ops[3] = {
		{ .type = THINSNAP_META_OP_SNAP_CREATE,
		  .key = name,
		  .parent = parent,
		  .kind = THINSNAP_META_COMMITTED,
		  .dev_id = dev_id,
		  .size_bytes = e->size_bytes,
		  .fs_type = fs_type,
		  .labels = ml,
		  .n_labels = n_labels,
		  .created_ns = now,
		  .updated_ns = now,
		  .usage_bytes = ti->mapped_sectors * 512,
		  .usage_inodes = inodes },
		{ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = key },
		{ .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = old_id },
	};
	struct thinsnap_meta_pool_op pop = { .type = THINSNAP_META_POOL_CREATE_SNAP,
					     .dev_id = dev_id,
					     .origin_id = old_id };
	struct create_ctx c = { .dev_id = dev_id,
				.origin_id = old_id,
				.origin_dm_name = ti->exists ? dm : NULL };
	struct pool_step step = { .run = create_run, .undo = create_undo, .ctx = &c };
	r = pool_txn(s, &pop, 1, ops, retire ? 3 : 1, &step, reterr);
	if (r >= 0 && retire)
		logf_(s, THINSNAP_LOG_INFO,
		      "committed '%s' from its open device %s: deleting it at cleanup", name, dm);
	return r;
}

int thinsnap_commit(struct thinsnap_snapshotter *s, const char *name, const char *key,
		    const struct thinsnap_label *labels, size_t n_labels, unsigned flags,
		    struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	CLEANUP_FREE struct thinsnap_meta_label *ml = NULL;
	struct thinsnap_pool_thin_info ti = { 0 };
	const struct thinsnap_meta_snap *e;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1], kb[80], nb[80];
	int64_t now = now_ns();
	int r;

	r = check_key("name", name, reterr);
	if (r < 0)
		return r;
	r = check_key("key", key, reterr);
	if (r < 0)
		return r;
	r = check_labels(labels, n_labels, reterr);
	if (r < 0)
		return r;
	if (flags & ~THINSNAP_COMMIT_KEEP_ACTIVE)
		return thinsnap_error_setf(reterr, -EINVAL, "unknown commit flags 0x%x", flags);
	r = write_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (e->kind != THINSNAP_META_ACTIVE)
		return thinsnap_error_setf(reterr, -EROFS,
					   "snapshot '%s' is %s, not active: only active "
					   "snapshots can be committed",
					   shown(key, kb),
					   thinsnap_kind_name(kind_from_meta(e->kind)));
	if (thinsnap_meta_get(s->meta, name))
		return thinsnap_error_setf(reterr, -EEXIST, "snapshot '%s' already exists",
					   shown(name, nb));
	if (n_labels) {
		ml = calloc(n_labels, sizeof(*ml));
		if (!ml)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		for (size_t i = 0; i < n_labels; i++)
			ml[i] = (struct thinsnap_meta_label){ labels[i].key,
							      labels[i].value ? labels[i].value
									      : "" };
	}
	dm_name_of(s, e, dm);
	r = thinsnap_pool_thin_info(s->pool, dm, &ti, reterr);
	if (r < 0)
		return r;

	/* A kept key, or one still open (mounted): the committed snapshot is a thin snapshot
	 * of the live device, taken while it is suspended (the filesystem frozen). */
	if ((flags & THINSNAP_COMMIT_KEEP_ACTIVE) || (ti.exists && ti.open_count > 0))
		return commit_by_snapshot(s, name, e, ml, n_labels, &ti, dm, now,
					  !(flags & THINSNAP_COMMIT_KEEP_ACTIVE), reterr);

	/* retire the key: its device becomes the committed snapshot, inactive */
	uint64_t inodes = e->usage_inodes;
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];
	if (ti.exists && thinsnap_pool_dev_path(dm, path, sizeof(path)) == 0)
		(void)thinsnap_mkfs_inodes_used(path, &inodes, NULL);
	r = thinsnap_pool_deactivate_thin(s->pool, dm, reterr);
	if (r == -EBUSY) /* opened after we looked */
		return commit_by_snapshot(s, name, e, ml, n_labels, &ti, dm, now, true, reterr);
	if (r < 0)
		return r;
	struct thinsnap_meta_op ops[2] = {
		{ .type = THINSNAP_META_OP_SNAP_COMMIT,
		  .key = key,
		  .name = name,
		  .labels = ml,
		  .n_labels = n_labels,
		  .updated_ns = now },
		{ .type = THINSNAP_META_OP_USAGE_SET,
		  .key = name,
		  .usage_bytes = ti.mapped_sectors * 512,
		  .usage_inodes = inodes },
	};
	uint64_t size = e->size_bytes;
	uint32_t dev_id = e->dev_id;
	r = THINSNAP_FAULT("snap.commit.after_deactivate");
	if (r >= 0)
		r = journal_apply(s, ops, ELEMENTSOF(ops), reterr);
	else
		thinsnap_error_setf(reterr, r, "injected fault after deactivation");
	if (r < 0)
		(void)thinsnap_pool_activate_thin(s->pool, dev_id, dm, size, false, NULL);
	return r;
}

/* ---- resize ---- */

int thinsnap_resize(struct thinsnap_snapshotter *s, const char *key, uint64_t size_bytes,
		    struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1], path[THINSNAP_POOL_DM_NAME_MAX + 32], kb[80];
	char fs_type[32];
	int r;

	r = check_key("key", key, reterr);
	if (r < 0)
		return r;
	if (size_bytes == 0 || size_bytes > UINT64_MAX - SIZE_ALIGN)
		return thinsnap_error_setf(reterr, -EINVAL, "size %" PRIu64 " is out of range",
					   size_bytes);
	size_bytes = (size_bytes + SIZE_ALIGN - 1) / SIZE_ALIGN * SIZE_ALIGN;
	r = write_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (e->kind != THINSNAP_META_ACTIVE)
		return thinsnap_error_setf(
			reterr, -EROFS, "snapshot '%s' is %s: only active snapshots can be resized",
			shown(key, kb), thinsnap_kind_name(kind_from_meta(e->kind)));
	if (size_bytes < e->size_bytes)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "snapshot '%s' is %" PRIu64
					   " bytes: it cannot shrink to %" PRIu64,
					   shown(key, kb), e->size_bytes, size_bytes);
	/* e points into the journal's state, which the op below changes: copy what we need */
	uint64_t old_size = e->size_bytes;
	(void)snprintf(fs_type, sizeof(fs_type), "%s", *e->fs_type ? e->fs_type : "ext4");
	dm_name_of(s, e, dm);
	(void)thinsnap_pool_dev_path(dm, path, sizeof(path));
	if (strncmp(fs_type, "ext", 3) != 0 && strcmp(fs_type, "xfs") != 0)
		return thinsnap_error_setf(reterr, -EOPNOTSUPP,
					   "snapshot '%s': growing %s is not supported",
					   shown(key, kb), fs_type);

	/* journal first: a crash after it activates the device at the new size on the next
	 * open, and a second resize grows the filesystem; the reverse order could leave a
	 * filesystem larger than its device */
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SIZE_SET,
				       .key = key,
				       .size_bytes = size_bytes };
	if (size_bytes != old_size) {
		r = journal_apply(s, &op, 1, reterr);
		if (r < 0)
			return r;
	}
	r = THINSNAP_FAULT("snap.resize.after_journal");
	if (r >= 0)
		r = thinsnap_pool_resize_thin(s->pool, dm, size_bytes, reterr);
	else
		thinsnap_error_setf(reterr, r, "injected fault after journaling the size");
	if (r < 0) {
		if (size_bytes != old_size) { /* the device kept its size: so does the journal */
			op.size_bytes = old_size;
			(void)journal_apply(s, &op, 1, NULL);
		}
		return r;
	}
	r = thinsnap_mkfs_grow(path, fs_type, size_bytes, s->state_dir, reterr);
	if (r < 0)
		return r; /* device and journal agree on the new size: a retry grows the fs */
	logf_(s, THINSNAP_LOG_INFO, "resized '%s' from %" PRIu64 " to %" PRIu64 " bytes",
	      shown(key, kb), old_size, size_bytes);
	return 0;
}

/* ---- remove / cleanup ---- */

int thinsnap_remove(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1], kb[80];
	bool busy = false;
	int r;

	r = check_key("key", key, reterr);
	if (r < 0)
		return r;
	r = write_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (thinsnap_meta_has_children(s->meta, key))
		return thinsnap_error_setf(reterr, -ENOTEMPTY,
					   "cannot remove snapshot '%s': it has children",
					   shown(key, kb));
	dm_name_of(s, e, dm);
	uint32_t dev_id = e->dev_id;
	uint64_t size = e->size_bytes;
	bool was_active = e->kind != THINSNAP_META_COMMITTED;
	bool ro = e->kind == THINSNAP_META_VIEW;

	if (!s->async_remove && was_active) {
		r = thinsnap_pool_deactivate_thin(s->pool, dm, reterr);
		if (r == -EBUSY)
			busy = true;
		else if (r < 0)
			return r;
	}
	if (s->async_remove || busy) {
		struct thinsnap_meta_op ops[2] = {
			{ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = key },
			{ .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = dev_id },
		};
		r = journal_apply(s, ops, 2, reterr);
		if (r >= 0 && busy)
			logf_(s, THINSNAP_LOG_WARNING,
			      "device %s of '%s' is busy: deleting it at cleanup", dm,
			      shown(key, kb));
		return r;
	}
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_REMOVE, .key = key };
	r = delete_txn(s, dev_id, size, &op, 1, reterr);
	if (r < 0 && was_active)
		(void)thinsnap_pool_activate_thin(s->pool, dev_id, dm, size, ro, NULL);
	return r;
}

struct pending_list {
	uint32_t *ids;
	size_t n, cap;
};

static int collect_pending(uint32_t dev_id, void *userdata)
{
	struct pending_list *l = userdata;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		uint32_t *ids = realloc(l->ids, cap * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		l->ids = ids;
		l->cap = cap;
	}
	l->ids[l->n++] = dev_id;
	return 0;
}

int thinsnap_cleanup(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	struct pending_list l = { 0 };
	CLEANUP_FREE uint32_t *ids = NULL;
	int r, first_err = 0;

	r = check_open(s, reterr);
	if (r < 0)
		return r;
	locked = lock_writes(s);
	r = check_writable(s, reterr);
	if (r < 0)
		return r;
	r = thinsnap_meta_each_delete_pending(s->meta, collect_pending, &l);
	ids = l.ids;
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "listing pending deletes");
	for (size_t i = 0; i < l.n; i++) {
		char dm[THINSNAP_POOL_DM_NAME_MAX + 1];
		struct thinsnap_error err = { 0 };

		thinsnap_snap_dm_name(s->pool_name, ids[i], false, dm, sizeof(dm));
		r = thinsnap_pool_deactivate_thin(s->pool, dm, &err);
		if (r == 0) {
			struct thinsnap_meta_op op = {
				.type = THINSNAP_META_OP_DELETE_PENDING_REMOVE, .dev_id = ids[i]
			};
			r = delete_txn(s, ids[i], 0, &op, 1, &err);
		}
		if (r < 0) {
			logf_(s, THINSNAP_LOG_WARNING, "cleanup of device %" PRIu32 ": %s", ids[i],
			      err.msg);
			if (!first_err) {
				first_err = r;
				if (reterr)
					*reterr = err;
			}
		}
	}
	return first_err;
}

/* ---- stat / update / usage / walk ---- */

int thinsnap_stat(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_info **ret,
		  struct thinsnap_error *reterr)
{
	CLEANUP_RUNLOCK pthread_rwlock_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	int r;

	r = read_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (!ret)
		return 0;
	r = info_from_meta(e, ret);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	return 0;
}

static const char *label_value(const struct thinsnap_label *labels, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].key, k) == 0)
			return labels[i].value ? labels[i].value : "";
	return NULL;
}

/* A growable label set that borrows its strings. */
struct label_set {
	struct thinsnap_meta_label *v;
	size_t n, cap;
};

static int label_set_put(struct label_set *ls, const char *k, const char *v)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->v[i].key, k) == 0) {
			if (v)
				ls->v[i].value = v;
			else
				ls->v[i] = ls->v[--ls->n];
			return 0;
		}
	if (!v)
		return 0;
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 8;
		struct thinsnap_meta_label *nv = realloc(ls->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		ls->v = nv;
		ls->cap = cap;
	}
	ls->v[ls->n++] = (struct thinsnap_meta_label){ k, v };
	return 0;
}

int thinsnap_update(struct thinsnap_snapshotter *s, const struct thinsnap_info *info,
		    const char *const *fieldpaths, size_t n_fieldpaths, struct thinsnap_info **ret,
		    struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	struct label_set ls = { 0 };
	CLEANUP_FREE struct thinsnap_meta_label *owned = NULL;
	char kb[80];
	int r;

	if (!info)
		return thinsnap_error_setf(reterr, -EINVAL, "no info given");
	r = check_key("name", info->name, reterr);
	if (r < 0)
		return r;
	r = check_labels(info->labels, info->n_labels, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_fieldpaths; i++) {
		const char *p = fieldpaths[i];
		if (!p || (strcmp(p, "labels") != 0 && (strncmp(p, "labels.", 7) != 0 || !p[7])))
			return thinsnap_error_setf(reterr, -EINVAL,
						   "cannot update field '%s' of snapshot '%s'",
						   p ? p : "(null)", shown(info->name, kb));
	}
	r = write_lookup(s, info->name, &locked, &e, reterr);
	if (r < 0)
		return r;

	bool replace_all = n_fieldpaths == 0;
	for (size_t i = 0; i < n_fieldpaths; i++)
		if (strcmp(fieldpaths[i], "labels") == 0)
			replace_all = true;
	r = 0;
	if (!replace_all)
		for (size_t i = 0; i < e->n_labels && r == 0; i++)
			r = label_set_put(&ls, e->labels[i].key, e->labels[i].value);
	for (size_t i = 0; replace_all && i < info->n_labels && r == 0; i++)
		r = label_set_put(&ls, info->labels[i].key,
				  info->labels[i].value ? info->labels[i].value : "");
	for (size_t i = 0; !replace_all && i < n_fieldpaths && r == 0; i++) {
		const char *k = fieldpaths[i] + 7;
		r = label_set_put(&ls, k, label_value(info->labels, info->n_labels, k));
	}
	owned = ls.v;
	if (r < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_LABELS_SET,
				       .key = info->name,
				       .labels = ls.v,
				       .n_labels = ls.n,
				       .updated_ns = now_ns() };
	r = journal_apply(s, &op, 1, reterr);
	if (r < 0)
		return r;
	if (!ret)
		return 0;
	e = thinsnap_meta_get(s->meta, info->name);
	if (!e || info_from_meta(e, ret) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	return 0;
}

int thinsnap_usage(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_usage *ret,
		   struct thinsnap_error *reterr)
{
	CLEANUP_RUNLOCK pthread_rwlock_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1];
	uint64_t total, base;
	int r;

	r = read_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	total = e->usage_bytes;
	int64_t inodes_used = (int64_t)e->usage_inodes;
	if (e->kind != THINSNAP_META_COMMITTED) {
		struct thinsnap_pool_thin_info ti = { 0 };
		dm_name_of(s, e, dm);
		pthread_mutex_lock(&s->rpool_lock);
		r = s->rpool ? thinsnap_pool_thin_info(s->rpool, dm, &ti, reterr) : -EBADF;
		pthread_mutex_unlock(&s->rpool_lock);
		if (r < 0)
			return r;
		total = ti.mapped_sectors * 512;
		char path[THINSNAP_POOL_DM_NAME_MAX + 32];
		uint64_t inodes = 0;
		if (ti.exists && thinsnap_pool_dev_path(dm, path, sizeof(path)) == 0 &&
		    thinsnap_mkfs_inodes_used(path, &inodes, NULL) == 0)
			inodes_used = (int64_t)inodes;
	}
	base = origin_mapped_bytes(s, e);
	ret->size_bytes = total > base ? (int64_t)(total - base) : 0;
	ret->inodes = inodes_used;
	return 0;
}

static int cmp_usage_id(const void *key, const void *elem)
{
	uint32_t id = *(const uint32_t *)key;
	const struct thinsnap_pool_thin_usage *u = elem;
	return id < u->dev_id ? -1 : id > u->dev_id;
}

/*
 * Every thin device's usage (under rpool_lock): thin_ls's, or its last result while that is
 * younger than USAGE_CACHE_NS and no pool change happened since (creates and deletes move the
 * transaction id), so a caller asking key by key (containerd's Usage) walks the pool once.
 */
static int thin_usage_cached(struct thinsnap_snapshotter *s,
			     struct thinsnap_pool_thin_usage **ret_usage, size_t *ret_n,
			     struct thinsnap_error *reterr)
{
	struct thinsnap_pool_thin_usage *copy;
	struct thinsnap_pool_status st;
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	int r;

	r = thinsnap_pool_status(s->rpool, &st, reterr);
	if (r < 0)
		return r;
	if (!s->usage_cache_ns || now - s->usage_cache_ns >= USAGE_CACHE_NS ||
	    st.transaction_id != s->usage_cache_tid) {
		struct thinsnap_pool_thin_usage *pu = NULL;
		size_t n = 0;
		r = thinsnap_pool_thin_usage(s->rpool, &pu, &n, reterr);
		if (r < 0)
			return r;
		free(s->usage_cache);
		s->usage_cache = pu;
		s->n_usage_cache = n;
		s->usage_cache_ns = now;
		s->usage_cache_tid = st.transaction_id;
	}
	copy = malloc((s->n_usage_cache ? s->n_usage_cache : 1) * sizeof(*copy));
	if (!copy)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (s->n_usage_cache)
		memcpy(copy, s->usage_cache, s->n_usage_cache * sizeof(*copy));
	*ret_usage = copy;
	*ret_n = s->n_usage_cache;
	return 0;
}

int thinsnap_usage_detail(struct thinsnap_snapshotter *s, const char *const *keys, size_t n_keys,
			  struct thinsnap_usage_detail *ret, struct thinsnap_error *reterr)
{
	CLEANUP_FREE struct thinsnap_pool_thin_usage *pu = NULL;
	CLEANUP_FREE uint32_t *ids = NULL;
	size_t n_pu = 0;
	char kb[80];
	int r;

	if (n_keys && (!keys || !ret))
		return thinsnap_error_setf(reterr, -EINVAL, "no keys or results");
	r = check_open(s, reterr);
	if (r < 0)
		return r;
	ids = calloc(n_keys ? n_keys : 1, sizeof(*ids));
	if (!ids)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n_keys; i++) {
		struct thinsnap_usage u = { 0, 0 };
		const struct thinsnap_meta_snap *e;

		r = thinsnap_usage(s, keys[i], &u, reterr);
		if (r < 0)
			return r;
		pthread_rwlock_rdlock(&s->state_lock);
		e = s->meta ? thinsnap_meta_get(s->meta, keys[i]) : NULL;
		if (e)
			ids[i] = e->dev_id;
		pthread_rwlock_unlock(&s->state_lock);
		if (!e) /* removed meanwhile */
			return thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found",
						   shown(keys[i], kb));
		ret[i] = (struct thinsnap_usage_detail){ .size_bytes = u.size_bytes,
							 .inodes = u.inodes };
	}
	if (!n_keys)
		return 0;
	pthread_mutex_lock(&s->rpool_lock);
	r = s->rpool ? thin_usage_cached(s, &pu, &n_pu, reterr) : -EBADF;
	pthread_mutex_unlock(&s->rpool_lock);
	if (r == -EBADF)
		return thinsnap_error_setf(reterr, r, "snapshotter is closed");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_keys; i++) {
		const struct thinsnap_pool_thin_usage *u =
			bsearch(&ids[i], pu, n_pu, sizeof(*pu), cmp_usage_id);
		if (!u) /* not in the pool (check reports it): nothing to free */
			continue;
		ret[i].exclusive_bytes = (int64_t)u->exclusive_bytes;
		ret[i].shared_bytes = (int64_t)u->shared_bytes;
	}
	return 0;
}

/* filter field lookup over a meta entry */
static bool snap_field(void *userdata, const char *const *path, size_t depth, const char **ret)
{
	const struct thinsnap_meta_snap *e = userdata;

	if (depth == 1 && strcmp(path[0], "name") == 0) {
		*ret = e->key;
		return true;
	}
	if (depth == 1 && strcmp(path[0], "parent") == 0) {
		*ret = e->parent ? e->parent : "";
		return e->parent != NULL;
	}
	if (depth == 1 && strcmp(path[0], "kind") == 0) {
		*ret = thinsnap_kind_name(kind_from_meta(e->kind));
		return true;
	}
	if (depth >= 2 && strcmp(path[0], "labels") == 0) {
		/* label keys may contain dots: join the rest of the path back */
		char k[THINSNAP_META_LABEL_MAX + 1];
		size_t off = 0;
		for (size_t i = 1; i < depth; i++) {
			int n = snprintf(k + off, sizeof(k) - off, "%s%s", i > 1 ? "." : "",
					 path[i]);
			if (n < 0 || (size_t)n >= sizeof(k) - off)
				return false;
			off += (size_t)n;
		}
		for (size_t i = 0; i < e->n_labels; i++)
			if (strcmp(e->labels[i].key, k) == 0) {
				*ret = e->labels[i].value;
				return true;
			}
	}
	return false;
}

/*
 * walk copies the matching entries under the read lock into one block, one record per entry
 * ([record size][info][labels][strings]); two passes (size, then fill) under the same lock
 * hold, so the copy is consistent. A large block is its own anonymous mapping, and the pages
 * of records already handed to the callback go back to the system as the walk proceeds: the
 * daemon's List of 10 000 snapshots holds about one copy at a time (this one shrinking as its
 * encoded reply grows), and leaves no small freed chunks behind.
 */
#define WALK_MMAP_BYTES    ((size_t)256 << 10)
#define WALK_RELEASE_BYTES ((size_t)64 << 10)

struct walk_collect {
	const struct thinsnap_filter *filter;
	size_t n, bytes; /* pass 1 */
	uint8_t *block;  /* pass 2: records from block, filled up to off */
	size_t off;
};

static bool walk_wants(struct walk_collect *w, const struct thinsnap_meta_snap *e)
{
	return e->kind != THINSNAP_META_INTERNAL &&
	       (!w->filter || thinsnap_filter_match(w->filter, snap_field, (void *)e));
}

static size_t walk_record_bytes(const struct thinsnap_meta_snap *e)
{
	size_t n = sizeof(size_t) + sizeof(struct thinsnap_info) +
		   e->n_labels * sizeof(struct thinsnap_label) + strlen(e->key) + 1 +
		   (e->parent ? strlen(e->parent) + 1 : 0);

	for (size_t i = 0; i < e->n_labels; i++)
		n += strlen(e->labels[i].key) + strlen(e->labels[i].value) + 2;
	return (n + 7) & ~(size_t)7; /* the next record's size_t and info stay aligned */
}

static int walk_size_one(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct walk_collect *w = userdata;

	if (walk_wants(w, e)) {
		w->n++;
		w->bytes += walk_record_bytes(e);
	}
	return 0;
}

static char *walk_str(char **at, const char *v)
{
	size_t n = strlen(v) + 1;
	char *p = memcpy(*at, v, n);

	*at += n;
	return p;
}

static int walk_fill_one(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct walk_collect *w = userdata;
	size_t rec;
	struct thinsnap_info *info;
	struct thinsnap_label *labels;
	char *str;

	if (!walk_wants(w, e))
		return 0;
	rec = walk_record_bytes(e);
	memcpy(w->block + w->off, &rec, sizeof(rec));
	info = (struct thinsnap_info *)(w->block + w->off + sizeof(rec));
	labels = (struct thinsnap_label *)(info + 1);
	str = (char *)(labels + e->n_labels);
	w->off += rec;
	info->name = walk_str(&str, e->key);
	info->parent = e->parent ? walk_str(&str, e->parent) : NULL;
	info->kind = kind_from_meta(e->kind);
	info->created_ns = e->created_ns;
	info->updated_ns = e->updated_ns;
	info->labels = e->n_labels ? labels : NULL;
	info->n_labels = e->n_labels;
	for (size_t i = 0; i < e->n_labels; i++) {
		labels[i].key = walk_str(&str, e->labels[i].key);
		labels[i].value = walk_str(&str, e->labels[i].value);
	}
	return 0;
}

static void *walk_block_new(size_t bytes)
{
	void *p;

	if (bytes < WALK_MMAP_BYTES)
		return malloc(bytes);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void walk_block_free(struct walk_collect *w)
{
	if (w->block && w->bytes < WALK_MMAP_BYTES)
		free(w->block);
	else if (w->block)
		(void)munmap(w->block, w->bytes);
	w->block = NULL;
}

DEFINE_CLEANUP(struct thinsnap_filter *, thinsnap_filter_free)

int thinsnap_walk(struct thinsnap_snapshotter *s, const char *const *filters, size_t n_filters,
		  thinsnap_walk_fn fn, void *userdata, struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_filter_freep) struct thinsnap_filter *f = NULL;
	struct walk_collect w = { 0 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE), released = 0;
	int r;

	if (!fn)
		return thinsnap_error_setf(reterr, -EINVAL, "no walk callback");
	r = check_open(s, reterr);
	if (r < 0)
		return r;
	if (n_filters) {
		r = thinsnap_filter_parse(filters, n_filters, &f, reterr);
		if (r < 0)
			return r;
	}
	w.filter = f;
	/* Collect under the lock, call back outside it: the callback may call anything. */
	pthread_rwlock_rdlock(&s->state_lock);
	r = s->meta ? thinsnap_meta_walk(s->meta, walk_size_one, &w) : 0;
	if (r == 0 && w.n) {
		w.block = walk_block_new(w.bytes);
		if (!w.block)
			r = -ENOMEM;
	}
	if (r == 0 && w.n)
		r = thinsnap_meta_walk(s->meta, walk_fill_one, &w);
	pthread_rwlock_unlock(&s->state_lock);
	if (r < 0) {
		walk_block_free(&w);
		return thinsnap_error_setf(reterr, r, "walking snapshots: %s", strerror(-r));
	}
	for (size_t off = 0; off < w.off;) {
		size_t rec, done;
		memcpy(&rec, w.block + off, sizeof(rec));
		r = fn(userdata, (const struct thinsnap_info *)(w.block + off + sizeof(rec)));
		if (r < 0) {
			walk_block_free(&w);
			return thinsnap_error_setf(reterr, r, "walk stopped by its callback");
		}
		off += rec;
		/* whole pages of records already handed out go back to the system */
		done = off / page * page;
		if (w.bytes >= WALK_MMAP_BYTES && done - released >= WALK_RELEASE_BYTES) {
			(void)madvise(w.block + released, done - released, MADV_DONTNEED);
			released = done;
		}
	}
	walk_block_free(&w);
	return 0;
}

/* ---- check / repair ---- */

void thinsnap_check_report_free(struct thinsnap_check_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->intents && i < r->n_unfinished; i++)
		free(r->intents[i].key);
	free(r->intents);
	free(r->leaked_ids);
	for (size_t i = 0; i < r->n_dangling; i++)
		free(r->dangling_keys[i]);
	free(r->dangling_keys);
	free(r);
}

DEFINE_CLEANUP(struct thinsnap_check_report *, thinsnap_check_report_free)

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

static ssize_t find_id(const uint32_t *ids, size_t n, uint32_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ids[mid] == id)
			return (ssize_t)mid;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int check_entry(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct check_ctx *c = userdata;
	ssize_t i = find_id(c->pool_ids, c->n_pool, e->dev_id);
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
	ssize_t i = find_id(c->pool_ids, c->n_pool, dev_id);

	if (i >= 0)
		c->known[i] = true;
	c->rep->n_pending_deletes++;
	return 0;
}

/* The operation an intent belongs to, from its journal ops (see the pool_txn callers). */
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
		.recovery = intent_recovery(in, c->tid),
	};
	if (key && !(it->key = strdup(key)))
		return -ENOMEM;
	rep->n_unfinished++;
	for (size_t i = 0; i < in->n_pool_ops; i++) {
		ssize_t k = find_id(c->pool_ids, c->n_pool, in->pool_ops[i].dev_id);
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
	CLEANUP_FREE uint32_t *ids = NULL;
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
		CLEANUP_FREE uint32_t *ids = NULL;
		struct thinsnap_meta *fresh = NULL, *old;
		size_t n = 0;
		int r = thinsnap_pool_list_thin_ids(s->pool, &ids, &n, reterr);
		if (r >= 0)
			r = check_compare(s, ids, n, &before, reterr);
		if (r >= 0)
			r = open_meta(s, &fresh, reterr);
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
	r = check_open(s, reterr);
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

	dm_name_of(c->s, e, name);
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
	logf_(s, THINSNAP_LOG_INFO, "repair: pool '%s' checked and re-activated", s->pool_name);
	/* the readers' handle still names the old loop devices */
	r = open_pool(s, &rp, reterr);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->rpool_lock);
	thinsnap_pool_free(s->rpool);
	s->rpool = rp;
	pthread_mutex_unlock(&s->rpool_lock);
	r = thinsnap_pool_transaction_id(s->pool, &s->tid, reterr);
	if (r < 0)
		return r;
	return thinsnap_meta_walk(s->meta, reactivate_one, &rc);
}

int thinsnap_repair(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
		    struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	CLEANUP(thinsnap_check_report_freep) struct thinsnap_check_report *rep = NULL;
	struct thinsnap_pool_status st;
	int r;

	r = check_open(s, reterr);
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
	r = check_writable(s, reterr);
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
		r = delete_txn(s, id, 0, NULL, 0, reterr);
		if (r < 0)
			return r;
		logf_(s, THINSNAP_LOG_INFO, "repair: deleted leaked thin id %" PRIu32, id);
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
			r = journal_apply(s, t.ops, t.n, reterr);
		else
			thinsnap_error_setf(reterr, r, "listing dangling snapshots");
		for (size_t i = 0; i < t.n; i++)
			free((char *)t.ops[i].key);
		free(t.ops);
		if (r < 0)
			return r;
		logf_(s, THINSNAP_LOG_INFO, "repair: removed %zu dangling keys", t.n);
	}
	if (ret)
		*ret = TAKE_PTR(rep);
	return 0;
}

/* ---- counters for `pool status` ---- */

static int count_one(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct thinsnap_counts *c = userdata;

	switch (e->kind) {
	case THINSNAP_META_VIEW:
		c->views++;
		break;
	case THINSNAP_META_ACTIVE:
		c->active++;
		break;
	case THINSNAP_META_COMMITTED:
		c->committed++;
		break;
	case THINSNAP_META_INTERNAL:
		c->base_devices++;
		break;
	}
	return 0;
}

static int count_pending(uint32_t dev_id, void *userdata)
{
	struct thinsnap_counts *c = userdata;

	(void)dev_id;
	c->pending_deletes++;
	return 0;
}

int thinsnap_counts(struct thinsnap_snapshotter *s, struct thinsnap_counts *ret,
		    struct thinsnap_error *reterr)
{
	CLEANUP_RUNLOCK pthread_rwlock_t *locked = NULL;
	struct thinsnap_counts c = { 0 };
	int r;

	r = check_open(s, reterr);
	if (r < 0)
		return r;
	locked = lock_state_read(s);
	if (s->meta) {
		(void)thinsnap_meta_walk(s->meta, count_one, &c);
		(void)thinsnap_meta_each_delete_pending(s->meta, count_pending, &c);
	}
	*ret = c;
	return 0;
}

/* ---- space: auto-grow and pool events ---- */

static int grow_data(struct thinsnap_snapshotter *s, const struct thinsnap_autogrow_opts *o,
		     const struct thinsnap_pool_status *st, struct thinsnap_space_report *rep,
		     struct thinsnap_error *reterr)
{
	struct thinsnap_pool_autogrow_policy policy = {
		.threshold_percent = o->threshold_percent,
		.grow_percent = o->grow_percent,
		.max_size_bytes = o->max_data_size_bytes,
	};
	uint64_t block = (uint64_t)st->data_block_sectors * 512, limit = 0, size = 0;
	int r;

	r = thinsnap_pool_grow_limit(s->pool, &limit, reterr);
	if (r < 0)
		return r;
	r = thinsnap_pool_autogrow_size(&policy, st->total_data_bytes, st->used_data_bytes, block,
					limit, &size);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "pool '%s': bad auto-grow policy",
					   s->pool_name);
	rep->capped = r == THINSNAP_POOL_AUTOGROW_CAPPED;
	if (r != THINSNAP_POOL_AUTOGROW_GROW)
		return 0;
	logf_(s, THINSNAP_LOG_DEBUG, "pool '%s': growing data from %" PRIu64 " to %" PRIu64,
	      s->pool_name, st->total_data_bytes, size);
	r = thinsnap_pool_grow(s->pool, size, reterr);
	if (r < 0)
		return r;
	rep->grown = true;
	return 0;
}

int thinsnap_autogrow(struct thinsnap_snapshotter *s, const struct thinsnap_autogrow_opts *opts,
		      struct thinsnap_space_report *ret, struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	struct thinsnap_space_report rep = { 0 };
	struct thinsnap_pool_status st;
	int r;

	r = check_open(s, reterr);
	if (r < 0)
		return r;
	if (!ret)
		return thinsnap_error_setf(reterr, -EINVAL, "autogrow: no result pointer");
	locked = lock_writes(s);
	r = opts ? check_writable(s, reterr) : check_open(s, reterr);
	if (r < 0)
		return r;
	r = thinsnap_pool_status(s->pool, &st, reterr);
	if (r < 0)
		return r;
	rep.loop_backed = thinsnap_pool_loop_backed(s->pool);
	rep.old_data_bytes = st.total_data_bytes;
	if (opts && rep.loop_backed) {
		r = grow_data(s, opts, &st, &rep, reterr);
		if (r == 0 && rep.grown)
			r = thinsnap_pool_status(s->pool, &st, reterr);
		uint64_t lw =
			thinsnap_pool_low_water_for(opts->threshold_percent, st.total_data_blocks);
		if (r == 0)
			r = thinsnap_pool_set_low_water(s->pool, lw, reterr);
		if (r < 0)
			return r;
		rep.low_water_blocks = lw;
	}
	rep.used_data_bytes = st.used_data_bytes;
	rep.total_data_bytes = st.total_data_bytes;
	rep.used_metadata_bytes = st.used_metadata_bytes;
	rep.total_metadata_bytes = st.total_metadata_bytes;
	rep.min_free_data_percent = s->min_free_data_percent > 0 ? s->min_free_data_percent : 0;
	rep.min_free_metadata_percent =
		s->min_free_metadata_percent > 0 ? s->min_free_metadata_percent : 0;
	*ret = rep;
	return 0;
}

int thinsnap_wait_pool_event(struct thinsnap_snapshotter *s, uint32_t *event_nr, int timeout_ms,
			     struct thinsnap_error *reterr)
{
	CLEANUP_UNLOCK pthread_mutex_t *locked = NULL;
	int r;

	r = check_open(s, reterr);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->event_lock);
	locked = &s->event_lock;
	if (!s->epool) {
		r = open_pool(s, &s->epool, reterr);
		if (r < 0)
			return r;
	}
	return thinsnap_pool_wait_event(s->epool, event_nr, timeout_ms, reterr);
}

int thinsnap_status(struct thinsnap_snapshotter *s, struct thinsnap_pool_status *ret,
		    struct thinsnap_error *reterr)
{
	int r;

	if (!ret)
		return thinsnap_error_setf(reterr, -EINVAL, "status: missing argument");
	r = check_open(s, reterr);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->rpool_lock);
	r = s->rpool ? thinsnap_pool_status(s->rpool, ret, reterr)
		     : thinsnap_error_setf(reterr, -EBADF, "snapshotter is closed");
	pthread_mutex_unlock(&s->rpool_lock);
	return r;
}

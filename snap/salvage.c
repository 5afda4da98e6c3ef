/*
 * Salvage (`thinsnap repair --salvage`): the journal opened with salvage keeps what verifies
 * in either copy; then the pool's own device list decides the rest. Keys whose thin device is
 * gone are removed; thin devices no record names become committed snapshots
 * "lost+found/<dev_id>", probed for their filesystem and size. No thin device is deleted.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <thinsnap/salvage.h>

#include "base/version.h"
#include "mkfs/mkfs.h"
#include "snap/internal.h"

#define PROBE_SIZE (1ull << 40) /* a thin device is activated this large to be probed */

DEFINE_CLEANUP(struct thinsnap_pool *, thinsnap_pool_free)
DEFINE_CLEANUP(struct thinsnap_meta *, thinsnap_meta_free)
DEFINE_CLEANUP(struct thinsnap_salvage_report *, thinsnap_salvage_report_free)
DEFINE_CLEANUP(uint32_t *, thinsnap_pool_thin_ids_free)

void thinsnap_salvage_report_free(struct thinsnap_salvage_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_recovered; i++)
		free(r->recovered[i]);
	free(r->recovered);
	for (size_t i = 0; i < r->n_found; i++) {
		free(r->found[i].key);
		free(r->found[i].fs_type);
	}
	free(r->found);
	for (size_t i = 0; i < r->n_lost; i++)
		free(r->lost[i]);
	free(r->lost);
	free(r);
}

static int push_line(char ***v, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int push_line(char ***v, size_t *n, const char *fmt, ...)
{
	char **nv = reallocarray(*v, *n + 1, sizeof(**v));
	va_list ap;
	int k;

	if (!nv)
		return -ENOMEM;
	*v = nv;
	va_start(ap, fmt);
	k = vasprintf(&nv[*n], fmt, ap);
	va_end(ap);
	if (k < 0)
		return -ENOMEM;
	(*n)++;
	return 0;
}

static void on_note(void *userdata, uint64_t offset, const char *what)
{
	struct thinsnap_salvage_report *rep = userdata;

	/* out of memory here only shortens the report; the salvage itself goes on */
	(void)push_line(&rep->lost, &rep->n_lost, "journal offset %" PRIu64 ": %s", offset, what);
}

/* ---- the plan: the journal against the pool's ids, no I/O ---- */

struct ids {
	const uint32_t *v;
	size_t n;
};

static bool has_id(const struct ids *ids, uint32_t id)
{
	size_t lo = 0, hi = ids->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ids->v[mid] == id)
			return true;
		if (ids->v[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

struct plan_ctx {
	struct ids pool;
	struct thinsnap_salvage_report *rep;
	struct thinsnap_meta *m;
	char **dangling; /* keys to remove, this pass */
	size_t n_dangling;
	bool list; /* the first pass: list recovered and lost keys */
	int r;
};

static int plan_entry(const struct thinsnap_meta_snap *e, void *userdata)
{
	struct plan_ctx *c = userdata;
	int r = 0;

	if (has_id(&c->pool, e->dev_id)) {
		if (c->list)
			r = push_line(&c->rep->recovered, &c->rep->n_recovered, "%s", e->key);
	} else if (thinsnap_meta_has_children(c->m, e->key)) {
		if (c->list)
			r = push_line(&c->rep->lost, &c->rep->n_lost,
				      "key '%s': its thin device %" PRIu32
				      " is not in the pool; kept, since snapshots depend on it",
				      e->key, e->dev_id);
	} else {
		r = push_line(&c->dangling, &c->n_dangling, "%s", e->key);
		if (r == 0)
			r = push_line(&c->rep->lost, &c->rep->n_lost,
				      "key '%s': its thin device %" PRIu32
				      " is not in the pool; removed",
				      e->key, e->dev_id);
	}
	return r;
}

static void free_lines(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int thinsnap_snap_salvage_plan(struct thinsnap_meta *m, const uint32_t *pool_ids, size_t n,
			       bool apply, struct thinsnap_salvage_report *rep,
			       struct thinsnap_error *reterr)
{
	struct plan_ctx c = { .pool = { pool_ids, n }, .rep = rep, .m = m, .list = true };
	int r = 0;

	/* keys whose device is gone, leaves first: a removal can make its parent a leaf */
	while (r == 0 && m) {
		c.dangling = NULL;
		c.n_dangling = 0;
		r = thinsnap_meta_walk(m, plan_entry, &c);
		for (size_t i = 0; r == 0 && apply && i < c.n_dangling; i++) {
			struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_REMOVE,
						       .key = c.dangling[i] };
			r = thinsnap_meta_apply(m, &op, 1, reterr);
		}
		free_lines(c.dangling, c.n_dangling);
		if (r == -ENOMEM)
			thinsnap_error_setf(reterr, r, "out of memory");
		if (r < 0 || !apply || c.n_dangling == 0)
			break;
		c.list = false;
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct thinsnap_salvage_found *f, *nf;
		if (thinsnap_meta_dev_id_known(m, pool_ids[i]))
			continue;
		nf = reallocarray(rep->found, rep->n_found + 1, sizeof(*nf));
		if (!nf)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		rep->found = nf;
		f = &nf[rep->n_found];
		*f = (struct thinsnap_salvage_found){ .dev_id = pool_ids[i] };
		if (asprintf(&f->key, THINSNAP_LOST_FOUND_PREFIX "%" PRIu32, pool_ids[i]) < 0) {
			f->key = NULL;
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		}
		rep->n_found++;
		if (push_line(&rep->lost, &rep->n_lost,
			      "thin device %" PRIu32 ": no surviving journal record names it; "
			      "kept as a committed snapshot under " THINSNAP_LOST_FOUND_PREFIX
			      "%" PRIu32,
			      pool_ids[i], pool_ids[i]) < 0)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		/* a key taken already (a dev_id reused since an older salvage): a suffix */
		for (unsigned k = 2; m && thinsnap_meta_get(m, f->key); k++) {
			free(f->key);
			if (asprintf(&f->key, THINSNAP_LOST_FOUND_PREFIX "%" PRIu32 ".%u",
				     pool_ids[i], k) < 0) {
				f->key = NULL;
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			}
		}
	}
	return 0;
}

int thinsnap_snap_salvage_adopt(struct thinsnap_meta *m, const struct thinsnap_salvage_report *rep,
				int64_t now_ns, struct thinsnap_error *reterr)
{
	for (size_t i = 0; i < rep->n_found; i++) {
		const struct thinsnap_salvage_found *f = &rep->found[i];
		char id[16];
		struct thinsnap_meta_label l[] = { { "thinsnap.lost+found/dev_id", id } };
		struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
					       .key = f->key,
					       .kind = THINSNAP_META_COMMITTED,
					       .dev_id = f->dev_id,
					       .size_bytes = f->size_bytes,
					       .fs_type = f->fs_type,
					       .labels = l,
					       .n_labels = 1,
					       .created_ns = now_ns,
					       .updated_ns = now_ns };
		int r;

		snprintf(id, sizeof(id), "%" PRIu32, f->dev_id);
		r = thinsnap_meta_apply(m, &op, 1, reterr);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- probing a found device ---- */

/* The active dm name of dev_id in this pool, if any, into buf. */
static bool active_name(struct thinsnap_pool *pool, uint32_t dev_id, char *buf, size_t size)
{
	char **names = NULL;
	size_t n = 0;
	bool found = false;

	if (thinsnap_pool_active_names(pool, &names, &n, NULL) < 0)
		return false;
	for (size_t i = 0; i < n && !found; i++) {
		struct thinsnap_pool_thin_info ti = { 0 };
		if (thinsnap_pool_thin_info(pool, names[i], &ti, NULL) == 0 && ti.exists &&
		    ti.dev_id == dev_id) {
			snprintf(buf, size, "%s", names[i]);
			found = true;
		}
	}
	thinsnap_pool_names_free(names, n);
	return found;
}

/* Fills f's size and fs type: from the filesystem on the device, else from what is mapped,
 * else the base size. The device is activated read-only for the probe when it is not active. */
static int probe_found(struct thinsnap_pool *pool, const char *pool_name, uint64_t base_size,
		       struct thinsnap_salvage_found *f)
{
	char name[THINSNAP_POOL_DM_NAME_MAX + 1], path[PATH_MAX];
	struct thinsnap_pool_thin_info ti = { 0 };
	char *type = NULL;
	uint64_t fs_size = 0;
	bool activated = false;
	int r;

	thinsnap_snap_dm_name(pool_name, f->dev_id, false, name, sizeof(name));
	r = thinsnap_pool_activate_thin(pool, f->dev_id, name, PROBE_SIZE, true, NULL);
	if (r == 0)
		activated = true;
	else if (!active_name(pool, f->dev_id, name, sizeof(name)))
		name[0] = '\0';
	if (name[0] && thinsnap_pool_dev_path(name, path, sizeof(path)) == 0) {
		(void)thinsnap_pool_thin_info(pool, name, &ti, NULL);
		if (thinsnap_mkfs_probe(path, &type, NULL) < 0)
			type = NULL;
		if (thinsnap_mkfs_fs_size(path, &fs_size, NULL) < 0)
			fs_size = 0;
	}
	if (activated)
		(void)thinsnap_pool_deactivate_thin(pool, name, NULL);
	f->fs_type = type ? type : strdup("");
	if (!f->fs_type)
		return -ENOMEM;
	if (fs_size)
		f->size_bytes = (fs_size + 511) / 512 * 512;
	else if (ti.mapped_end_bytes > base_size)
		f->size_bytes = (ti.mapped_end_bytes + 511) / 512 * 512;
	else
		f->size_bytes = base_size;
	return 0;
}

/* ---- the whole salvage ---- */

int thinsnap_salvage(const struct thinsnap_options *o, const struct thinsnap_salvage_options *so,
		     struct thinsnap_salvage_report **ret, struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_salvage_report_freep) struct thinsnap_salvage_report *rep = NULL;
	CLEANUP(thinsnap_pool_freep) struct thinsnap_pool *pool = NULL;
	CLEANUP(thinsnap_meta_freep) struct thinsnap_meta *m = NULL;
	CLEANUP(thinsnap_pool_thin_ids_freep) uint32_t *ids = NULL;
	char pool_dir[PATH_MAX];
	size_t n_ids = 0;
	int r;

	if (!o || !so || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "no options");
	if ((r = thinsnap_version_check(o->version, THINSNAP_OPTIONS_VERSION, "thinsnap_options",
					reterr)) < 0 ||
	    (r = thinsnap_version_check(so->version, THINSNAP_SALVAGE_OPTIONS_VERSION,
					"thinsnap_salvage_options", reterr)) < 0)
		return r;
	if (!o->state_dir || !*o->state_dir || !o->pool_name || !*o->pool_name)
		return thinsnap_error_setf(reterr, -EINVAL, "state_dir and pool_name are required");
	if (thinsnap_state_pool_dir(o->state_dir, pool_dir, sizeof(pool_dir)) < 0)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG,
					   "state dir '%.80s...' is too long", o->state_dir);
	rep = calloc(1, sizeof(*rep));
	if (!rep)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	rep->dry_run = so->dry_run;
	r = thinsnap_pool_open(o->pool_name, pool_dir, &pool, reterr);
	if (r < 0)
		return r;
	struct thinsnap_meta_open_opts mo = {
		.state_dir = o->state_dir,
		.pool_uuid = thinsnap_pool_uuid(pool),
		.read_only = so->dry_run,
		.salvage = true,
		.redundant = true,
		.salvage_note = on_note,
		.salvage_userdata = rep,
	};
	r = thinsnap_meta_open(&mo, &m, reterr);
	if (r == -ENOENT && so->dry_run) { /* no journal at all: every device is unnamed */
		thinsnap_error_clear(reterr);
		r = 0;
	}
	if (r < 0)
		return r;
	r = thinsnap_pool_list_thin_ids(pool, &ids, &n_ids, reterr);
	if (r < 0)
		return r;
	r = thinsnap_snap_salvage_plan(m, ids, n_ids, !so->dry_run, rep, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < rep->n_found; i++)
		if (probe_found(pool, o->pool_name,
				o->base_size_bytes ? o->base_size_bytes : 10ull << 30,
				&rep->found[i]) < 0)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (!so->dry_run) {
		r = thinsnap_snap_salvage_adopt(m, rep, now_ns(), reterr);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(rep);
	return 0;
}

/*
 * The read side, plus label updates: stat, update, usage (one thin device's, or thin_ls's
 * exclusive and shared bytes, cached while the pool does not change; inodes live from a
 * mounted filesystem), walk with filters, and a snapshot's mounts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mkfs/mkfs.h"
#include "snap/filter.h"
#include "snap/internal.h"

/* How long a thin_ls walk of the pool serves usage_detail: CRI asks Usage for every container
 * once a stats period (10 s), and a walk costs a metadata snapshot and a thin_ls run, so one
 * walk serves a period's calls; exclusive and shared bytes are then up to 5 s old (overlayfs's
 * own Usage is a du walk, no fresher). */
#define USAGE_CACHE_NS (5 * 1000000000LL)

int thinsnap_mounts(struct thinsnap_snapshotter *s, const char *key,
		    struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	CLEANUP_RUNLOCK pthread_rwlock_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	char kb[80];
	int r;

	r = thinsnap_snap_read_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (e->kind == THINSNAP_META_COMMITTED)
		return thinsnap_error_setf(reterr, -EROFS,
					   "snapshot '%s' is committed: it has no mounts",
					   thinsnap_snap_shown(key, kb));
	return thinsnap_snap_mount_for(s, e, ret_mount, reterr);
}

/* What the snapshot's origin (its parent, or the base image) maps and holds in inodes: a
 * snapshot's usage is its difference from that, as overlayfs counts only its upper dir. */
static void origin_usage(struct thinsnap_snapshotter *s, const struct thinsnap_meta_snap *e,
			 uint64_t *ret_bytes, uint64_t *ret_inodes)
{
	const struct thinsnap_meta_snap *p =
		thinsnap_meta_get(s->meta, e->parent ? e->parent : s->base_key);

	*ret_bytes = p ? p->usage_bytes : 0;
	*ret_inodes = p ? p->usage_inodes : 0;
}

int thinsnap_stat(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_info **ret,
		  struct thinsnap_error *reterr)
{
	CLEANUP_RUNLOCK pthread_rwlock_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	int r;

	r = thinsnap_snap_read_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	if (!ret)
		return 0;
	r = thinsnap_snap_info_from_meta(e, ret);
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
	r = thinsnap_snap_check_key("name", info->name, reterr);
	if (r < 0)
		return r;
	r = thinsnap_snap_check_labels(info->labels, info->n_labels, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_fieldpaths; i++) {
		const char *p = fieldpaths[i];
		if (!p || (strcmp(p, "labels") != 0 && (strncmp(p, "labels.", 7) != 0 || !p[7])))
			return thinsnap_error_setf(
				reterr, -EINVAL, "cannot update field '%s' of snapshot '%s'",
				p ? p : "(null)", thinsnap_snap_shown(info->name, kb));
	}
	r = thinsnap_snap_write_lookup(s, info->name, &locked, &e, reterr);
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
	r = thinsnap_snap_journal_apply(s, &op, 1, reterr);
	if (r < 0)
		return r;
	if (!ret)
		return 0;
	e = thinsnap_meta_get(s->meta, info->name);
	if (!e || thinsnap_snap_info_from_meta(e, ret) < 0)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	return 0;
}

/* Undoes the octal escapes (\040 for a space) of a path in /proc/self/mountinfo, in place. */
static void mountinfo_unescape(char *p)
{
	char *w = p;

	for (; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*w++ = (char)((p[1] - '0') << 6 | (p[2] - '0') << 3 | (p[3] - '0'));
			p += 3;
		} else {
			*w++ = *p;
		}
	}
	*w = '\0';
}

/*
 * The inodes in use in the filesystem on block device DEV, from statvfs() of a mount of it
 * that /proc/self/mountinfo lists: live counts, which a mounted ext4 writes to its superblock
 * only at the next sync. -ENOENT when this mount namespace has no mount of it.
 */
static int mounted_inodes_used(const char *dev, uint64_t *ret_inodes)
{
	CLEANUP_FCLOSE FILE *f = NULL;
	CLEANUP_FREE char *line = NULL;
	size_t cap = 0;
	struct stat st;

	if (stat(dev, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return -ENOTBLK;
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		unsigned int major_id, minor_id;
		struct statvfs sv;
		int at = 0;

		/* id parent major:minor root mount-point ... */
		if (sscanf(line, "%*d %*d %u:%u %*s %n", &major_id, &minor_id, &at) != 2 || !at ||
		    makedev(major_id, minor_id) != st.st_rdev)
			continue;
		line[at + strcspn(line + at, " \n")] = '\0';
		mountinfo_unescape(line + at);
		if (statvfs(line + at, &sv) == 0 && sv.f_files >= sv.f_ffree) {
			*ret_inodes = sv.f_files - sv.f_ffree;
			return 0;
		}
	}
	return -ENOENT;
}

/* thinsnap_usage(), plus what the snapshot maps in all (*ret_mapped, bytes). */
static int usage_mapped(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_usage *ret,
			uint64_t *ret_mapped, struct thinsnap_error *reterr)
{
	CLEANUP_RUNLOCK pthread_rwlock_t *locked = NULL;
	const struct thinsnap_meta_snap *e;
	char dm[THINSNAP_POOL_DM_NAME_MAX + 1];
	uint64_t total, base, inodes_used, base_inodes;
	int r;

	r = thinsnap_snap_read_lookup(s, key, &locked, &e, reterr);
	if (r < 0)
		return r;
	total = e->usage_bytes;
	inodes_used = e->usage_inodes;
	if (e->kind != THINSNAP_META_COMMITTED) {
		struct thinsnap_pool_thin_info ti = { 0 };
		thinsnap_snap_dm_name_of(s, e, dm);
		pthread_mutex_lock(&s->rpool_lock);
		r = s->rpool ? thinsnap_pool_thin_info(s->rpool, dm, &ti, reterr) : -EBADF;
		pthread_mutex_unlock(&s->rpool_lock);
		if (r < 0)
			return r;
		total = ti.mapped_sectors * 512;
		char path[THINSNAP_POOL_DM_NAME_MAX + 32];
		uint64_t inodes = 0;
		/* a suspended device (a commit of it in flight) would block the read */
		if (ti.exists && !ti.suspended &&
		    thinsnap_pool_dev_path(dm, path, sizeof(path)) == 0 &&
		    (mounted_inodes_used(path, &inodes) == 0 ||
		     thinsnap_mkfs_inodes_used(path, &inodes, NULL) == 0))
			inodes_used = inodes;
	}
	origin_usage(s, e, &base, &base_inodes);
	ret->size_bytes = total > base ? (int64_t)(total - base) : 0;
	ret->inodes = inodes_used > base_inodes ? (int64_t)(inodes_used - base_inodes) : 0;
	*ret_mapped = total;
	return 0;
}

int thinsnap_usage(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_usage *ret,
		   struct thinsnap_error *reterr)
{
	uint64_t mapped;

	return usage_mapped(s, key, ret, &mapped, reterr);
}

static int cmp_usage_id(const void *key, const void *elem)
{
	uint32_t id = *(const uint32_t *)key;
	const struct thinsnap_pool_thin_usage *u = elem;
	return id < u->dev_id ? -1 : id > u->dev_id;
}

/* One asked snapshot, as usage_detail sees it. */
struct usage_key {
	uint32_t dev_id;
	bool committed;
	int64_t created_ns;
	uint64_t mapped; /* what its device maps now (committed: as recorded) */
};

/* Whether the cached walk must be redone for keys: it is USAGE_CACHE_NS old, or a pool
 * transaction ran since it began and a committed snapshot is asked for (its exclusive bytes
 * move as children come and go, which its own status does not show). Active snapshots, what
 * CRI's container stats ask for, never walk before USAGE_CACHE_NS. */
static bool usage_walk_due(const struct thinsnap_snapshotter *s, const struct usage_key *keys,
			   size_t n, int64_t now)
{
	if (!s->usage_cache_ns || now - s->usage_cache_ns >= USAGE_CACHE_NS)
		return true;
	if (__atomic_load_n(&s->usage_cache_tid, __ATOMIC_RELAXED) != UINT64_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (keys[i].committed)
			return true;
	return false;
}

/*
 * Every thin device's usage as of the last thin_ls walk (under rpool_lock), walking again
 * when usage_walk_due(); *ret_walk_ns: when (CLOCK_REALTIME) that walk began, INT64_MAX when
 * no pool transaction ran since (then every device there is).
 */
static int thin_usage_cached(struct thinsnap_snapshotter *s, const struct usage_key *keys,
			     size_t n_keys, struct thinsnap_pool_thin_usage **ret_usage,
			     size_t *ret_n, int64_t *ret_walk_ns, struct thinsnap_error *reterr)
{
	struct thinsnap_pool_thin_usage *copy;
	int64_t now = clock_ns(CLOCK_MONOTONIC);
	int r;

	if (usage_walk_due(s, keys, n_keys, now)) {
		struct thinsnap_pool_thin_usage *pu = NULL;
		int64_t began = now_ns();
		size_t n = 0;
		/* set before the walk: a transaction during it marks the walk stale */
		__atomic_store_n(&s->usage_cache_tid, 0, __ATOMIC_RELAXED);
		r = thinsnap_pool_thin_usage(s->rpool, &pu, &n, reterr);
		if (r < 0)
			return r;
		thinsnap_pool_thin_usage_free(s->usage_cache);
		s->usage_cache = pu;
		s->n_usage_cache = n;
		s->usage_cache_ns = now;
		s->usage_cache_walk_ns = began;
	}
	copy = malloc((s->n_usage_cache ? s->n_usage_cache : 1) * sizeof(*copy));
	if (!copy)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (s->n_usage_cache)
		memcpy(copy, s->usage_cache, s->n_usage_cache * sizeof(*copy));
	*ret_usage = copy;
	*ret_n = s->n_usage_cache;
	*ret_walk_ns = __atomic_load_n(&s->usage_cache_tid, __ATOMIC_RELAXED) == UINT64_MAX
			       ? s->usage_cache_walk_ns
			       : INT64_MAX;
	return 0;
}

/*
 * Exclusive and shared bytes of an active snapshot: the walk's, plus what its device mapped
 * since as exclusive (a write to a block it did not map allocates one only it maps). One
 * made since the walk began (its dev_id may even be a removed device's, in the walk under
 * that id) is not walked for: what its device maps beyond its origin's is exclusive, the rest
 * shared. Both are exact for a device that only added blocks (a container writing new files);
 * a parent's block it rewrote counts as shared until the next walk, USAGE_CACHE_NS at most.
 * Committed snapshots take the walk's figures (usage_walk_due() keeps them fresh).
 */
static void usage_split(const struct usage_key *k, const struct thinsnap_pool_thin_usage *u,
			int64_t own, struct thinsnap_usage_detail *ret)
{
	int64_t mapped = (int64_t)k->mapped, excl = own;

	if (u && k->committed) {
		ret->exclusive_bytes = (int64_t)u->exclusive_bytes;
		ret->shared_bytes = (int64_t)u->shared_bytes;
		return;
	}
	if (u)
		excl = (int64_t)u->exclusive_bytes + mapped - (int64_t)u->mapped_bytes;
	excl = excl < 0 ? 0 : excl > mapped ? mapped : excl;
	ret->exclusive_bytes = excl;
	ret->shared_bytes = mapped - excl;
}

/* Each call costs a device status and, once in USAGE_CACHE_NS (a committed snapshot's, after
 * a pool transaction), one walk, which the calls arriving meanwhile wait for. */
int thinsnap_usage_detail(struct thinsnap_snapshotter *s, const char *const *keys, size_t n_keys,
			  struct thinsnap_usage_detail *ret, struct thinsnap_error *reterr)
{
	CLEANUP_FREE struct thinsnap_pool_thin_usage *pu = NULL;
	CLEANUP_FREE struct usage_key *k = NULL;
	int64_t walk_ns = 0;
	size_t n_pu = 0;
	char kb[80];
	int r;

	if (n_keys && (!keys || !ret))
		return thinsnap_error_setf(reterr, -EINVAL, "no keys or results");
	r = thinsnap_snap_check_open(s, reterr);
	if (r < 0)
		return r;
	k = calloc(n_keys ? n_keys : 1, sizeof(*k));
	if (!k)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n_keys; i++) {
		struct thinsnap_usage u = { 0, 0 };
		const struct thinsnap_meta_snap *e;

		r = usage_mapped(s, keys[i], &u, &k[i].mapped, reterr);
		if (r < 0)
			return r;
		pthread_rwlock_rdlock(&s->state_lock);
		e = s->meta ? thinsnap_meta_get(s->meta, keys[i]) : NULL;
		if (e) {
			k[i].dev_id = e->dev_id;
			k[i].committed = e->kind == THINSNAP_META_COMMITTED;
			k[i].created_ns = e->created_ns;
		}
		pthread_rwlock_unlock(&s->state_lock);
		if (!e) /* removed meanwhile */
			return thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found",
						   thinsnap_snap_shown(keys[i], kb));
		ret[i] = (struct thinsnap_usage_detail){ .size_bytes = u.size_bytes,
							 .inodes = u.inodes };
	}
	if (!n_keys)
		return 0;
	pthread_mutex_lock(&s->rpool_lock);
	r = s->rpool ? thin_usage_cached(s, k, n_keys, &pu, &n_pu, &walk_ns, reterr) : -EBADF;
	pthread_mutex_unlock(&s->rpool_lock);
	if (r == -EBADF)
		return thinsnap_error_setf(reterr, r, "snapshotter is closed");
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_keys; i++) {
		/* (not in the pool at all, which check reports: 0) */
		const struct thinsnap_pool_thin_usage *u =
			k[i].created_ns < walk_ns
				? bsearch(&k[i].dev_id, pu, n_pu, sizeof(*pu), cmp_usage_id)
				: NULL;
		usage_split(&k[i], u, ret[i].size_bytes, &ret[i]);
	}
	return 0;
}

/* filter field lookup over a meta entry */
static bool snap_field(void *userdata, const char *const *path, size_t depth, const char **ret)
{
	const struct thinsnap_meta_snap *e = userdata;
	char k[THINSNAP_META_LABEL_MAX + 1];

	if (depth == 1 && strcmp(path[0], "name") == 0) {
		*ret = e->key;
		return true;
	}
	if (depth == 1 && strcmp(path[0], "parent") == 0) {
		*ret = e->parent ? e->parent : "";
		return e->parent != NULL;
	}
	if (depth == 1 && strcmp(path[0], "kind") == 0) {
		*ret = thinsnap_kind_name(thinsnap_snap_kind_from_meta(e->kind));
		return true;
	}
	/* label keys may contain dots: the rest of the path joined back */
	if (thinsnap_filter_label_key(path, depth, k, sizeof(k))) {
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
	info->kind = thinsnap_snap_kind_from_meta(e->kind);
	info->created_ns = e->created_ns;
	info->updated_ns = e->updated_ns;
	thinsnap_snap_format_uid(e->uid, info->id);
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
	r = thinsnap_snap_check_open(s, reterr);
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

/*
 * An in-memory implementation of the public snapshotter API (include/thinsnap/snapshotter.h)
 * with containerd's semantics, for daemon/'s unit tests and fuzz target and for running
 * thinsnapd without a pool (thinsnapd-fake). Never linked into the product. The filter
 * language and the values' _free functions are the library's own (snap/filter.c, snap/value.c).
 * THINSNAP_FAKE_WRITE_DELAY_MS makes every mutating call sleep first (outside the lock), so
 * tests can check that reads never wait behind a slow write. THINSNAP_FAKE_BIND=1 backs each
 * snapshot with a directory under state_dir/fs (a copy of its parent's) and returns bind mounts,
 * so containerd's conformance suite can run its file checks through the daemon.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>
#include <thinsnap/stream.h>

#include "base/cleanup.h"
#include "base/version.h"
#include "snap/filter.h"

struct fake_snap {
	char *name;
	char *parent;
	enum thinsnap_kind kind;
	int64_t created_ns;
	int64_t updated_ns;
	struct thinsnap_label *labels;
	size_t n_labels;
	unsigned id;
};

struct thinsnap_snapshotter {
	pthread_rwlock_t lock;
	struct fake_snap **snaps;
	size_t n_snaps;
	unsigned next_id;
	bool closed;
	bool read_only;
	long write_delay_ms;
	char *bind_root; /* THINSNAP_FAKE_BIND: state_dir/fs */
};

static void labels_free(struct thinsnap_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)l[i].key);
		free((char *)l[i].value);
	}
	free(l);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void snap_free(struct fake_snap *f)
{
	if (!f)
		return;
	free(f->name);
	free(f->parent);
	labels_free(f->labels, f->n_labels);
	free(f);
}

static int labels_dup(const struct thinsnap_label *in, size_t n, struct thinsnap_label **ret)
{
	struct thinsnap_label *l = NULL;

	if (n == 0) {
		*ret = NULL;
		return 0;
	}
	l = calloc(n, sizeof(*l));
	if (!l)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		l[i].key = strdup(in[i].key ? in[i].key : "");
		l[i].value = strdup(in[i].value ? in[i].value : "");
		if (!l[i].key || !l[i].value) {
			labels_free(l, i + 1);
			return -ENOMEM;
		}
	}
	*ret = l;
	return 0;
}

int thinsnap_open(const struct thinsnap_options *opts, struct thinsnap_snapshotter **ret,
		  struct thinsnap_error *reterr)
{
	struct thinsnap_snapshotter *s = NULL;
	const char *d = getenv("THINSNAP_FAKE_WRITE_DELAY_MS");

	if (!opts || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "no options");
	if (thinsnap_version_check(opts->version, THINSNAP_OPTIONS_VERSION, "thinsnap_options",
				   reterr) < 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	pthread_rwlock_init(&s->lock, NULL);
	s->next_id = 1;
	s->read_only = opts->read_only;
	s->write_delay_ms = d ? atol(d) : 0;
	if (getenv("THINSNAP_FAKE_BIND") && opts->state_dir) {
		if (asprintf(&s->bind_root, "%s/fs", opts->state_dir) < 0 ||
		    (mkdir(s->bind_root, 0755) < 0 && errno != EEXIST)) {
			free(s);
			return thinsnap_error_setf(reterr, -EIO, "cannot make the fake's fs dir");
		}
	}
	*ret = s;
	return 0;
}

void thinsnap_close(struct thinsnap_snapshotter *s)
{
	if (s)
		s->closed = true;
}

void thinsnap_free(struct thinsnap_snapshotter *s)
{
	if (!s)
		return;
	thinsnap_close(s);
	for (size_t i = 0; i < s->n_snaps; i++)
		snap_free(s->snaps[i]);
	free(s->snaps);
	free(s->bind_root);
	pthread_rwlock_destroy(&s->lock);
	free(s);
}

static struct fake_snap *find(struct thinsnap_snapshotter *s, const char *key)
{
	for (size_t i = 0; i < s->n_snaps; i++)
		if (strcmp(s->snaps[i]->name, key) == 0)
			return s->snaps[i];
	return NULL;
}

/* Sleeps (outside any lock) like a slow pool operation would, then takes the writer lock. */
static int write_begin(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	if (s->read_only)
		return thinsnap_error_setf(reterr, -EROFS, "snapshotter opened read-only");
	if (s->write_delay_ms > 0) {
		struct timespec ts = { s->write_delay_ms / 1000,
				       (s->write_delay_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	pthread_rwlock_wrlock(&s->lock);
	return 0;
}

/* Runs a shell command for the bind-backed mode (test code only). */
static int shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shell(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -EIO;
}

static int make_mount(const struct thinsnap_snapshotter *s, const struct fake_snap *f,
		      struct thinsnap_mount **ret)
{
	struct thinsnap_mount *m = calloc(1, sizeof(*m));
	char src[4200];
	bool ro = f->kind == THINSNAP_KIND_VIEW;

	if (!m)
		return -ENOMEM;
	if (s->bind_root)
		snprintf(src, sizeof(src), "%s/%u", s->bind_root, f->id);
	else
		snprintf(src, sizeof(src), "/dev/mapper/fake-%u", f->id);
	m->type = strdup(s->bind_root ? "bind" : "ext4");
	m->source = strdup(src);
	m->options = calloc(2, sizeof(char *));
	if (m->options) {
		m->options[m->n_options++] = strdup(ro ? "ro" : "rw");
		if (s->bind_root)
			m->options[m->n_options++] = strdup("rbind");
	}
	if (!m->type || !m->source || !m->options || !m->options[0] ||
	    (s->bind_root && !m->options[1])) {
		thinsnap_mount_free(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

static int create(struct thinsnap_snapshotter *s, enum thinsnap_kind kind, const char *key,
		  const char *parent, const struct thinsnap_label *labels, size_t n_labels,
		  struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	struct fake_snap *f = NULL, *p = NULL, **n = NULL;
	struct thinsnap_mount *m = NULL;
	int r;

	if (!s || !key || !*key)
		return thinsnap_error_setf(reterr, -EINVAL, "empty key");
	r = write_begin(s, reterr);
	if (r < 0)
		return r;
	if (find(s, key)) {
		r = thinsnap_error_setf(reterr, -EEXIST, "snapshot '%s' already exists", key);
		goto out;
	}
	if (parent && *parent) {
		p = find(s, parent);
		if (!p) {
			r = thinsnap_error_setf(reterr, -ENOENT, "parent '%s' not found", parent);
			goto out;
		}
		if (p->kind != THINSNAP_KIND_COMMITTED) {
			r = thinsnap_error_setf(reterr, -EINVAL, "parent '%s' is not committed",
						parent);
			goto out;
		}
	}
	f = calloc(1, sizeof(*f));
	n = realloc(s->snaps, (s->n_snaps + 1) * sizeof(*n));
	if (n)
		s->snaps = n;
	if (!f || !n || !(f->name = strdup(key)) || (p && !(f->parent = strdup(parent))) ||
	    labels_dup(labels, n_labels, &f->labels) < 0) {
		snap_free(f);
		r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		goto out;
	}
	f->n_labels = n_labels;
	f->kind = kind;
	f->created_ns = f->updated_ns = now_ns();
	f->id = s->next_id++;
	if (s->bind_root &&
	    (p ? shell("cp -a '%s/%u' '%s/%u'", s->bind_root, p->id, s->bind_root, f->id)
	       : shell("mkdir -m 0755 '%s/%u'", s->bind_root, f->id)) < 0) {
		snap_free(f);
		r = thinsnap_error_setf(reterr, -EIO, "cannot make the fake's directory");
		goto out;
	}
	if (ret_mount && make_mount(s, f, &m) < 0) {
		snap_free(f);
		r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		goto out;
	}
	s->snaps[s->n_snaps++] = f;
	if (ret_mount)
		*ret_mount = m;
	r = 0;
out:
	pthread_rwlock_unlock(&s->lock);
	return r;
}

int thinsnap_prepare(struct thinsnap_snapshotter *s, const char *key, const char *parent,
		     const struct thinsnap_label *labels, size_t n_labels,
		     struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	return create(s, THINSNAP_KIND_ACTIVE, key, parent, labels, n_labels, ret_mount, reterr);
}

int thinsnap_view(struct thinsnap_snapshotter *s, const char *key, const char *parent,
		  const struct thinsnap_label *labels, size_t n_labels,
		  struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	return create(s, THINSNAP_KIND_VIEW, key, parent, labels, n_labels, ret_mount, reterr);
}

int thinsnap_mounts(struct thinsnap_snapshotter *s, const char *key,
		    struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	struct fake_snap *f;
	int r;

	if (!s || !key || !ret_mount)
		return thinsnap_error_setf(reterr, -EINVAL, "bad arguments");
	pthread_rwlock_rdlock(&s->lock);
	f = find(s, key);
	if (!f)
		r = thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found", key);
	else if (f->kind == THINSNAP_KIND_COMMITTED)
		r = thinsnap_error_setf(reterr, -EROFS, "snapshot '%s' is committed", key);
	else if ((r = make_mount(s, f, ret_mount)) < 0)
		r = thinsnap_error_setf(reterr, r, "out of memory");
	pthread_rwlock_unlock(&s->lock);
	return r;
}

int thinsnap_commit(struct thinsnap_snapshotter *s, const char *name, const char *key,
		    const struct thinsnap_label *labels, size_t n_labels, unsigned flags,
		    struct thinsnap_error *reterr)
{
	struct fake_snap *f, *c = NULL, **n = NULL;
	struct thinsnap_label *l = NULL;
	int r;

	if (!s || !name || !*name || !key)
		return thinsnap_error_setf(reterr, -EINVAL, "empty name");
	r = write_begin(s, reterr);
	if (r < 0)
		return r;
	f = find(s, key);
	if (!f) {
		r = thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found", key);
		goto out;
	}
	if (f->kind != THINSNAP_KIND_ACTIVE) {
		r = thinsnap_error_setf(reterr, -EBUSY, "snapshot '%s' is not active", key);
		goto out;
	}
	if (find(s, name)) {
		r = thinsnap_error_setf(reterr, -EEXIST, "snapshot '%s' already exists", name);
		goto out;
	}
	if (labels_dup(labels, n_labels, &l) < 0) {
		r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		goto out;
	}
	if (flags & THINSNAP_COMMIT_KEEP_ACTIVE) {
		c = calloc(1, sizeof(*c));
		n = realloc(s->snaps, (s->n_snaps + 1) * sizeof(*n));
		if (n)
			s->snaps = n;
		if (!c || !n || !(c->name = strdup(name)) ||
		    (f->parent && !(c->parent = strdup(f->parent)))) {
			snap_free(c);
			labels_free(l, n_labels);
			r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			goto out;
		}
		c->id = s->next_id++;
		if (s->bind_root)
			(void)shell("cp -a '%s/%u' '%s/%u'", s->bind_root, f->id, s->bind_root,
				    c->id);
		s->snaps[s->n_snaps++] = c;
	} else {
		char *nm = strdup(name);
		if (!nm) {
			labels_free(l, n_labels);
			r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			goto out;
		}
		free(f->name);
		f->name = nm;
		labels_free(f->labels, f->n_labels);
		f->labels = NULL;
		f->n_labels = 0;
		c = f;
	}
	c->kind = THINSNAP_KIND_COMMITTED;
	c->labels = l;
	c->n_labels = n_labels;
	c->created_ns = c->updated_ns = now_ns();
	r = 0;
out:
	pthread_rwlock_unlock(&s->lock);
	return r;
}

int thinsnap_remove(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_error *reterr)
{
	size_t i;
	int r;

	if (!s || !key)
		return thinsnap_error_setf(reterr, -EINVAL, "empty key");
	r = write_begin(s, reterr);
	if (r < 0)
		return r;
	for (i = 0; i < s->n_snaps; i++)
		if (strcmp(s->snaps[i]->name, key) == 0)
			break;
	if (i == s->n_snaps) {
		r = thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found", key);
		goto out;
	}
	for (size_t j = 0; j < s->n_snaps; j++)
		if (s->snaps[j]->parent && strcmp(s->snaps[j]->parent, key) == 0) {
			r = thinsnap_error_setf(reterr, -ENOTEMPTY, "snapshot '%s' has children",
						key);
			goto out;
		}
	if (s->bind_root)
		(void)shell("rm -rf '%s/%u'", s->bind_root, s->snaps[i]->id);
	snap_free(s->snaps[i]);
	memmove(&s->snaps[i], &s->snaps[i + 1], (s->n_snaps - i - 1) * sizeof(s->snaps[0]));
	s->n_snaps--;
	r = 0;
out:
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int info_of(const struct fake_snap *f, struct thinsnap_info **ret)
{
	struct thinsnap_info *i = calloc(1, sizeof(*i));

	if (!i)
		return -ENOMEM;
	i->name = strdup(f->name);
	i->parent = f->parent ? strdup(f->parent) : NULL;
	i->kind = f->kind;
	i->created_ns = f->created_ns;
	i->updated_ns = f->updated_ns;
	if (!i->name || (f->parent && !i->parent) ||
	    labels_dup(f->labels, f->n_labels, &i->labels) < 0) {
		thinsnap_info_free(i);
		return -ENOMEM;
	}
	i->n_labels = f->n_labels;
	*ret = i;
	return 0;
}

int thinsnap_stat(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_info **ret,
		  struct thinsnap_error *reterr)
{
	struct fake_snap *f;
	int r;

	if (!s || !key || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "bad arguments");
	pthread_rwlock_rdlock(&s->lock);
	f = find(s, key);
	if (!f)
		r = thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found", key);
	else if ((r = info_of(f, ret)) < 0)
		r = thinsnap_error_setf(reterr, r, "out of memory");
	pthread_rwlock_unlock(&s->lock);
	return r;
}

static int label_set(struct fake_snap *f, const char *k, const char *v)
{
	struct thinsnap_label *n;
	char *nv;

	for (size_t i = 0; i < f->n_labels; i++)
		if (strcmp(f->labels[i].key, k) == 0) {
			if (!v) {
				free((char *)f->labels[i].key);
				free((char *)f->labels[i].value);
				f->labels[i] = f->labels[--f->n_labels];
				return 0;
			}
			nv = strdup(v);
			if (!nv)
				return -ENOMEM;
			free((char *)f->labels[i].value);
			f->labels[i].value = nv;
			return 0;
		}
	if (!v)
		return 0;
	n = realloc(f->labels, (f->n_labels + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	f->labels = n;
	n[f->n_labels].key = strdup(k);
	n[f->n_labels].value = strdup(v);
	if (!n[f->n_labels].key || !n[f->n_labels].value) {
		free((char *)n[f->n_labels].key);
		free((char *)n[f->n_labels].value);
		return -ENOMEM;
	}
	f->n_labels++;
	return 0;
}

static const char *info_label(const struct thinsnap_info *info, const char *k)
{
	for (size_t i = 0; i < info->n_labels; i++)
		if (strcmp(info->labels[i].key, k) == 0)
			return info->labels[i].value;
	return NULL;
}

int thinsnap_update(struct thinsnap_snapshotter *s, const struct thinsnap_info *info,
		    const char *const *fieldpaths, size_t n_fieldpaths, struct thinsnap_info **ret,
		    struct thinsnap_error *reterr)
{
	struct fake_snap *f;
	struct thinsnap_label *l = NULL;
	bool replace = n_fieldpaths == 0;
	int r;

	if (!s || !info || !info->name)
		return thinsnap_error_setf(reterr, -EINVAL, "no name");
	for (size_t i = 0; i < n_fieldpaths; i++)
		if (strcmp(fieldpaths[i], "labels") != 0 &&
		    strncmp(fieldpaths[i], "labels.", 7) != 0)
			return thinsnap_error_setf(reterr, -EINVAL, "cannot update field '%s'",
						   fieldpaths[i]);
	r = write_begin(s, reterr);
	if (r < 0)
		return r;
	f = find(s, info->name);
	if (!f) {
		r = thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found", info->name);
		goto out;
	}
	for (size_t i = 0; i < n_fieldpaths; i++)
		if (strcmp(fieldpaths[i], "labels") == 0)
			replace = true;
	if (replace) {
		if (labels_dup(info->labels, info->n_labels, &l) < 0) {
			r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			goto out;
		}
		labels_free(f->labels, f->n_labels);
		f->labels = l;
		f->n_labels = info->n_labels;
	}
	for (size_t i = 0; i < n_fieldpaths; i++) {
		if (strncmp(fieldpaths[i], "labels.", 7) != 0)
			continue;
		const char *k = fieldpaths[i] + 7;
		if (label_set(f, k, info_label(info, k)) < 0) {
			r = thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			goto out;
		}
	}
	f->updated_ns = now_ns();
	r = 0;
	if (ret && (r = info_of(f, ret)) < 0)
		r = thinsnap_error_setf(reterr, r, "out of memory");
out:
	pthread_rwlock_unlock(&s->lock);
	return r;
}

int thinsnap_usage(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_usage *ret,
		   struct thinsnap_error *reterr)
{
	struct fake_snap *f;
	int r = 0;

	if (!s || !key || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "bad arguments");
	pthread_rwlock_rdlock(&s->lock);
	f = find(s, key);
	if (!f) {
		r = thinsnap_error_setf(reterr, -ENOENT, "snapshot '%s' not found", key);
	} else {
		ret->size_bytes = 4096 * (int64_t)f->id;
		ret->inodes = 11;
	}
	pthread_rwlock_unlock(&s->lock);
	return r;
}

/* filter field lookup over a fake snapshot (the real filter code: snap/filter.c) */
static bool snap_field(void *userdata, const char *const *path, size_t depth, const char **ret)
{
	const struct fake_snap *f = userdata;
	char k[4096];

	*ret = NULL;
	if (depth == 1 && strcmp(path[0], "name") == 0)
		*ret = f->name;
	else if (depth == 1 && strcmp(path[0], "parent") == 0)
		*ret = f->parent;
	else if (depth == 1 && strcmp(path[0], "kind") == 0)
		*ret = thinsnap_kind_name(f->kind);
	else if (thinsnap_filter_label_key(path, depth, k, sizeof(k)))
		for (size_t i = 0; i < f->n_labels; i++)
			if (strcmp(f->labels[i].key, k) == 0)
				*ret = f->labels[i].value;
	return *ret != NULL;
}

DEFINE_CLEANUP(struct thinsnap_filter *, thinsnap_filter_free)

int thinsnap_walk(struct thinsnap_snapshotter *s, const char *const *filters, size_t n_filters,
		  thinsnap_walk_fn fn, void *userdata, struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_filter_freep) struct thinsnap_filter *filter = NULL;
	struct thinsnap_info **infos = NULL;
	size_t n = 0;
	int r = 0;

	if (!s || !fn)
		return thinsnap_error_setf(reterr, -EINVAL, "bad arguments");
	if (n_filters) {
		r = thinsnap_filter_parse(filters, n_filters, &filter, reterr);
		if (r < 0)
			return r;
	}
	/* Snapshot the matching infos under the lock, call fn without it (fn may stat). */
	pthread_rwlock_rdlock(&s->lock);
	infos = calloc(s->n_snaps + 1, sizeof(*infos));
	if (!infos) {
		pthread_rwlock_unlock(&s->lock);
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < s->n_snaps && r >= 0; i++) {
		if (filter && !thinsnap_filter_match(filter, snap_field, s->snaps[i]))
			continue;
		if ((r = info_of(s->snaps[i], &infos[n])) >= 0)
			n++;
		else
			r = thinsnap_error_setf(reterr, r, "out of memory");
	}
	pthread_rwlock_unlock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		if (r >= 0) {
			int q = fn(userdata, infos[i]);
			if (q < 0)
				r = thinsnap_error_setf(reterr, q, "walk stopped");
		}
		thinsnap_info_free(infos[i]);
	}
	free(infos);
	return r < 0 ? r : 0;
}

int thinsnap_cleanup(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	if (!s)
		return thinsnap_error_setf(reterr, -EINVAL, "no snapshotter");
	return 0;
}

int thinsnap_check(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
		   struct thinsnap_error *reterr)
{
	(void)s;
	(void)ret;
	return thinsnap_error_setf(reterr, -EOPNOTSUPP, "the fake has no pool to check");
}

int thinsnap_repair(struct thinsnap_snapshotter *s, struct thinsnap_check_report **ret,
		    struct thinsnap_error *reterr)
{
	(void)s;
	(void)ret;
	return thinsnap_error_setf(reterr, -EOPNOTSUPP, "the fake has no pool to repair");
}

/* No pool behind the fake: nothing to grow, no space to report, and no dm events. */
int thinsnap_autogrow(struct thinsnap_snapshotter *s, const struct thinsnap_autogrow_policy *policy,
		      struct thinsnap_space_report *ret, struct thinsnap_error *reterr)
{
	if (policy && thinsnap_version_check(policy->version, THINSNAP_AUTOGROW_POLICY_VERSION,
					     "thinsnap_autogrow_policy", reterr) < 0)
		return -EINVAL;
	if (!s || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "no snapshotter");
	memset(ret, 0, sizeof(*ret));
	return 0;
}

int thinsnap_wait_pool_event(struct thinsnap_snapshotter *s, uint32_t *event_nr, int timeout_ms,
			     struct thinsnap_error *reterr)
{
	struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };

	if (!s || !event_nr)
		return thinsnap_error_setf(reterr, -EINVAL, "no snapshotter");
	(void)nanosleep(&ts, NULL);
	return 0;
}

/* Exclusive bytes are the fake's size figure; it shares nothing. */
int thinsnap_usage_detail(struct thinsnap_snapshotter *s, const char *const *keys, size_t n_keys,
			  struct thinsnap_usage_detail *ret, struct thinsnap_error *reterr)
{
	for (size_t i = 0; i < n_keys; i++) {
		struct thinsnap_usage u = { 0, 0 };
		int r = thinsnap_usage(s, keys[i], &u, reterr);
		if (r < 0)
			return r;
		ret[i] = (struct thinsnap_usage_detail){ .size_bytes = u.size_bytes,
							 .exclusive_bytes = u.size_bytes,
							 .inodes = u.inodes };
	}
	return 0;
}

int thinsnap_counts(struct thinsnap_snapshotter *s, struct thinsnap_counts *ret,
		    struct thinsnap_error *reterr)
{
	struct thinsnap_counts c = { 0 };

	if (!s || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "bad arguments");
	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < s->n_snaps; i++) {
		if (s->snaps[i]->kind == THINSNAP_KIND_VIEW)
			c.views++;
		else if (s->snaps[i]->kind == THINSNAP_KIND_ACTIVE)
			c.active++;
		else if (s->snaps[i]->kind == THINSNAP_KIND_COMMITTED)
			c.committed++;
	}
	pthread_rwlock_unlock(&s->lock);
	*ret = c;
	return 0;
}

int thinsnap_status(struct thinsnap_snapshotter *s, struct thinsnap_pool_status *ret,
		    struct thinsnap_error *reterr)
{
	(void)s;
	(void)ret;
	return thinsnap_error_setf(reterr, -EOPNOTSUPP, "the fake has no pool");
}

int thinsnap_capacity(struct thinsnap_snapshotter *s, struct thinsnap_pool_capacity *ret,
		      struct thinsnap_error *reterr)
{
	(void)s;
	(void)ret;
	return thinsnap_error_setf(reterr, -EOPNOTSUPP, "the fake has no pool");
}

/* thinsnapd's stream socket: the fake has no thin devices to stream. */
int thinsnap_stream_serve(struct thinsnap_snapshotter *s, int conn, struct thinsnap_error *reterr)
{
	(void)s;
	(void)conn;
	return thinsnap_error_setf(reterr, -EOPNOTSUPP, "the fake has no pool to stream");
}

/*
 * unpack/: thinsnap_unpack() on a fake snapshotter whose snapshots are directories mounted
 * with rbind (the snapshotter API is replaced at link time; copies stand in for thin
 * snapshots). Checks chain IDs committed bottom up, skipping present layers, nothing
 * committed and the active key removed on a digest mismatch or a bad layer, stale keys of
 * dead processes removed, options of an unknown version refused before anything. Needs root
 * (skipped without): its mounts stay in the private mount namespace that thinsnap_unpack()
 * makes for itself.
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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thinsnap/snapshotter.h>
#include <thinsnap/unpack.h>

#include "tarbuf.h"
#include "testutil.h"
#include "unpack/unpack.h"

/* ---- the fake snapshotter ---- */

struct thinsnap_snapshotter {
	int unused;
};

struct fsnap {
	char *key, *parent;
	enum thinsnap_kind kind;
	char dir[160];
};

static struct fsnap snaps[64];
static size_t n_snaps;
static char snapdir[96];
static unsigned n_prepares, n_commits, n_removes, seq;

static struct fsnap *find(const char *key)
{
	for (size_t i = 0; i < n_snaps; i++)
		if (strcmp(snaps[i].key, key) == 0)
			return &snaps[i];
	return NULL;
}

static void sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

static struct fsnap *add_snap(const char *key, const char *parent, enum thinsnap_kind kind)
{
	struct fsnap *f = &snaps[n_snaps++];

	f->key = strdup(key);
	f->parent = parent ? strdup(parent) : NULL;
	f->kind = kind;
	snprintf(f->dir, sizeof(f->dir), "%s/%u", snapdir, seq++);
	assert_int_equal(mkdir(f->dir, 0755), 0);
	return f;
}

int thinsnap_prepare(struct thinsnap_snapshotter *s, const char *key, const char *parent,
		     const struct thinsnap_label *labels, size_t n_labels,
		     struct thinsnap_mount **ret_mount, struct thinsnap_error *reterr)
{
	struct fsnap *p = NULL, *f;
	struct thinsnap_mount *m;

	(void)s;
	assert_non_null(labels);
	assert_int_equal(n_labels, 1);
	assert_string_equal(labels[0].key, "containerd.io/snapshot.ref");
	if (find(key))
		return thinsnap_error_setf(reterr, -EEXIST, "key '%s' exists", key);
	if (parent && *parent) {
		p = find(parent);
		if (!p || p->kind != THINSNAP_KIND_COMMITTED)
			return thinsnap_error_setf(reterr, -ENOENT, "no parent '%s'", parent);
	}
	n_prepares++;
	f = add_snap(key, parent, THINSNAP_KIND_ACTIVE);
	if (p)
		sh("cp -a '%s'/. '%s'/", p->dir, f->dir);
	m = calloc(1, sizeof(*m));
	m->type = strdup("none");
	m->source = strdup(f->dir);
	m->options = calloc(1, sizeof(char *));
	m->options[0] = strdup("rbind");
	m->n_options = 1;
	*ret_mount = m;
	return 0;
}

int thinsnap_commit(struct thinsnap_snapshotter *s, const char *name, const char *key,
		    const struct thinsnap_label *labels, size_t n_labels, unsigned flags,
		    struct thinsnap_error *reterr)
{
	struct fsnap *f = find(key);

	(void)s;
	(void)labels;
	(void)n_labels;
	assert_int_equal(flags, 0);
	if (!f || f->kind != THINSNAP_KIND_ACTIVE)
		return thinsnap_error_setf(reterr, -ENOENT, "no active '%s'", key);
	if (find(name))
		return thinsnap_error_setf(reterr, -EEXIST, "'%s' exists", name);
	n_commits++;
	free(f->key);
	f->key = strdup(name);
	f->kind = THINSNAP_KIND_COMMITTED;
	return 0;
}

int thinsnap_remove(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_error *reterr)
{
	struct fsnap *f = find(key);

	(void)s;
	if (!f)
		return thinsnap_error_setf(reterr, -ENOENT, "no '%s'", key);
	n_removes++;
	sh("rm -rf '%s'", f->dir);
	free(f->key);
	free(f->parent);
	*f = snaps[--n_snaps];
	return 0;
}

static struct thinsnap_info info_of(const struct fsnap *f)
{
	return (struct thinsnap_info){ .name = f->key, .parent = f->parent, .kind = f->kind };
}

int thinsnap_stat(struct thinsnap_snapshotter *s, const char *key, struct thinsnap_info **ret,
		  struct thinsnap_error *reterr)
{
	struct fsnap *f = find(key);
	struct thinsnap_info *i;

	(void)s;
	if (!f)
		return thinsnap_error_setf(reterr, -ENOENT, "no '%s'", key);
	i = calloc(1, sizeof(*i));
	*i = info_of(f);
	i->name = strdup(f->key);
	i->parent = f->parent ? strdup(f->parent) : NULL;
	*ret = i;
	return 0;
}

int thinsnap_walk(struct thinsnap_snapshotter *s, const char *const *filters, size_t n_filters,
		  thinsnap_walk_fn fn, void *userdata, struct thinsnap_error *reterr)
{
	(void)s;
	(void)filters;
	(void)reterr;
	assert_int_equal(n_filters, 0);
	for (size_t i = 0; i < n_snaps; i++) {
		struct thinsnap_info info = info_of(&snaps[i]);
		int r = fn(userdata, &info);

		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- images ---- */

/* An uncompressed layer of one file name with content data. */
static struct tarbuf make_layer(const char *name, const char *data)
{
	struct tarbuf t;

	tarbuf_begin(&t, TARBUF_NONE);
	tarbuf_add_file(&t, name, data);
	tarbuf_end(&t);
	return t;
}

static char tmp[64];

static void write_file(const char *path, const void *p, size_t n)
{
	assert_int_equal(tu_write(path, p, n), 0);
}

static void put_blob(const char *layout, const void *p, size_t n, char *digest)
{
	char path[256];

	assert_int_equal(thinsnap_unpack_sha256(p, n, digest), 0);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, digest + 7);
	write_file(path, p, n);
}

/* An OCI layout of the given uncompressed layers; layer bad_blob's blob is replaced by
 * `replacement` (a valid tar with other bytes) when set. */
static void make_image(const char *layout, struct tarbuf *layers, size_t n, int bad_blob,
		       const struct tarbuf *replacement)
{
	char digests[8][THINSNAP_UNPACK_DIGEST_LEN], cfg[THINSNAP_UNPACK_DIGEST_LEN];
	char man[THINSNAP_UNPACK_DIGEST_LEN];
	char s[4096], ids[1024] = "", descs[2048] = "";

	sh("mkdir -p '%s/blobs/sha256'", layout);
	for (size_t i = 0; i < n; i++) {
		put_blob(layout, layers[i].buf, layers[i].len, digests[i]);
		snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids), "%s\"%s\"", i ? "," : "",
			 digests[i]);
		snprintf(descs + strlen(descs), sizeof(descs) - strlen(descs),
			 "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
			 "\"digest\":\"%s\",\"size\":%zu}",
			 i ? "," : "", digests[i], layers[i].len);
		if ((int)i == bad_blob) {
			char path[256];

			snprintf(path, sizeof(path), "%s/blobs/sha256/%s", layout, digests[i] + 7);
			write_file(path, replacement->buf, replacement->len);
		}
	}
	snprintf(s, sizeof(s), "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}", ids);
	put_blob(layout, s, strlen(s), cfg);
	snprintf(s, sizeof(s),
		 "{\"schemaVersion\":2,\"config\":{\"mediaType\":"
		 "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":1},"
		 "\"layers\":[%s]}",
		 cfg, descs);
	put_blob(layout, s, strlen(s), man);
	snprintf(s, sizeof(s),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":1}]}",
		 man);
	snprintf(descs, sizeof(descs), "%s/index.json", layout);
	write_file(descs, s, strlen(s));
}

struct done {
	unsigned committed, skipped;
	uint64_t progress_bytes;
};

static void on_done(void *ud, size_t layer, size_t n, const char *chain, bool skipped)
{
	struct done *d = ud;

	(void)layer;
	(void)n;
	assert_non_null(find(chain));
	if (skipped)
		d->skipped++;
	else
		d->committed++;
}

static void on_progress(void *ud, size_t layer, size_t n, uint64_t done, int64_t total)
{
	struct done *d = ud;

	(void)layer;
	(void)n;
	assert_true(total < 0 || (int64_t)done <= total);
	d->progress_bytes = done;
}

static int run_unpack_version(const char *layout, unsigned int version, struct done *d,
			      struct thinsnap_error *err)
{
	struct thinsnap_snapshotter s = { 0 };
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_unpack_options o = THINSNAP_UNPACK_OPTIONS_INIT;
	int r = thinsnap_unpack_image_open(layout, NULL, NULL, &img, err);

	if (r < 0)
		return r;
	o.version = version;
	o.mount_dir = tmp;
	o.progress = on_progress;
	o.layer_done = on_done;
	o.userdata = d;
	r = thinsnap_unpack(&s, img, &o, err);
	thinsnap_unpack_image_free(img);
	return r;
}

static int run_unpack(const char *layout, struct done *d, struct thinsnap_error *err)
{
	return run_unpack_version(layout, THINSNAP_UNPACK_OPTIONS_VERSION, d, err);
}

static size_t count_prefix(const char *prefix)
{
	size_t c = 0;

	for (size_t i = 0; i < n_snaps; i++)
		c += strncmp(snaps[i].key, prefix, strlen(prefix)) == 0;
	return c;
}

/* Unpacking mounts and sets owners: without root, the case is skipped. */
static void need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static int setup(void **state)
{
	(void)state;
	strcpy(tmp, "/tmp/test-unpack-snap.XXXXXX");
	assert_non_null(mkdtemp(tmp));
	snprintf(snapdir, sizeof(snapdir), "%s/snaps", tmp);
	assert_int_equal(mkdir(snapdir, 0755), 0);
	n_prepares = n_commits = n_removes = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	while (n_snaps > 0)
		assert_int_equal(thinsnap_remove(NULL, snaps[0].key, NULL), 0);
	sh("rm -rf '%s'", tmp);
	return 0;
}

static void test_unpack_and_skip(void **state)
{
	need_root(); /* before the layers are built */
	struct tarbuf l[3] = { make_layer("a", "A"), make_layer("b", "B"), make_layer("a", "A2") };
	struct thinsnap_error err = { 0 };
	struct done d = { 0 };
	char layout[128], chain[3][THINSNAP_UNPACK_DIGEST_LEN], diff[THINSNAP_UNPACK_DIGEST_LEN];
	int r;

	(void)state;
	snprintf(layout, sizeof(layout), "%s/img", tmp);
	make_image(layout, l, 3, -1, NULL);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(thinsnap_unpack_sha256(l[i].buf, l[i].len, diff), 0);
		assert_int_equal(
			thinsnap_unpack_chain_id(i ? chain[i - 1] : NULL, diff, chain[i], NULL), 0);
	}
	r = run_unpack(layout, &d, &err);
	if (r < 0)
		fail_msg("unpack: %s", err.msg);
	assert_int_equal(d.committed, 3);
	assert_int_equal(d.skipped, 0);
	assert_int_equal(d.progress_bytes, l[2].len);
	assert_int_equal(n_snaps, 3);
	assert_null(find(chain[0])->parent);
	assert_string_equal(find(chain[1])->parent, chain[0]);
	assert_string_equal(find(chain[2])->parent, chain[1]);
	{
		char path[256];
		FILE *f;
		char buf[8] = { 0 };

		snprintf(path, sizeof(path), "%s/a", find(chain[2])->dir);
		f = fopen(path, "r");
		assert_non_null(f);
		assert_int_equal(fread(buf, 1, sizeof(buf), f), 2);
		fclose(f);
		assert_string_equal(buf, "A2");
		snprintf(path, sizeof(path), "%s/b", find(chain[2])->dir);
		assert_int_equal(access(path, F_OK), 0);
	}
	/* again: everything present, nothing prepared */
	memset(&d, 0, sizeof(d));
	n_prepares = 0;
	assert_int_equal(run_unpack(layout, &d, &err), 0);
	assert_int_equal(d.skipped, 3);
	assert_int_equal(n_prepares, 0);
	/* no mount left behind */
	assert_int_equal(system("! grep -q thinsnap-unpack /proc/self/mounts"), 0);
	for (size_t i = 0; i < 3; i++)
		free(l[i].buf);
}

static void test_digest_mismatch_commits_nothing(void **state)
{
	need_root(); /* before the layers are built */
	struct tarbuf l[2] = { make_layer("a", "A"), make_layer("b", "B") };
	struct tarbuf other = make_layer("c", "C");
	struct thinsnap_error err = { 0 };
	struct done d = { 0 };
	char layout[128];

	(void)state;
	snprintf(layout, sizeof(layout), "%s/img", tmp);
	make_image(layout, l, 2, 1, &other);
	assert_int_equal(run_unpack(layout, &d, &err), -EBADMSG);
	assert_int_equal(err.err, -EBADMSG);
	assert_non_null(strstr(err.msg, "digest"));
	assert_int_equal(d.committed, 1); /* the good bottom layer */
	assert_int_equal(n_snaps, 1);
	assert_int_equal(count_prefix("unpack-"), 0);
	assert_int_equal(n_removes, 1);
	assert_int_equal(system("! grep -q thinsnap-unpack /proc/self/mounts"), 0);
	free(l[0].buf);
	free(l[1].buf);
	free(other.buf);
}

static void test_bad_layer_commits_nothing(void **state)
{
	need_root(); /* before the layers are built */
	struct tarbuf l[1] = { make_layer("a", "A") };
	struct tarbuf junk = { .buf = strdup(
				       "not a tar at all, and not compressed either; just text "
				       "that goes on for a bit to look like a blob ........."),
			       .len = 100 };
	struct thinsnap_error err = { 0 };
	struct done d = { 0 };
	char layout[128];

	(void)state;
	snprintf(layout, sizeof(layout), "%s/img", tmp);
	make_image(layout, l, 1, 0, &junk);
	assert_true(run_unpack(layout, &d, &err) < 0);
	assert_int_equal(n_snaps, 0);
	assert_int_equal(n_commits, 0);
	free(l[0].buf);
	free(junk.buf);
}

static void test_stale_keys(void **state)
{
	need_root(); /* before the layers are built */
	struct tarbuf l[1] = { make_layer("a", "A") };
	struct thinsnap_error err = { 0 };
	struct done d = { 0 };
	char layout[128], key[128];
	pid_t dead = fork();

	(void)state;
	if (dead == 0)
		_exit(0);
	assert_int_equal(waitpid(dead, NULL, 0), dead);
	snprintf(key, sizeof(key), "unpack-%d-sha256:1234", (int)dead);
	add_snap(key, NULL, THINSNAP_KIND_ACTIVE);
	snprintf(key, sizeof(key), "unpack-%d-sha256:5678", (int)getppid());
	add_snap(key, NULL, THINSNAP_KIND_ACTIVE); /* alive: kept */
	add_snap("unpack-notapid", NULL, THINSNAP_KIND_ACTIVE);
	snprintf(layout, sizeof(layout), "%s/img", tmp);
	make_image(layout, l, 1, -1, NULL);
	assert_int_equal(run_unpack(layout, &d, &err), 0);
	assert_int_equal(count_prefix("unpack-"), 2);
	snprintf(key, sizeof(key), "unpack-%d-sha256:1234", (int)dead);
	assert_null(find(key));
	free(l[0].buf);
}

/* The mount namespace the calling thread is in, as "mnt:[inode]". */
static void mount_ns(char buf[64])
{
	ssize_t n = readlink("/proc/thread-self/ns/mnt", buf, 63);

	assert_true(n > 0);
	buf[n] = '\0';
}

/* Options of version 0 or a newer header: -EINVAL, no namespace made, no snapshot touched. */
static void test_bad_version_touches_nothing(void **state)
{
	struct tarbuf l[1] = { make_layer("a", "A") };
	struct thinsnap_error err = { 0 };
	struct done d = { 0 };
	char layout[128], ns[64], ns_after[64], key[128];

	(void)state;
	snprintf(layout, sizeof(layout), "%s/img", tmp);
	make_image(layout, l, 1, -1, NULL);
	snprintf(key, sizeof(key), "unpack-%d-sha256:1234", (int)0x7ffffff0);
	add_snap(key, NULL, THINSNAP_KIND_ACTIVE); /* stale: a real unpack would remove it */
	mount_ns(ns);
	assert_int_equal(run_unpack_version(layout, 0, &d, &err), -EINVAL);
	assert_string_equal(err.msg, "thinsnap_unpack_options version 0 is not supported (this "
				     "library knows 1); start from THINSNAP_UNPACK_OPTIONS_INIT");
	assert_int_equal(run_unpack_version(layout, THINSNAP_UNPACK_OPTIONS_VERSION + 1, &d, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "thinsnap_unpack_options version 2 is not supported (this "
				     "library knows 1); start from THINSNAP_UNPACK_OPTIONS_INIT");
	mount_ns(ns_after);
	assert_string_equal(ns, ns_after);
	assert_int_equal(n_prepares, 0);
	assert_int_equal(n_removes, 0);
	assert_int_equal(n_snaps, 1);
	assert_non_null(find(key));
	assert_int_equal(d.committed + d.skipped, 0);
	free(l[0].buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unpack_and_skip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_mismatch_commits_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_layer_commits_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_version_touches_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

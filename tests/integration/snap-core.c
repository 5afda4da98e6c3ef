/*
 * The snapshotter on a real dm-thin pool (run as root by t0400-snap-core.sh, in the VM when
 * the kernel lacks dm-thin): real thin devices, real ext4 mounted by the kernel, file
 * contents read back, error codes for every refusal, and crashes at each fault point.
 */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thinsnap/error.h>
#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#include "base/fault.h"
#include "itest.h"

static struct itest_pool P;
static struct thinsnap_snapshotter *S;

static struct thinsnap_options opts(void)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;

	o.state_dir = P.state_dir;
	o.pool_name = P.name;
	o.base_size_bytes = 128ull << 20;
	o.fs_type = "ext4";
	return o;
}

static void open_s(void)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_options o = opts();
	int r = thinsnap_open(&o, &S, &e);
	if (r < 0)
		fail_msg("open: %s", e.msg);
}

static void close_s(void)
{
	thinsnap_free(S);
	S = NULL;
}

static int setup(void **state)
{
	(void)state;
	if (itest_create_pool("snapcore", "tsc", 1ull << 30, false, &P) < 0)
		return -1;
	open_s();
	return 0;
}

static int walk_remove_cb(void *u, const struct thinsnap_info *info)
{
	(void)u;
	(void)info;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	(void)walk_remove_cb;
	umount2(P.mnt, MNT_DETACH);
	close_s();
	return itest_destroy_pool(&P);
}

/* ---- helpers ---- */

static void write_file(const char *dir, const char *name, const char *content)
{
	char p[600];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	if (!f)
		fail_msg("write %s: %s", p, strerror(errno));
	fputs(content, f);
	assert_int_equal(fclose(f), 0);
}

/* Returns the file's content (static buffer), or NULL if it does not exist. */
static const char *read_file(const char *dir, const char *name)
{
	static char buf[4096];
	char p[600];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "r");
	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* prepare key on parent, mount, write name=content, umount, commit as name_c */
static void layer(const char *key, const char *parent, const char *file, const char *content,
		  const char *commit_name)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;

	itest_must(thinsnap_prepare(S, key, parent, NULL, 0, &m, &e), &e, "prepare");
	itest_mount(m, P.mnt);
	write_file(P.mnt, file, content);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	if (commit_name)
		itest_must(thinsnap_commit(S, commit_name, key, NULL, 0, 0, &e), &e, "commit");
}

static const char *view_read(const char *parent, const char *file)
{
	static char out[4096];
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	const char *c;

	itest_must(thinsnap_view(S, "tmp-view", parent, NULL, 0, &m, &e), &e, "view");
	itest_mount(m, P.mnt);
	c = read_file(P.mnt, file);
	snprintf(out, sizeof(out), "%s", c ? c : "(missing)");
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	itest_must(thinsnap_remove(S, "tmp-view", &e), &e, "remove view");
	return out;
}

static void rm(const char *key)
{
	struct thinsnap_error e = { 0 };
	itest_must(thinsnap_remove(S, key, &e), &e, key);
}

/* ---- tests ---- */

static void test_empty_prepare(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	struct stat st;

	(void)state;
	itest_must(thinsnap_prepare(S, "default/1/empty", "", NULL, 0, &m, &e), &e, "prepare");
	assert_int_equal(m->n_options, 0);
	assert_string_equal(m->type, "ext4");
	itest_mount(m, P.mnt);
	assert_int_equal(count_entries(P.mnt), 0); /* no lost+found, nothing */
	assert_int_equal(stat(P.mnt, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	write_file(P.mnt, "hello", "world");
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	/* mounts() gives the same device */
	itest_must(thinsnap_mounts(S, "default/1/empty", &m, &e), &e, "mounts");
	itest_mount(m, P.mnt);
	assert_string_equal(read_file(P.mnt, "hello"), "world");
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	rm("default/1/empty");
	itest_assert_check_clean(S);
}

static void test_commit_and_child(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_info *info = NULL;
	struct thinsnap_label l[] = { { "containerd.io/gc.root", "x" } };

	(void)state;
	layer("c-active", NULL, "base.txt", "layer one", NULL);
	itest_must(thinsnap_commit(S, "c-layer1", "c-active", l, 1, 0, &e), &e, "commit");
	/* the active key is retired */
	itest_expect_err(thinsnap_stat(S, "c-active", &info, &e), &e, THINSNAP_CODE_NOT_FOUND);
	itest_must(thinsnap_stat(S, "c-layer1", &info, &e), &e, "stat");
	assert_int_equal(info->kind, THINSNAP_KIND_COMMITTED);
	assert_null(info->parent);
	assert_int_equal(info->n_labels, 1);
	assert_string_equal(info->labels[0].value, "x");
	thinsnap_info_free(info);
	layer("c-child", "c-layer1", "child.txt", "layer two", "c-layer2");
	itest_must(thinsnap_stat(S, "c-layer2", &info, &e), &e, "stat");
	assert_string_equal(info->parent, "c-layer1");
	thinsnap_info_free(info);
	assert_string_equal(view_read("c-layer2", "base.txt"), "layer one");
	assert_string_equal(view_read("c-layer2", "child.txt"), "layer two");
	assert_string_equal(view_read("c-layer1", "child.txt"), "(missing)");
	itest_expect_err(thinsnap_remove(S, "c-layer1", &e), &e, THINSNAP_CODE_FAILED_PRECONDITION);
	rm("c-layer2");
	rm("c-layer1");
	itest_assert_check_clean(S);
}

static void test_view_readonly(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	char p[600];

	(void)state;
	layer("v-a", NULL, "f", "content", "v-c");
	itest_must(thinsnap_view(S, "v-view", "v-c", NULL, 0, &m, &e), &e, "view");
	assert_int_equal(m->n_options, 2);
	assert_string_equal(m->options[0], "ro");
	assert_string_equal(m->options[1], "noload");
	/* the device itself is read-only: a read-write mount is refused */
	assert_int_not_equal(mount(m->source, P.mnt, m->type, 0, NULL), 0);
	itest_mount(m, P.mnt);
	assert_string_equal(read_file(P.mnt, "f"), "content");
	snprintf(p, sizeof(p), "%s/new", P.mnt);
	assert_true(open(p, O_CREAT | O_WRONLY, 0644) < 0);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	/* a view can't be committed, and has no children */
	itest_expect_err(thinsnap_commit(S, "v-x", "v-view", NULL, 0, 0, &e), &e,
			 THINSNAP_CODE_FAILED_PRECONDITION);
	itest_expect_err(thinsnap_prepare(S, "v-child", "v-view", NULL, 0, NULL, &e), &e,
			 THINSNAP_CODE_INVALID_ARGUMENT);
	rm("v-view");
	rm("v-c");
	itest_assert_check_clean(S);
}

/* The seed's model: commit keeping the active key; each commit holds its moment. */
static void test_keep_active(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	struct thinsnap_info *info = NULL;

	(void)state;
	layer("k-p0a", NULL, "f", "p0", "k-P0");
	itest_must(thinsnap_prepare(S, "k-a", "k-P0", NULL, 0, &m, &e), &e, "prepare a");
	itest_mount(m, P.mnt);
	write_file(P.mnt, "f", "moment one");
	itest_umount(P.mnt);
	itest_must(thinsnap_commit(S, "k-P1", "k-a", NULL, 0, THINSNAP_COMMIT_KEEP_ACTIVE, &e), &e,
		   "commit P1");
	/* a is still active and writable, even while mounted at commit time */
	itest_mount(m, P.mnt);
	write_file(P.mnt, "f", "moment two");
	itest_must(thinsnap_commit(S, "k-P2", "k-a", NULL, 0, THINSNAP_COMMIT_KEEP_ACTIVE, &e), &e,
		   "commit P2 while mounted");
	write_file(P.mnt, "f", "moment three");
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	itest_must(thinsnap_stat(S, "k-P1", &info, &e), &e, "stat");
	assert_string_equal(info->parent, "k-P0");
	thinsnap_info_free(info);
	itest_must(thinsnap_stat(S, "k-P2", &info, &e), &e, "stat");
	assert_string_equal(info->parent, "k-P0");
	thinsnap_info_free(info);
	itest_must(thinsnap_stat(S, "k-a", &info, &e), &e, "stat");
	assert_int_equal(info->kind, THINSNAP_KIND_ACTIVE);
	thinsnap_info_free(info);
	assert_string_equal(view_read("k-P0", "f"), "p0");
	assert_string_equal(view_read("k-P1", "f"), "moment one");
	assert_string_equal(view_read("k-P2", "f"), "moment two");
	itest_must(thinsnap_mounts(S, "k-a", &m, &e), &e, "mounts");
	itest_mount(m, P.mnt);
	assert_string_equal(read_file(P.mnt, "f"), "moment three");
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	rm("k-a");
	rm("k-P1");
	rm("k-P2");
	rm("k-P0");
	itest_assert_check_clean(S);
}

static void test_deep_chain(void **state)
{
	char key[64], name[64], parent[64], file[64], content[64];

	(void)state;
	parent[0] = '\0';
	for (int i = 0; i < 128; i++) {
		snprintf(key, sizeof(key), "chain-active-%d", i);
		snprintf(name, sizeof(name), "chain-%d", i);
		snprintf(file, sizeof(file), "layer-%03d", i);
		snprintf(content, sizeof(content), "content %d", i);
		layer(key, i ? parent : NULL, file, content, name);
		snprintf(parent, sizeof(parent), "%s", name);
	}
	/* every layer's file is visible through a view of the top */
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	itest_must(thinsnap_view(S, "chain-view", "chain-127", NULL, 0, &m, &e), &e, "view");
	itest_mount(m, P.mnt);
	assert_int_equal(count_entries(P.mnt), 128);
	for (int i = 0; i < 128; i++) {
		snprintf(file, sizeof(file), "layer-%03d", i);
		snprintf(content, sizeof(content), "content %d", i);
		const char *c = read_file(P.mnt, file);
		assert_non_null(c);
		assert_string_equal(c, content);
	}
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	rm("chain-view");
	for (int i = 127; i >= 0; i--) {
		snprintf(name, sizeof(name), "chain-%d", i);
		rm(name);
	}
	itest_assert_check_clean(S);
}

static void test_errors(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_info *info = NULL;
	char *big = calloc(1, 5000);

	(void)state;
	layer("e-a", NULL, "f", "x", "e-c");
	layer("e-act", "e-c", "f", "y", NULL);
	itest_expect_err(thinsnap_prepare(S, "e-act", "e-c", NULL, 0, NULL, &e), &e,
			 THINSNAP_CODE_ALREADY_EXISTS);
	itest_expect_err(thinsnap_prepare(S, "e-new", "e-missing", NULL, 0, NULL, &e), &e,
			 THINSNAP_CODE_NOT_FOUND);
	itest_expect_err(thinsnap_prepare(S, "e-new", "e-act", NULL, 0, NULL, &e), &e,
			 THINSNAP_CODE_INVALID_ARGUMENT);
	itest_expect_err(thinsnap_prepare(S, "", NULL, NULL, 0, NULL, &e), &e,
			 THINSNAP_CODE_INVALID_ARGUMENT);
	memset(big, 'k', 4097);
	itest_expect_err(thinsnap_prepare(S, big, NULL, NULL, 0, NULL, &e), &e,
			 THINSNAP_CODE_INVALID_ARGUMENT);
	big[4096] = '\0'; /* 4096 bytes is fine */
	itest_must(thinsnap_prepare(S, big, NULL, NULL, 0, NULL, &e), &e, "4 KiB key");
	rm(big);
	struct thinsnap_label huge[] = { { "k", big } };
	itest_expect_err(thinsnap_prepare(S, "e-l", NULL, huge, 1, NULL, &e), &e,
			 THINSNAP_CODE_INVALID_ARGUMENT);
	itest_expect_err(thinsnap_stat(S, "e-l", &info, &e), &e, THINSNAP_CODE_NOT_FOUND);
	itest_expect_err(thinsnap_commit(S, "e-c", "e-act", NULL, 0, 0, &e), &e,
			 THINSNAP_CODE_ALREADY_EXISTS);
	itest_expect_err(thinsnap_commit(S, "e-x", "e-missing", NULL, 0, 0, &e), &e,
			 THINSNAP_CODE_NOT_FOUND);
	itest_expect_err(thinsnap_commit(S, "e-x", "e-c", NULL, 0, 0, &e), &e,
			 THINSNAP_CODE_FAILED_PRECONDITION);
	itest_expect_err(thinsnap_remove(S, "e-missing", &e), &e, THINSNAP_CODE_NOT_FOUND);
	itest_expect_err(thinsnap_remove(S, "e-c", &e), &e, THINSNAP_CODE_FAILED_PRECONDITION);
	struct thinsnap_mount *m = NULL;
	itest_expect_err(thinsnap_mounts(S, "e-c", &m, &e), &e, THINSNAP_CODE_FAILED_PRECONDITION);
	itest_expect_err(thinsnap_mounts(S, "e-missing", &m, &e), &e, THINSNAP_CODE_NOT_FOUND);
	struct thinsnap_info upd = { .name = (char *)"e-c" };
	const char *bad[] = { "name" };
	itest_expect_err(thinsnap_update(S, &upd, bad, 1, NULL, &e), &e,
			 THINSNAP_CODE_INVALID_ARGUMENT);
	upd.name = (char *)"e-missing";
	itest_expect_err(thinsnap_update(S, &upd, NULL, 0, NULL, &e), &e, THINSNAP_CODE_NOT_FOUND);
	/* nothing of the refusals stuck */
	itest_expect_err(thinsnap_stat(S, "e-new", &info, &e), &e, THINSNAP_CODE_NOT_FOUND);
	itest_expect_err(thinsnap_stat(S, "e-x", &info, &e), &e, THINSNAP_CODE_NOT_FOUND);
	rm("e-act");
	rm("e-c");
	/* key and name reuse after remove */
	layer("e-a", NULL, "f", "again", "e-c");
	assert_string_equal(view_read("e-c", "f"), "again");
	rm("e-c");
	free(big);
	itest_assert_check_clean(S);
}

static void test_update_labels(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_info *info = NULL, *got = NULL;
	struct thinsnap_label l[] = { { "a", "1" }, { "b", "2" } };

	(void)state;
	itest_must(thinsnap_prepare(S, "u-a", NULL, l, 2, NULL, &e), &e, "prepare");
	itest_must(thinsnap_stat(S, "u-a", &info, &e), &e, "stat");
	int64_t created = info->created_ns, updated = info->updated_ns;
	assert_int_equal(info->n_labels, 2);
	/* labels.b removed (absent in the new info), labels.c set */
	struct thinsnap_label nl[] = { { "c", "3" } };
	struct thinsnap_info upd = { .name = (char *)"u-a", .labels = nl, .n_labels = 1 };
	const char *paths[] = { "labels.b", "labels.c" };
	itest_must(thinsnap_update(S, &upd, paths, 2, &got, &e), &e, "update");
	assert_int_equal(got->n_labels, 2);
	assert_int_equal(got->created_ns, created);
	assert_true(got->updated_ns > updated);
	bool has_a = false, has_c = false;
	for (size_t i = 0; i < got->n_labels; i++) {
		has_a |= strcmp(got->labels[i].key, "a") == 0;
		has_c |= strcmp(got->labels[i].key, "c") == 0 &&
			 strcmp(got->labels[i].value, "3") == 0;
	}
	assert_true(has_a && has_c);
	thinsnap_info_free(got);
	/* no paths: replace all */
	itest_must(thinsnap_update(S, &upd, NULL, 0, &got, &e), &e, "update all");
	assert_int_equal(got->n_labels, 1);
	assert_string_equal(got->labels[0].key, "c");
	thinsnap_info_free(got);
	thinsnap_info_free(info);
	rm("u-a");
}

struct walk_acc {
	int n;
	char names[16][64];
};

static int walk_cb(void *u, const struct thinsnap_info *info)
{
	struct walk_acc *a = u;
	struct thinsnap_info *again = NULL;

	/* stat from inside the callback works */
	assert_int_equal(thinsnap_stat(S, info->name, &again, NULL), 0);
	thinsnap_info_free(again);
	if (a->n < 16)
		snprintf(a->names[a->n], 64, "%s", info->name);
	a->n++;
	return 0;
}

static void test_walk_filters(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_label l[] = { { "containerd.io/gc.root", "yes" } };
	struct walk_acc a = { 0 };

	(void)state;
	layer("w-a", NULL, "f", "1", "w-c1");
	itest_must(thinsnap_prepare(S, "w-act", "w-c1", l, 1, NULL, &e), &e, "prepare");
	itest_must(thinsnap_view(S, "w-view", "w-c1", NULL, 0, NULL, &e), &e, "view");
	itest_must(thinsnap_walk(S, NULL, 0, walk_cb, &a, &e), &e, "walk");
	assert_int_equal(a.n, 3); /* the base device never shows */
	const char *f1[] = { "kind==committed" };
	a.n = 0;
	itest_must(thinsnap_walk(S, f1, 1, walk_cb, &a, &e), &e, "walk");
	assert_int_equal(a.n, 1);
	assert_string_equal(a.names[0], "w-c1");
	const char *f2[] = { "labels.\"containerd.io/gc.root\"==yes" };
	a.n = 0;
	itest_must(thinsnap_walk(S, f2, 1, walk_cb, &a, &e), &e, "walk");
	assert_int_equal(a.n, 1);
	assert_string_equal(a.names[0], "w-act");
	const char *f3[] = { "kind==view", "parent==w-c1,kind==active" };
	a.n = 0;
	itest_must(thinsnap_walk(S, f3, 2, walk_cb, &a, &e), &e, "walk");
	assert_int_equal(a.n, 2);
	const char *f4[] = { "name~=^w-a" };
	a.n = 0;
	itest_must(thinsnap_walk(S, f4, 1, walk_cb, &a, &e), &e, "walk");
	assert_int_equal(a.n, 1);
	const char *bad[] = { "name==" };
	itest_expect_err(thinsnap_walk(S, bad, 1, walk_cb, &a, &e), &e,
			 THINSNAP_CODE_INVALID_ARGUMENT);
	rm("w-act");
	rm("w-view");
	rm("w-c1");
}

static void test_usage(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_usage u0, u1, uc;
	struct thinsnap_mount *m = NULL;
	char p[600];

	(void)state;
	itest_must(thinsnap_prepare(S, "us-a", NULL, NULL, 0, &m, &e), &e, "prepare");
	itest_must(thinsnap_usage(S, "us-a", &u0, &e), &e, "usage");
	itest_mount(m, P.mnt);
	snprintf(p, sizeof(p), "dd if=/dev/urandom of=%s/blob bs=1M count=8 status=none conv=fsync",
		 P.mnt);
	assert_int_equal(system(p), 0);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	itest_must(thinsnap_usage(S, "us-a", &u1, &e), &e, "usage");
	assert_true(u1.size_bytes >= u0.size_bytes + (8 << 20));
	/* an empty ext4 uses only its reserved inodes; the blob is one more */
	assert_true(u0.inodes >= 10); /* the reserved inodes 1..10, root among them */
	assert_int_equal(u1.inodes, u0.inodes + 1);
	itest_must(thinsnap_commit(S, "us-c", "us-a", NULL, 0, 0, &e), &e, "commit");
	itest_must(thinsnap_usage(S, "us-c", &uc, &e), &e, "usage");
	assert_true(uc.size_bytes >= (8 << 20));
	assert_int_equal(uc.inodes, u1.inodes);
	/* a child that writes nothing maps nothing and holds no inode beyond its parent */
	itest_must(thinsnap_prepare(S, "us-child", "us-c", NULL, 0, NULL, &e), &e, "prepare");
	itest_must(thinsnap_usage(S, "us-child", &u0, &e), &e, "usage");
	assert_true(u0.size_bytes < (1 << 20));
	assert_int_equal(u0.inodes, 0);
	rm("us-child");
	rm("us-c");
}

static bool pool_has_id(uint32_t id)
{
	struct thinsnap_pool *p = NULL;
	uint32_t *ids = NULL;
	size_t n = 0;
	bool found = false;

	assert_int_equal(thinsnap_pool_open(P.name, P.pool_dir, &p, NULL), 0);
	assert_int_equal(thinsnap_pool_list_thin_ids(p, &ids, &n, NULL), 0);
	for (size_t i = 0; i < n; i++)
		found |= ids[i] == id;
	thinsnap_pool_thin_ids_free(ids);
	thinsnap_pool_free(p);
	return found;
}

static uint32_t dev_id_of(const struct thinsnap_mount *m)
{
	const char *d = strrchr(m->source, '-');
	return (uint32_t)strtoul(d + 1, NULL, 10);
}

static void test_remove_busy_then_cleanup(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	struct thinsnap_info *info = NULL;
	struct thinsnap_counts c;

	(void)state;
	itest_must(thinsnap_prepare(S, "b-a", NULL, NULL, 0, &m, &e), &e, "prepare");
	uint32_t id = dev_id_of(m);
	itest_mount(m, P.mnt);
	itest_must(thinsnap_remove(S, "b-a", &e), &e, "remove while mounted");
	itest_expect_err(thinsnap_stat(S, "b-a", &info, &e), &e, THINSNAP_CODE_NOT_FOUND);
	itest_must(thinsnap_counts(S, &c, &e), &e, "counts");
	assert_int_equal(c.pending_deletes, 1);
	assert_true(pool_has_id(id));
	/* still busy: cleanup keeps it pending */
	assert_true(thinsnap_cleanup(S, &e) < 0);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	itest_must(thinsnap_cleanup(S, &e), &e, "cleanup");
	itest_must(thinsnap_counts(S, &c, &e), &e, "counts");
	assert_int_equal(c.pending_deletes, 0);
	assert_false(pool_has_id(id));
	/* the key is free again */
	layer("b-a", NULL, "f", "reuse", NULL);
	rm("b-a");
	itest_assert_check_clean(S);
}

static void test_async_remove(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	struct thinsnap_options o = opts();

	(void)state;
	close_s();
	o.async_remove = true;
	itest_must(thinsnap_open(&o, &S, &e), &e, "open async");
	itest_must(thinsnap_prepare(S, "as-a", NULL, NULL, 0, &m, &e), &e, "prepare");
	uint32_t id = dev_id_of(m);
	thinsnap_mount_free(m);
	itest_must(thinsnap_remove(S, "as-a", &e), &e, "remove");
	assert_true(pool_has_id(id));
	itest_must(thinsnap_cleanup(S, &e), &e, "cleanup");
	assert_false(pool_has_id(id));
	close_s();
	open_s();
	itest_assert_check_clean(S);
}

static void test_reopen_reactivates(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	struct thinsnap_pool *p = NULL;

	(void)state;
	layer("r-a", NULL, "f", "before reboot", NULL);
	itest_must(thinsnap_mounts(S, "r-a", &m, &e), &e, "mounts");
	close_s();
	/* a reboot loses every device: deactivate it behind the snapshotter's back */
	itest_must(thinsnap_pool_open(P.name, P.pool_dir, &p, &e), &e, "pool open");
	itest_must(thinsnap_pool_deactivate_thin(p, m->source + 12, &e), &e, "deactivate");
	thinsnap_pool_free(p);
	assert_true(access(m->source, F_OK) < 0);
	open_s();
	assert_int_equal(access(m->source, F_OK), 0);
	itest_mount(m, P.mnt);
	assert_string_equal(read_file(P.mnt, "f"), "before reboot");
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	rm("r-a");
}

static void test_check_and_repair(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_check_report *rep = NULL;
	struct thinsnap_pool *p = NULL;

	(void)state;
	itest_assert_check_clean(S);
	/* a thin device the journal does not know: a leak */
	close_s();
	itest_must(thinsnap_pool_open(P.name, P.pool_dir, &p, &e), &e, "pool open");
	uint64_t tid;
	itest_must(thinsnap_pool_transaction_id(p, &tid, &e), &e, "tid");
	itest_must(thinsnap_pool_create_thin(p, 4242, &e), &e, "create leak");
	/* keep the transaction id as the snapshotter expects it */
	thinsnap_pool_free(p);
	open_s();
	itest_must(thinsnap_check(S, &rep, &e), &e, "check");
	assert_int_equal(rep->n_leaked, 1);
	assert_int_equal(rep->leaked_ids[0], 4242);
	thinsnap_check_report_free(rep);
	itest_must(thinsnap_repair(S, NULL, &e), &e, "repair");
	assert_false(pool_has_id(4242));
	itest_assert_check_clean(S);
}

/*
 * Crash consistency: run an operation in a child that is SIGKILLed at a fault point,
 * reopen, and check that check is clean and the operation is all or nothing.
 */
enum op { OP_PREPARE, OP_PREPARE_CHILD, OP_VIEW, OP_COMMIT, OP_COMMIT_KEEP, OP_REMOVE, OP__N };
static const char *op_names[] = { "prepare", "prepare-child", "view",
				  "commit",  "commit-keep",   "remove" };
static const char *points[] = { "snap.txn.after_intent", "snap.txn.after_pool",
				"snap.txn.before_sync_join", "snap.txn.after_finish",
				"snap.commit.after_deactivate" };
/*
 * The points each operation passes, so the child is killed there: prepare, view, commit keeping
 * the key and remove are pool transactions that the device list decides (the four snap.txn
 * points of one; snap.txn.after_tid is the crash matrix's, for a grown prepare); commit of an unused
 * active snapshot is not (its device is deactivated and the key renamed in the journal).
 */
static const bool reaches[OP__N][sizeof(points) / sizeof(points[0])] = {
	[OP_PREPARE] = { true, true, true, true, false },
	[OP_PREPARE_CHILD] = { true, true, true, true, false },
	[OP_VIEW] = { true, true, true, true, false },
	[OP_COMMIT] = { false, false, false, false, true },
	[OP_COMMIT_KEEP] = { true, true, true, true, false },
	[OP_REMOVE] = { true, true, true, true, false },
};

static int run_op(enum op op)
{
	struct thinsnap_error e = { 0 };

	switch (op) {
	case OP_PREPARE:
		return thinsnap_prepare(S, "x-new", NULL, NULL, 0, NULL, &e);
	case OP_PREPARE_CHILD:
		return thinsnap_prepare(S, "x-new", "x-base", NULL, 0, NULL, &e);
	case OP_VIEW:
		return thinsnap_view(S, "x-new", "x-base", NULL, 0, NULL, &e);
	case OP_COMMIT:
		return thinsnap_commit(S, "x-new", "x-active", NULL, 0, 0, &e);
	case OP_COMMIT_KEEP:
		return thinsnap_commit(S, "x-new", "x-active", NULL, 0, THINSNAP_COMMIT_KEEP_ACTIVE,
				       &e);
	case OP_REMOVE:
		return thinsnap_remove(S, "x-active", &e);
	case OP__N:
		break;
	}
	return -EINVAL;
}

static void test_crash_points(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_info *info = NULL;
	int killed = 0;

	(void)state;
	layer("x-a", NULL, "f", "committed content", "x-base");
	for (int op = 0; op < OP__N; op++) {
		for (size_t pt = 0; pt < sizeof(points) / sizeof(points[0]); pt++) {
			char spec[128];
			layer("x-active", "x-base", "g", "active content", NULL);
			close_s();
			pid_t pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) {
				snprintf(spec, sizeof(spec), "%s:abort", points[pt]);
				if (thinsnap_fault_arm(spec) < 0)
					_exit(2);
				open_s();
				int r = run_op((enum op)op);
				_exit(r < 0 ? 1 : 0);
			}
			int status = 0;
			assert_int_equal(waitpid(pid, &status, 0), pid);
			bool was_killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
			if (!was_killed && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
				fail_msg("%s at %s: child failed without the fault", op_names[op],
					 points[pt]);
			if (was_killed != reaches[op][pt])
				fail_msg("%s at %s: %s", op_names[op], points[pt],
					 was_killed ? "killed at a point it should not pass"
						    : "completed: the fault never fired");
			killed += was_killed;
			open_s();
			itest_assert_check_clean(S);
			/* committed content intact */
			assert_string_equal(view_read("x-base", "f"), "committed content");
			/* all or nothing */
			bool has_new = thinsnap_stat(S, "x-new", &info, &e) == 0;
			thinsnap_info_free(info);
			info = NULL;
			bool has_active = thinsnap_stat(S, "x-active", &info, &e) == 0;
			thinsnap_info_free(info);
			info = NULL;
			switch (op) {
			case OP_PREPARE:
			case OP_PREPARE_CHILD:
			case OP_VIEW:
			case OP_COMMIT_KEEP:
				assert_true(has_active);
				break;
			case OP_COMMIT:
				assert_true(has_new != has_active);
				break;
			case OP_REMOVE:
				assert_false(has_new);
				break;
			}
			if (has_new) {
				if (op == OP_COMMIT || op == OP_COMMIT_KEEP)
					assert_string_equal(view_read("x-new", "g"),
							    "active content");
				rm("x-new");
			}
			if (has_active)
				rm("x-active");
			itest_assert_check_clean(S);
		}
	}
	fprintf(stderr, "crash: %d of %zu runs killed at their fault point\n", killed,
		(size_t)OP__N * (sizeof(points) / sizeof(points[0])));
	assert_true(killed >= 20);
	rm("x-base");
}

/* Committing a mounted active snapshot: the commit is a snapshot of the frozen device, the
 * key is retired, and its device is deleted by cleanup once unmounted. */
static void test_commit_while_mounted(void **state)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_mount *m = NULL;
	struct thinsnap_info *info = NULL;
	struct thinsnap_counts c;

	(void)state;
	itest_must(thinsnap_prepare(S, "cm-a", NULL, NULL, 0, &m, &e), &e, "prepare");
	uint32_t old_id = dev_id_of(m);
	itest_mount(m, P.mnt);
	write_file(P.mnt, "f", "written before the commit");
	itest_must(thinsnap_commit(S, "cm-c", "cm-a", NULL, 0, 0, &e), &e, "commit while mounted");
	write_file(P.mnt, "f", "written after the commit");
	itest_expect_err(thinsnap_stat(S, "cm-a", &info, &e), &e, THINSNAP_CODE_NOT_FOUND);
	itest_must(thinsnap_stat(S, "cm-c", &info, &e), &e, "stat");
	assert_int_equal(info->kind, THINSNAP_KIND_COMMITTED);
	assert_true(info->created_ns == info->updated_ns); /* created by the commit */
	thinsnap_info_free(info);
	itest_must(thinsnap_counts(S, &c, &e), &e, "counts");
	assert_int_equal(c.pending_deletes, 1);
	itest_umount(P.mnt);
	thinsnap_mount_free(m);
	assert_string_equal(view_read("cm-c", "f"), "written before the commit");
	itest_must(thinsnap_cleanup(S, &e), &e, "cleanup");
	assert_false(pool_has_id(old_id));
	rm("cm-c");
	itest_assert_check_clean(S);
}

/* Several threads share one handle: writers serialise, readers never fail. */
struct thread_arg {
	int id;
	int failures;
};

static int count_cb(void *u, const struct thinsnap_info *info)
{
	(void)info;
	(*(int *)u)++;
	return 0;
}

static void *thread_main(void *v)
{
	struct thread_arg *a = v;
	char key[64];

	for (int i = 0; i < 8; i++) {
		struct thinsnap_error e = { 0 };
		struct thinsnap_info *info = NULL;
		struct thinsnap_usage u;
		int n = 0;

		snprintf(key, sizeof(key), "thr-%d-%d", a->id, i);
		if (thinsnap_prepare(S, key, "thr-base", NULL, 0, NULL, &e) < 0)
			a->failures++;
		if (thinsnap_stat(S, key, &info, &e) < 0 || info->kind != THINSNAP_KIND_ACTIVE)
			a->failures++;
		thinsnap_info_free(info);
		if (thinsnap_walk(S, NULL, 0, count_cb, &n, &e) < 0 || n < 2)
			a->failures++;
		if (thinsnap_usage(S, key, &u, &e) < 0)
			a->failures++;
		if (thinsnap_remove(S, key, &e) < 0)
			a->failures++;
	}
	return NULL;
}

static void test_threads(void **state)
{
	pthread_t t[4];
	struct thread_arg a[4];

	(void)state;
	layer("thr-a", NULL, "f", "shared", "thr-base");
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thread_arg){ .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, thread_main, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].failures, 0);
	}
	rm("thr-base");
	itest_assert_check_clean(S);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_prepare),
		cmocka_unit_test(test_commit_and_child),
		cmocka_unit_test(test_view_readonly),
		cmocka_unit_test(test_keep_active),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_update_labels),
		cmocka_unit_test(test_walk_filters),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_remove_busy_then_cleanup),
		cmocka_unit_test(test_async_remove),
		cmocka_unit_test(test_reopen_reactivates),
		cmocka_unit_test(test_check_and_repair),
		cmocka_unit_test(test_commit_while_mounted),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_crash_points),
		cmocka_unit_test(test_deep_chain),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}

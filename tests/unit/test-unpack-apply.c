/*
 * unpack/: the layer applier on a temp dir of the host (as root): every entry type, owners,
 * modes, times, xattrs, gzip and zstd, digests, whiteouts and opaque dirs across layers, and
 * malicious archives that try to reach outside the root. Layers are built with libarchive.
 * The cases that apply need root (owners, device nodes) and are skipped without it.
 */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <thinsnap/unpack.h>

#include "tarbuf.h"
#include "unpack/unpack.h"

struct ent {
	unsigned type; /* AE_IF* */
	const char *path;
	const char *data; /* content, symlink target or hard link target */
	unsigned mode;
	unsigned uid, gid;
	time_t mtime;
	dev_t rdev;
	const char *xattr_name, *xattr_value;
	bool hardlink;
};

static void add(struct tarbuf *l, struct ent en)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, en.path);
	archive_entry_set_filetype(e, en.type);
	archive_entry_set_perm(e, en.mode ? en.mode : (en.type == AE_IFDIR ? 0755 : 0644));
	archive_entry_set_uid(e, en.uid);
	archive_entry_set_gid(e, en.gid);
	archive_entry_set_mtime(e, en.mtime ? en.mtime : 1000000000, 0);
	if (en.hardlink) {
		archive_entry_set_hardlink(e, en.data);
		archive_entry_set_size(e, 0);
	} else if (en.type == AE_IFLNK) {
		archive_entry_set_symlink(e, en.data);
	} else if (en.type == AE_IFREG) {
		archive_entry_set_size(e, en.data ? (la_int64_t)strlen(en.data) : 0);
	} else if (en.type == AE_IFCHR || en.type == AE_IFBLK) {
		archive_entry_set_rdev(e, en.rdev);
	}
	if (en.xattr_name)
		archive_entry_xattr_add_entry(e, en.xattr_name, en.xattr_value,
					      strlen(en.xattr_value));
	assert_int_equal(archive_write_header(l->a, e), ARCHIVE_OK);
	if (en.type == AE_IFREG && en.data && !en.hardlink)
		assert_int_equal(archive_write_data(l->a, en.data, strlen(en.data)),
				 (la_ssize_t)strlen(en.data));
	archive_entry_free(e);
}

#define DIR_(p, ...)  add(l, (struct ent){ .type = AE_IFDIR, .path = (p), __VA_ARGS__ })
#define FILE_(p, ...) add(l, (struct ent){ .type = AE_IFREG, .path = (p), __VA_ARGS__ })
#define LINK_(p, t)   add(l, (struct ent){ .type = AE_IFLNK, .path = (p), .data = (t) })
#define HARD_(p, t) \
	add(l, (struct ent){ .type = AE_IFREG, .path = (p), .data = (t), .hardlink = true })

struct memsrc {
	const char *p;
	size_t n, off;
	size_t chunk; /* bytes per read, to vary the reader's pace */
};

static int mem_read(void *ud, void *buf, size_t len, size_t *ret_len)
{
	struct memsrc *m = ud;
	size_t n = m->n - m->off;

	if (n > len)
		n = len;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	*ret_len = n;
	return 0;
}

/* The fixture: $tmp/root is the root, $tmp/secret a file outside it. */
struct fx {
	char tmp[64];
	char root[96];
	int root_fd;
	int tmp_fd;
};

/* Applying sets owners (and makes device nodes): without root, the case is skipped. */
static void need_root(void)
{
	if (geteuid() != 0)
		skip();
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test-unpack.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->root, sizeof(f->root), "%s/root", f->tmp);
	assert_int_equal(mkdir(f->root, 0755), 0);
	f->tmp_fd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->root_fd = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->root_fd >= 0 && f->tmp_fd >= 0);
	int fd = openat(f->tmp_fd, "secret", O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret\n", 7), 7);
	close(fd);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	close(f->root_fd);
	close(f->tmp_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Nothing outside the root changed: $tmp holds exactly root and secret, secret unchanged. */
static void assert_contained(struct fx *f)
{
	char buf[64] = { 0 };
	struct stat st;
	char cmd[160];
	int fd;

	snprintf(cmd, sizeof(cmd), "test \"$(ls -A '%s' | tr '\\n' ' ')\" = 'root secret '",
		 f->tmp);
	assert_int_equal(system(cmd), 0);
	fd = openat(f->tmp_fd, "secret", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 7);
	assert_string_equal(buf, "secret\n");
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_nlink, 1);
	assert_int_equal(st.st_mode & 07777, 0644);
	close(fd);
	/* nothing landed in / either */
	assert_int_equal(access("/thinsnap-unpack-escaped", F_OK), -1);
}

static int apply(struct fx *f, struct tarbuf *l, size_t chunk, struct thinsnap_unpack_stats *st,
		 struct thinsnap_error *err)
{
	struct memsrc m = { .p = l->buf, .n = l->len, .chunk = chunk };
	int r = thinsnap_unpack_apply_layer(f->root_fd, mem_read, &m, st, err);

	if (r == 0)
		assert_int_equal(m.off, m.n); /* the whole blob was read */
	return r;
}

static void apply_ok(struct fx *f, struct tarbuf *l)
{
	struct thinsnap_error err = { 0 };
	int r = apply(f, l, 0, NULL, &err);

	if (r != 0)
		fail_msg("apply: %d %s", r, err.msg);
}

static char *slurp(struct fx *f, const char *path)
{
	static char buf[256];
	int fd = openat(f->root_fd, path, O_RDONLY | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static bool exists(struct fx *f, const char *path)
{
	struct stat st;

	return fstatat(f->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void build_all_types(struct tarbuf *l, enum tarbuf_comp c)
{
	tarbuf_begin(l, c);
	DIR_("./", .mode = 0755);
	DIR_("etc/", .mode = 0750, .uid = 12, .gid = 34, .mtime = 1234567890,
	     .xattr_name = "user.dir", .xattr_value = "d");
	FILE_("etc/passwd", .data = "root:x:0:0::/root:/bin/sh\n", .mode = 0640, .uid = 1, .gid = 2,
	      .mtime = 1500000000, .xattr_name = "user.thinsnap", .xattr_value = "yes");
	FILE_("bin/su", .data = "#!su", .mode = 04755); /* parent not in the archive */
	FILE_("empty", .mode = 0600);
	LINK_("etc/localtime", "/usr/share/zoneinfo/UTC");
	HARD_("etc/passwd.hard", "etc/passwd");
	add(l, (struct ent){
		       .type = AE_IFCHR, .path = "dev/null", .mode = 0666, .rdev = makedev(1, 3) });
	add(l, (struct ent){ .type = AE_IFBLK,
			     .path = "dev/loop9",
			     .mode = 0660,
			     .gid = 6,
			     .rdev = makedev(7, 9) });
	add(l, (struct ent){ .type = AE_IFIFO, .path = "run/fifo", .mode = 0620 });
	tarbuf_end(l);
}

static void test_all_entry_types(void **state)
{
	struct fx *f = *state;
	struct thinsnap_unpack_stats st;
	struct thinsnap_error err = { 0 };
	struct tarbuf l;
	struct stat sb;
	char buf[16];
	char want[THINSNAP_UNPACK_DIGEST_LEN];

	need_root();
	build_all_types(&l, TARBUF_NONE);
	assert_int_equal(apply(f, &l, 0, &st, &err), 0);
	assert_int_equal(thinsnap_unpack_sha256(l.buf, l.len, want), 0);
	assert_string_equal(st.digest, want);
	assert_string_equal(st.diff_id, want); /* uncompressed: the same stream */
	assert_int_equal(st.compressed_bytes, l.len);
	assert_int_equal(st.uncompressed_bytes, l.len);
	assert_int_equal(st.entries, 10);
	free(l.buf);

	assert_string_equal(slurp(f, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
	assert_int_equal(fstatat(f->root_fd, "etc/passwd", &sb, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(sb.st_mode & 07777, 0640);
	assert_int_equal(sb.st_uid, 1);
	assert_int_equal(sb.st_gid, 2);
	assert_int_equal(sb.st_mtim.tv_sec, 1500000000);
	assert_int_equal(sb.st_nlink, 2);
	{
		char p[160];
		ssize_t n;

		snprintf(p, sizeof(p), "%s/etc/passwd", f->root);
		n = getxattr(p, "user.thinsnap", buf, sizeof(buf));
		assert_int_equal(n, 3);
		assert_memory_equal(buf, "yes", 3);
		snprintf(p, sizeof(p), "%s/etc", f->root);
		assert_int_equal(getxattr(p, "user.dir", buf, sizeof(buf)), 1);
	}
	assert_int_equal(fstatat(f->root_fd, "etc/passwd.hard", &sb, AT_SYMLINK_NOFOLLOW), 0);
	assert_int_equal(sb.st_nlink, 2);
	assert_int_equal(fstatat(f->root_fd, "etc", &sb, 0), 0);
	assert_int_equal(sb.st_mode & 07777, 0750);
	assert_int_equal(sb.st_uid, 12);
	assert_int_equal(sb.st_gid, 34);
	assert_int_equal(sb.st_mtim.tv_sec, 1234567890); /* set after its entries */
	assert_int_equal(fstatat(f->root_fd, "bin/su", &sb, 0), 0);
	assert_int_equal(sb.st_mode & 07777, 04755);
	assert_int_equal(fstatat(f->root_fd, "bin", &sb, 0), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_int_equal(fstatat(f->root_fd, "empty", &sb, 0), 0);
	assert_int_equal(sb.st_size, 0);
	assert_int_equal(readlinkat(f->root_fd, "etc/localtime", buf, sizeof(buf)), 16);
	assert_memory_equal(buf, "/usr/share/zonei", 16);
	assert_int_equal(fstatat(f->root_fd, "dev/null", &sb, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISCHR(sb.st_mode));
	assert_int_equal(sb.st_rdev, makedev(1, 3));
	assert_int_equal(sb.st_mode & 07777, 0666);
	assert_int_equal(fstatat(f->root_fd, "dev/loop9", &sb, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISBLK(sb.st_mode));
	assert_int_equal(sb.st_rdev, makedev(7, 9));
	assert_int_equal(sb.st_gid, 6);
	assert_int_equal(fstatat(f->root_fd, "run/fifo", &sb, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISFIFO(sb.st_mode));
	assert_int_equal(sb.st_mode & 07777, 0620);
	assert_int_equal(fstatat(f->root_fd, "", &sb, AT_EMPTY_PATH), 0);
	assert_int_equal(sb.st_mtim.tv_sec, 1000000000);
	assert_contained(f);
}

/* gzip and zstd give the same tree and diff ID; the digest is the compressed blob's. */
static void test_compressed(void **state)
{
	struct fx *f = *state;
	struct thinsnap_unpack_stats st0, st;
	struct thinsnap_error err = { 0 };
	enum tarbuf_comp comps[] = { TARBUF_GZIP, TARBUF_ZSTD };
	struct tarbuf l;
	char want[THINSNAP_UNPACK_DIGEST_LEN];

	need_root();
	build_all_types(&l, TARBUF_NONE);
	assert_int_equal(apply(f, &l, 0, &st0, &err), 0);
	free(l.buf);
	for (size_t i = 0; i < 2; i++) {
		char cmd[320];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'/* && test -z \"$(ls -A '%s')\"", f->root,
			 f->root);
		assert_int_equal(system(cmd), 0);
		build_all_types(&l, comps[i]);
		assert_int_equal(apply(f, &l, 7, &st, &err), 0); /* 7-byte reads */
		assert_int_equal(thinsnap_unpack_sha256(l.buf, l.len, want), 0);
		assert_string_equal(st.digest, want);
		assert_string_equal(st.diff_id, st0.diff_id);
		assert_int_equal(st.uncompressed_bytes, st0.uncompressed_bytes);
		assert_int_equal(st.compressed_bytes, l.len);
		assert_string_equal(slurp(f, "etc/passwd"), "root:x:0:0::/root:/bin/sh\n");
		free(l.buf);
	}
}

static void test_whiteouts_across_layers(void **state)
{
	struct fx *f = *state;
	struct tarbuf lb, *l = &lb;

	need_root();
	tarbuf_begin(l, TARBUF_GZIP);
	DIR_("a/");
	FILE_("a/x", .data = "x1");
	FILE_("a/y", .data = "y1");
	DIR_("a/sub/");
	FILE_("a/sub/deep", .data = "deep");
	DIR_("b/");
	FILE_("b/keep", .data = "keep");
	FILE_("b/gone", .data = "gone");
	DIR_("c/");
	FILE_("c/f", .data = "c");
	FILE_("top", .data = "top");
	tarbuf_end(l);
	apply_ok(f, l);
	free(l->buf);

	tarbuf_begin(l, TARBUF_ZSTD);
	FILE_("a/new-before", .data = "nb"); /* same layer as the opaque marker: kept */
	FILE_("a/.wh..wh..opq");
	FILE_("a/new-after", .data = "na");
	FILE_("b/.wh.gone");
	FILE_("b/.wh.never-existed");
	FILE_(".wh.c");
	FILE_("top2", .data = "t2");
	FILE_(".wh.top2");    /* hides lower layers only: top2 of this layer stays */
	FILE_("nodir/.wh.x"); /* whiteout in a directory that doesn't exist */
	tarbuf_end(l);
	apply_ok(f, l);
	free(l->buf);

	assert_false(exists(f, "a/x"));
	assert_false(exists(f, "a/y"));
	assert_false(exists(f, "a/sub"));
	assert_string_equal(slurp(f, "a/new-before"), "nb");
	assert_string_equal(slurp(f, "a/new-after"), "na");
	assert_false(exists(f, "a/.wh..wh..opq"));
	assert_string_equal(slurp(f, "b/keep"), "keep");
	assert_false(exists(f, "b/gone"));
	assert_false(exists(f, "b/.wh.gone"));
	assert_false(exists(f, "c"));
	assert_string_equal(slurp(f, "top2"), "t2");
	assert_string_equal(slurp(f, "top"), "top");

	/* layer 3: re-create c as a file, replace a dir by a symlink, opaque the root */
	tarbuf_begin(l, TARBUF_NONE);
	FILE_("c", .data = "c3");
	LINK_("b", "a");
	FILE_("b/through", .data = "through"); /* lands in a/, via b -> a */
	tarbuf_end(l);
	apply_ok(f, l);
	free(l->buf);
	assert_string_equal(slurp(f, "c"), "c3");
	assert_string_equal(slurp(f, "a/through"), "through");
	assert_false(exists(f, "b/keep"));

	tarbuf_begin(l, TARBUF_NONE);
	FILE_("fresh", .data = "fresh");
	FILE_(".wh..wh..opq");
	tarbuf_end(l);
	apply_ok(f, l);
	free(l->buf);
	assert_string_equal(slurp(f, "fresh"), "fresh");
	assert_false(exists(f, "a"));
	assert_false(exists(f, "c"));
	assert_false(exists(f, "top"));
	assert_contained(f);
}

/* Entries that replace others: file over dir, dir over file, file over symlink. */
static void test_replace(void **state)
{
	struct fx *f = *state;
	struct tarbuf lb, *l = &lb;
	struct stat sb;

	need_root();
	tarbuf_begin(l, TARBUF_NONE);
	DIR_("d/");
	FILE_("d/in", .data = "in");
	FILE_("f", .data = "f");
	DIR_("keep/", .mode = 0700);
	FILE_("keep/old", .data = "old");
	tarbuf_end(l);
	apply_ok(f, l);
	free(l->buf);

	tarbuf_begin(l, TARBUF_NONE);
	FILE_("d", .data = "now a file");
	DIR_("f/");
	DIR_("keep/", .mode = 0711); /* dir over dir keeps its content */
	tarbuf_end(l);
	apply_ok(f, l);
	free(l->buf);
	assert_string_equal(slurp(f, "d"), "now a file");
	assert_int_equal(fstatat(f->root_fd, "f", &sb, 0), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_string_equal(slurp(f, "keep/old"), "old");
	assert_int_equal(fstatat(f->root_fd, "keep", &sb, 0), 0);
	assert_int_equal(sb.st_mode & 07777, 0711);
}

static void apply_evil(struct fx *f, struct tarbuf *l, bool may_fail)
{
	struct thinsnap_error err = { 0 };
	int r = apply(f, l, 0, NULL, &err);

	if (!may_fail && r != 0)
		fail_msg("apply: %d %s", r, err.msg);
	if (r != 0)
		assert_int_equal(err.err, r);
	free(l->buf);
	assert_contained(f);
}

static void test_evil_dotdot_and_absolute(void **state)
{
	struct fx *f = *state;
	struct tarbuf lb, *l = &lb;

	need_root();
	tarbuf_begin(l, TARBUF_NONE);
	FILE_("../secret", .data = "pwned");
	FILE_("../../../../thinsnap-unpack-escaped", .data = "pwned");
	FILE_("/thinsnap-unpack-escaped", .data = "abs");
	FILE_("a/../../b", .data = "b");
	FILE_("../.wh.secret");
	tarbuf_end(l);
	apply_evil(f, l, false);
	/* they all landed inside */
	assert_string_equal(slurp(f, "secret"), "pwned");
	assert_string_equal(slurp(f, "thinsnap-unpack-escaped"), "abs");
	assert_string_equal(slurp(f, "b"), "b");
}

static void test_evil_symlinks(void **state)
{
	struct fx *f = *state;
	struct tarbuf lb, *l = &lb;
	char outside[160];

	need_root();
	snprintf(outside, sizeof(outside), "%s", f->tmp);
	tarbuf_begin(l, TARBUF_NONE);
	LINK_("evil", "/");
	FILE_("evil/x", .data = "x"); /* root/x */
	LINK_("up", "../../../..");
	FILE_("up/secret", .data = "pwned"); /* root/secret */
	LINK_("host", outside);              /* absolute host path of $tmp */
	LINK_("rel", "../secret");
	FILE_("evil/.wh.secret");                     /* whiteout through a symlink */
	FILE_("rel", .data = "replaced the symlink"); /* not written through it */
	LINK_("relsecret", "../secret");
	HARD_("hl", "relsecret"); /* links the symlink itself */
	tarbuf_end(l);
	apply_evil(f, l, false);
	assert_string_equal(slurp(f, "x"), "x");
	assert_false(exists(f, "secret")); /* whited out inside the root */
	assert_string_equal(slurp(f, "rel"), "replaced the symlink");
	{
		struct stat sb;

		assert_int_equal(fstatat(f->root_fd, "hl", &sb, AT_SYMLINK_NOFOLLOW), 0);
		assert_true(S_ISLNK(sb.st_mode));
	}

	/* A symlink to the host path, then a file beneath it: refused or inside, never out. */
	tarbuf_begin(l, TARBUF_NONE);
	FILE_("host/secret", .data = "pwned");
	tarbuf_end(l);
	apply_evil(f, l, true);

	/* The same, when the path exists inside the root too: it lands inside. */
	{
		char cmd[320];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s%s'", f->root, f->tmp);
		assert_int_equal(system(cmd), 0);
	}
	tarbuf_begin(l, TARBUF_NONE);
	FILE_("host/secret", .data = "inside");
	tarbuf_end(l);
	apply_evil(f, l, false);
	{
		char p[320];

		snprintf(p, sizeof(p), "%s/secret", f->tmp + 1);
		assert_string_equal(slurp(f, p), "inside");
	}
}

static void test_evil_hardlinks(void **state)
{
	struct fx *f = *state;
	struct tarbuf lb, *l = &lb;
	struct stat sb;
	char target[160];

	need_root();
	/* ../secret cleans to /secret in the root, which does not exist: refused */
	tarbuf_begin(l, TARBUF_NONE);
	HARD_("hl", "../secret");
	tarbuf_end(l);
	apply_evil(f, l, true);
	assert_false(exists(f, "hl"));

	/* an absolute host path: resolved in the root, missing there */
	snprintf(target, sizeof(target), "%s/secret", f->tmp);
	tarbuf_begin(l, TARBUF_NONE);
	HARD_("hl2", target);
	tarbuf_end(l);
	apply_evil(f, l, true);

	/* through a symlink directory pointing out */
	tarbuf_begin(l, TARBUF_NONE);
	LINK_("out", "../..");
	FILE_("secret", .data = "inner");
	HARD_("hl3", "out/secret"); /* = root/secret */
	tarbuf_end(l);
	apply_evil(f, l, false);
	assert_int_equal(fstatat(f->root_fd, "hl3", &sb, 0), 0);
	assert_int_equal(sb.st_nlink, 2);
	assert_string_equal(slurp(f, "hl3"), "inner");
}

/* A symlink replaced by a directory mid-archive: later entries go into the directory. */
static void test_evil_symlink_then_dir(void **state)
{
	struct fx *f = *state;
	struct tarbuf lb, *l = &lb;
	struct stat sb;

	need_root();
	tarbuf_begin(l, TARBUF_NONE);
	LINK_("d", f->tmp);
	DIR_("d/");
	FILE_("d/secret", .data = "pwned");
	DIR_("e/");
	LINK_("e", "/");
	FILE_("e/escaped-e", .data = "e");
	tarbuf_end(l);
	apply_evil(f, l, false);
	assert_int_equal(fstatat(f->root_fd, "d", &sb, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISDIR(sb.st_mode));
	assert_string_equal(slurp(f, "d/secret"), "pwned");
	assert_string_equal(slurp(f, "escaped-e"), "e");
}

static void test_bad_input(void **state)
{
	struct fx *f = *state;
	struct thinsnap_error err = { 0 };
	static const char junk[] = "this is not a tar archive, not even close; "
				   "it is plain text that goes on for a while..........";
	struct memsrc m = { .p = junk, .n = sizeof(junk) };
	struct tarbuf l;
	int r;

	r = thinsnap_unpack_apply_layer(f->root_fd, mem_read, &m, NULL, &err);
	assert_true(r < 0);
	assert_int_equal(err.err, r);

	/* a truncated gzip layer */
	build_all_types(&l, TARBUF_GZIP);
	l.len /= 2;
	r = apply(f, &l, 0, NULL, &err);
	assert_true(r < 0);
	free(l.buf);

	assert_int_equal(thinsnap_unpack_apply_layer(-1, mem_read, &m, NULL, &err), -EINVAL);
}

static int failing_read(void *ud, void *buf, size_t len, size_t *ret_len)
{
	(void)ud;
	(void)buf;
	(void)len;
	(void)ret_len;
	return -EIO;
}

static void test_read_error(void **state)
{
	struct fx *f = *state;
	struct thinsnap_error err = { 0 };

	assert_int_equal(thinsnap_unpack_apply_layer(f->root_fd, failing_read, NULL, NULL, &err),
			 -EIO);
	assert_int_equal(err.err, -EIO);
}

static void test_chain_id(void **state)
{
	struct thinsnap_error err = { 0 };
	char c1[THINSNAP_UNPACK_DIGEST_LEN], c2[THINSNAP_UNPACK_DIGEST_LEN];
	char want[THINSNAP_UNPACK_DIGEST_LEN];
	const char *d1 = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";
	const char *d2 = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
	char buf[200];

	(void)state;
	assert_int_equal(thinsnap_unpack_chain_id(NULL, d1, c1, &err), 0);
	assert_string_equal(c1, d1);
	assert_int_equal(thinsnap_unpack_chain_id(c1, d2, c2, &err), 0);
	snprintf(buf, sizeof(buf), "%s %s", d1, d2);
	assert_int_equal(thinsnap_unpack_sha256(buf, strlen(buf), want), 0);
	assert_string_equal(c2, want);
	assert_int_equal(thinsnap_unpack_chain_id(NULL, "sha256:xyz", c1, &err), -EINVAL);
	assert_int_equal(thinsnap_unpack_chain_id("md5:1", d1, c1, &err), -EINVAL);
	/* sha256("") */
	assert_int_equal(thinsnap_unpack_sha256("", 0, want), 0);
	assert_string_equal(
		want, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_entry_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compressed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_whiteouts_across_layers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evil_dotdot_and_absolute, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evil_symlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evil_hardlinks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evil_symlink_then_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
		cmocka_unit_test(test_chain_id),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

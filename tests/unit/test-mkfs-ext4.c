/*
 * mkfs/: formats sparse files with thinsnap_mkfs_format() and checks the result with the
 * e2fsprogs tools (e2fsck -fn, dumpe2fs -h, debugfs) and thinsnap_mkfs_verify(): an empty ext4
 * with a journal, root 0755, no lost+found; bad options fail before the file is touched.
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thinsnap/error.h>

#include "base/cleanup.h"
#include "mkfs/mkfs.h"

#define MiB (UINT64_C(1) << 20)

struct fixture {
	char dir[64];
	char path[96];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/test-mkfs.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/dev.img", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	(void)unlink(f->path);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static void make_sparse(const char *path, uint64_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

/* Runs a shell command; returns its exit status and (if out) its stdout, malloc'd. */
static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...)
{
	char cmd[512];
	char *buf = NULL;
	size_t len = 0;
	FILE *f, *mem;
	va_list ap;
	int c, st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	assert_non_null(f);
	mem = open_memstream(&buf, &len);
	assert_non_null(mem);
	while ((c = fgetc(f)) != EOF)
		fputc(c, mem);
	fclose(mem);
	st = pclose(f);
	if (out)
		*out = buf;
	else
		free(buf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int format(const char *path, uint64_t size, const char *type, const char *opts,
		  struct thinsnap_error *err)
{
	struct thinsnap_mkfs_opts o = { .fs_type = type, .fs_options = opts };

	return thinsnap_mkfs_format(path, size, &o, err);
}

static void assert_fsck_clean(const char *path)
{
	CLEANUP_FREE char *out = NULL;
	int rc = run(&out, "e2fsck -fn '%s' 2>&1", path);

	if (rc != 0)
		print_error("e2fsck -fn exit %d:\n%s\n", rc, out);
	assert_int_equal(rc, 0);
}

/* The value of "Name:" in dumpe2fs -h, malloc'd. */
static char *dumpe2fs_field(const char *path, const char *name)
{
	CLEANUP_FREE char *out = NULL;
	char *line, *save = NULL;

	assert_int_equal(run(&out, "dumpe2fs -h '%s' 2>/dev/null", path), 0);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(name);
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			char *v = line + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return strdup(v);
		}
	}
	fail_msg("dumpe2fs -h has no field '%s'", name);
	return NULL;
}

static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
			return true;
	return false;
}

/* An empty root: only . and .., mode 040755, owned 0:0. */
static void assert_empty_root(const char *path)
{
	CLEANUP_FREE char *ls = NULL;
	CLEANUP_FREE char *st = NULL;
	char *line, *save = NULL;
	int entries = 0;

	assert_int_equal(run(&ls, "debugfs -R 'ls -l /' '%s' 2>/dev/null", path), 0);
	for (line = strtok_r(ls, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[256] = "";
		unsigned ino = 0, mode = 0;

		if (sscanf(line, " %u %o %*s %*s %*s %*s %*s %*s %255s", &ino, &mode, name) != 3)
			continue; /* blank lines */
		print_message("  root entry: %s\n", line);
		assert_int_equal(ino, 2);
		assert_int_equal(mode, 040755);
		assert_true(strcmp(name, ".") == 0 || strcmp(name, "..") == 0);
		entries++;
	}
	assert_int_equal(entries, 2);
	assert_int_equal(run(&st, "debugfs -R 'stat /' '%s' 2>/dev/null", path), 0);
	assert_non_null(strstr(st, "Type: directory    Mode:  0755"));
	assert_non_null(strstr(st, "User:     0   Group:     0"));
}

static void test_format_64m(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };
	CLEANUP_FREE char *feat = NULL;
	CLEANUP_FREE char *inode_size = NULL;

	make_sparse(f->path, 64 * MiB);
	assert_int_equal(format(f->path, 0, "ext4", NULL, &err), 0);
	assert_fsck_clean(f->path);
	feat = dumpe2fs_field(f->path, "Filesystem features");
	print_message("  features: %s\n", feat);
	for (const char *const *w =
		     (const char *const[]){ "has_journal", "extent", "metadata_csum", "64bit",
					    "flex_bg", "huge_file", "dir_nlink", "extra_isize",
					    "sparse_super", NULL };
	     *w; w++)
		assert_true(has_word(feat, *w));
	inode_size = dumpe2fs_field(f->path, "Inode size");
	assert_string_equal(inode_size, "256");
	assert_empty_root(f->path);
	assert_int_equal(thinsnap_mkfs_verify(f->path, "ext4", &err), 0);
}

static void test_format_1g_sparse(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };
	CLEANUP_FREE char *feat = NULL;
	CLEANUP_FREE char *bs = NULL;
	struct stat st;

	make_sparse(f->path, 1024 * MiB);
	assert_int_equal(format(f->path, 0, NULL, NULL, &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	print_message("  1 GiB format: %lld KiB allocated, size %lld\n",
		      (long long)st.st_blocks / 2, (long long)st.st_size);
	assert_int_equal(st.st_size, 1024 * MiB);
	assert_true((uint64_t)st.st_blocks * 512 < 8 * MiB); /* journal and tables not written */
	assert_fsck_clean(f->path);
	feat = dumpe2fs_field(f->path, "Filesystem features");
	assert_true(has_word(feat, "has_journal"));
	bs = dumpe2fs_field(f->path, "Block size");
	assert_string_equal(bs, "4096");
	assert_empty_root(f->path);
}

/* size_bytes formats only a prefix of a larger file. */
static void test_format_prefix(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };
	CLEANUP_FREE char *count = NULL;

	make_sparse(f->path, 256 * MiB);
	assert_int_equal(format(f->path, 128 * MiB, "ext4", "-b 4096", &err), 0);
	count = dumpe2fs_field(f->path, "Block count");
	assert_string_equal(count, "32768");
	assert_fsck_clean(f->path);
}

static void test_options_applied(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };
	struct thinsnap_mkfs_opts o = {
		.fs_type = "ext4",
		.fs_options = "-E lazy_itable_init=0,lazy_journal_init=0,nodiscard,stride=16,"
			      "stripe_width=64 -O ^metadata_csum,uninit_bg,^huge_file -b 4096 "
			      "-i 65536 -I 512 -m 1 -L from-opts -J size=8 -q -F",
		.label = "base",
	};
	CLEANUP_FREE char *feat = NULL;
	CLEANUP_FREE char *label = NULL;
	CLEANUP_FREE char *isize = NULL;
	CLEANUP_FREE char *icount = NULL;
	CLEANUP_FREE char *jsize = NULL;
	CLEANUP_FREE char *rcount = NULL;
	CLEANUP_FREE char *stride = NULL;
	struct stat st;

	make_sparse(f->path, 256 * MiB);
	assert_int_equal(thinsnap_mkfs_format(f->path, 0, &o, &err), 0);
	assert_fsck_clean(f->path);
	feat = dumpe2fs_field(f->path, "Filesystem features");
	assert_false(has_word(feat, "metadata_csum"));
	assert_true(has_word(feat, "uninit_bg"));
	assert_false(has_word(feat, "huge_file"));
	label = dumpe2fs_field(f->path, "Filesystem volume name");
	assert_string_equal(label, "base"); /* opts->label wins over -L */
	isize = dumpe2fs_field(f->path, "Inode size");
	assert_string_equal(isize, "512");
	icount = dumpe2fs_field(f->path, "Inode count");
	assert_string_equal(icount, "4096");
	jsize = dumpe2fs_field(f->path, "Total journal size");
	assert_string_equal(jsize, "8M");
	rcount = dumpe2fs_field(f->path, "Reserved block count");
	assert_string_equal(rcount, "655");
	stride = dumpe2fs_field(f->path, "RAID stride");
	assert_string_equal(stride, "16");
	/* Not lazy: the journal (8 MiB) and inode tables (2 MiB) were written. */
	assert_int_equal(stat(f->path, &st), 0);
	print_message("  non-lazy 256 MiB format: %lld KiB allocated\n",
		      (long long)st.st_blocks / 2);
	assert_true((uint64_t)st.st_blocks * 512 >= 10 * MiB);
	assert_empty_root(f->path);
}

static void test_inode_count_and_small(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };
	CLEANUP_FREE char *icount = NULL;
	CLEANUP_FREE char *bs = NULL;

	make_sparse(f->path, 64 * MiB);
	assert_int_equal(format(f->path, 0, "ext4", "-N 1000 -T default", &err), 0);
	icount = dumpe2fs_field(f->path, "Inode count");
	assert_true(atoi(icount) >= 1000 && atoi(icount) < 2048);
	bs = dumpe2fs_field(f->path, "Block size");
	assert_string_equal(bs, "4096"); /* -T default instead of "small" */
	assert_fsck_clean(f->path);
}

static void test_ext2_ext3(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };
	CLEANUP_FREE char *feat2 = NULL;
	CLEANUP_FREE char *feat3 = NULL;

	make_sparse(f->path, 64 * MiB);
	assert_int_equal(format(f->path, 0, "ext2", NULL, &err), 0);
	assert_fsck_clean(f->path);
	feat2 = dumpe2fs_field(f->path, "Filesystem features");
	assert_false(has_word(feat2, "has_journal"));
	assert_false(has_word(feat2, "extent"));
	assert_int_equal(thinsnap_mkfs_verify(f->path, "ext2", &err), 0);
	assert_empty_root(f->path);

	make_sparse(f->path, 64 * MiB);
	assert_int_equal(format(f->path, 0, "ext3", NULL, &err), 0);
	assert_fsck_clean(f->path);
	feat3 = dumpe2fs_field(f->path, "Filesystem features");
	assert_true(has_word(feat3, "has_journal"));
	assert_false(has_word(feat3, "extent"));
	assert_int_equal(thinsnap_mkfs_verify(f->path, "ext3", &err), 0);
}

/* Writes a pattern; returns the file's state so the test can see it unchanged. */
static void fill_pattern(const char *path, struct stat *st)
{
	char buf[8192];
	int fd = open(path, O_RDWR | O_CLOEXEC);

	assert_true(fd >= 0);
	memset(buf, 0xa5, sizeof(buf));
	assert_int_equal(pwrite(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(fstat(fd, st), 0);
	close(fd);
}

static void assert_pattern(const char *path, const struct stat *before)
{
	char buf[8192];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), 0), (ssize_t)sizeof(buf));
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal((unsigned char)buf[i], 0xa5);
	assert_int_equal(st.st_size, before->st_size);
	assert_int_equal(st.st_blocks, before->st_blocks);
	assert_int_equal(st.st_mtim.tv_sec, before->st_mtim.tv_sec);
	assert_int_equal(st.st_mtim.tv_nsec, before->st_mtim.tv_nsec);
}

static void test_bad_options(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *opts;
		const char *names; /* the message must contain this */
	} rows[] = {
		{ "-X", "'-X'" },
		{ "-E foo=1", "'-E foo'" },
		{ "-E lazy_itable_init=2", "'lazy_itable_init'" },
		{ "-O nosuchfeat", "'nosuchfeat'" },
		{ "-O quota", "'quota'" },
		{ "-b 3000", "'-b'" },
		{ "-b", "'-b'" },
		{ "-i 12x", "'-i'" },
		{ "-m 60", "'-m'" },
		{ "-N 0", "'-N'" },
		{ "-I 100", "'-I'" },
		{ "-J size=x", "'-J size=x'" },
		{ "-J foo", "'-J foo'" },
		{ "-T tiny", "'-T'" },
		{ "-L seventeen-chars-x", "'seventeen-chars-x'" },
		{ "lazy_itable_init=1", "'lazy_itable_init=1'" },
		{ "-E lazy_itable_init=1 --", "'--'" },
		{ "-qx", "'-qx'" },
	};
	struct stat before;

	make_sparse(f->path, 64 * MiB);
	fill_pattern(f->path, &before);
	for (size_t i = 0; i < ELEMENTSOF(rows); i++) {
		struct thinsnap_error err = { 0 };
		int r = format(f->path, 0, "ext4", rows[i].opts, &err);

		print_message("  '%s': %s\n", rows[i].opts, err.msg);
		assert_int_equal(r, -EINVAL);
		assert_int_equal(err.err, -EINVAL);
		assert_non_null(strstr(err.msg, rows[i].names));
	}
	assert_pattern(f->path, &before);
}

static void test_bad_type_and_sizes(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };
	struct stat before;
	char missing[128];

	make_sparse(f->path, 64 * MiB);
	fill_pattern(f->path, &before);
	assert_int_equal(format(f->path, 0, "btrfs", NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "'btrfs'"));
	assert_int_equal(format(f->path, 100 * 1024, "ext4", NULL, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "too small"));
	assert_pattern(f->path, &before);
	assert_int_equal(format("", 0, "ext4", NULL, &err), -EINVAL);
	snprintf(missing, sizeof(missing), "%s/missing.img", f->dir);
	assert_int_equal(format(missing, 0, "ext4", NULL, &err), -ENOENT);
	print_message("  missing: %s\n", err.msg);
	assert_int_equal(format(missing, 64 * MiB, "ext4", NULL, &err), -ENOENT);
	assert_int_equal(thinsnap_mkfs_format(missing, 0, NULL, NULL), -ENOENT);
}

static void test_verify(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };

	make_sparse(f->path, 64 * MiB);
	assert_int_equal(thinsnap_mkfs_verify(f->path, "ext4", &err), -EUCLEAN);
	assert_non_null(strstr(err.msg, "no filesystem"));
	assert_int_equal(format(f->path, 0, NULL, NULL, &err), 0);
	assert_int_equal(thinsnap_mkfs_verify(f->path, "ext4", &err), 0);
	assert_int_equal(thinsnap_mkfs_verify(f->path, "xfs", &err), -EUCLEAN);
	print_message("  verify xfs: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "holds ext4"));
	assert_int_equal(thinsnap_mkfs_verify(f->path, "", &err), -EINVAL);
	assert_int_equal(thinsnap_mkfs_verify(f->path, NULL, NULL), -EINVAL);
}

/* Two formats of the same file get different UUIDs and hash seeds. */
static void test_fresh_uuid(void **state)
{
	struct fixture *f = *state;
	struct thinsnap_error err = { 0 };
	CLEANUP_FREE char *u1 = NULL;
	CLEANUP_FREE char *u2 = NULL;
	CLEANUP_FREE char *h1 = NULL;
	CLEANUP_FREE char *h2 = NULL;

	make_sparse(f->path, 64 * MiB);
	assert_int_equal(format(f->path, 0, NULL, NULL, &err), 0);
	u1 = dumpe2fs_field(f->path, "Filesystem UUID");
	h1 = dumpe2fs_field(f->path, "Directory Hash Seed");
	assert_int_equal(format(f->path, 0, NULL, NULL, &err), 0); /* discard clears the old */
	assert_fsck_clean(f->path);
	u2 = dumpe2fs_field(f->path, "Filesystem UUID");
	h2 = dumpe2fs_field(f->path, "Directory Hash Seed");
	assert_string_not_equal(u1, u2);
	assert_string_not_equal(h1, h2);
	assert_string_not_equal(u1, "00000000-0000-0000-0000-000000000000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_format_64m, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_1g_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_format_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_options_applied, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inode_count_and_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ext2_ext3, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_type_and_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fresh_uuid, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

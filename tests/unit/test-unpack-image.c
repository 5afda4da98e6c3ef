/*
 * unpack/: image sources. Builds an OCI layout (a nested index with two platforms, gzip
 * layers), its tar (oci-archive), and a docker save tar in a temp dir; checks platform and
 * ref selection, chain IDs, digests of what the layer reader gives, and tampered blobs. The
 * layers are applied (checking the tree) only as root: the applier sets owners.
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
#include <unistd.h>

#include <thinsnap/unpack.h>

#include "tarbuf.h"
#include "testutil.h"
#include "unpack/unpack.h"

/* A layer of regular files: names[i] with contents datas[i]; gzip when gz. */
static struct tarbuf make_layer(bool gz, const char *const *names, const char *const *datas,
				size_t n)
{
	struct tarbuf t;

	tarbuf_begin(&t, gz ? TARBUF_GZIP : TARBUF_NONE);
	for (size_t i = 0; i < n; i++)
		tarbuf_add_file(&t, names[i], datas[i]);
	tarbuf_end(&t);
	return t;
}

struct fx {
	char tmp[64];
	char layout[96], ociar[96], dockerar[96];
	char d1[THINSNAP_UNPACK_DIGEST_LEN], d2[THINSNAP_UNPACK_DIGEST_LEN]; /* diff ids */
	char g1[THINSNAP_UNPACK_DIGEST_LEN], g2[THINSNAP_UNPACK_DIGEST_LEN]; /* blob digests */
	char amd64_manifest[THINSNAP_UNPACK_DIGEST_LEN];
};

static void write_file(const char *dir, const char *name, const void *p, size_t n)
{
	assert_int_equal(tu_write(tu_path(dir, name), p, n), 0);
}

/* Writes a blob; returns its digest in out. */
static void blob(struct fx *f, const void *p, size_t n, char *out)
{
	char name[128];

	assert_int_equal(thinsnap_unpack_sha256(p, n, out), 0);
	snprintf(name, sizeof(name), "blobs/sha256/%s", out + 7);
	write_file(f->layout, name, p, n);
}

static void json_blob(struct fx *f, char *out, const char *fmt, ...)
{
	char s[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s, sizeof(s), fmt, ap);
	va_end(ap);
	blob(f, s, strlen(s), out);
}

static int setup(void **state)
{
	static const char *const n1[] = { "a", "dir/x" }, *const c1[] = { "A", "X" };
	static const char *const n2[] = { "b", ".wh.a" }, *const c2[] = { "B", "" };
	struct fx *f = calloc(1, sizeof(*f));
	struct tarbuf l1, l2, u1, u2;
	char cfg[THINSNAP_UNPACK_DIGEST_LEN], cfg_arm[THINSNAP_UNPACK_DIGEST_LEN];
	char m_arm[THINSNAP_UNPACK_DIGEST_LEN], nested[THINSNAP_UNPACK_DIGEST_LEN];
	char cmd[512], s[1024];

	assert_non_null(f);
	strcpy(f->tmp, "/tmp/test-unpack-image.XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->layout, sizeof(f->layout), "%s/layout", f->tmp);
	snprintf(f->ociar, sizeof(f->ociar), "%s/oci.tar", f->tmp);
	snprintf(f->dockerar, sizeof(f->dockerar), "%s/docker.tar", f->tmp);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/blobs/sha256 %s/docker/l1 %s/docker/l2", f->layout,
		 f->tmp, f->tmp);
	assert_int_equal(system(cmd), 0);

	l1 = make_layer(true, n1, c1, 2);
	l2 = make_layer(true, n2, c2, 2);
	u1 = make_layer(false, n1, c1, 2);
	u2 = make_layer(false, n2, c2, 2);
	assert_int_equal(thinsnap_unpack_sha256(u1.buf, u1.len, f->d1), 0);
	assert_int_equal(thinsnap_unpack_sha256(u2.buf, u2.len, f->d2), 0);
	blob(f, l1.buf, l1.len, f->g1);
	blob(f, l2.buf, l2.len, f->g2);

	json_blob(f, cfg,
		  "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		  "\"diff_ids\":[\"%s\",\"%s\"]}}",
		  f->d1, f->d2);
	json_blob(f, cfg_arm,
		  "{\"architecture\":\"arm64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		  "\"diff_ids\":[\"%s\"]}}",
		  f->d1);
	json_blob(
		f, f->amd64_manifest,
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"%s\",\"size\":1},\"layers\":["
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\","
		"\"size\":%zu},"
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\","
		"\"size\":%zu}]}",
		cfg, f->g1, l1.len, f->g2, l2.len);
	json_blob(
		f, m_arm,
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"%s\",\"size\":1},\"layers\":["
		"{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\","
		"\"size\":%zu}]}",
		cfg_arm, f->g1, l1.len);
	json_blob(f, nested,
		  "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
		  "\"manifests\":["
		  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
		  "\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
		  "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\","
		  "\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
		  m_arm, f->amd64_manifest);
	snprintf(s, sizeof(s),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\",\"size\":1,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}",
		 nested);
	write_file(f->layout, "index.json", s, strlen(s));
	write_file(f->layout, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	snprintf(cmd, sizeof(cmd), "tar -C %s -cf %s .", f->layout, f->ociar);
	assert_int_equal(system(cmd), 0);

	/* docker save: uncompressed layer.tar files, manifest.json, config by file name */
	{
		char dd[96];

		snprintf(dd, sizeof(dd), "%s/docker", f->tmp);
		write_file(dd, "l1/layer.tar", u1.buf, u1.len);
		write_file(dd, "l2/layer.tar", u2.buf, u2.len);
		snprintf(s, sizeof(s),
			 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":"
			 "\"layers\",\"diff_ids\":[\"%s\",\"%s\"]}}",
			 f->d1, f->d2);
		write_file(dd, "cfg.json", s, strlen(s));
		snprintf(s, sizeof(s),
			 "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"busybox:latest\"],"
			 "\"Layers\":[\"l1/layer.tar\",\"./l2/layer.tar\"]}]");
		write_file(dd, "manifest.json", s, strlen(s));
		snprintf(cmd, sizeof(cmd), "tar -C %s -cf %s manifest.json cfg.json l1 l2", dd,
			 f->dockerar);
		assert_int_equal(system(cmd), 0);
	}
	free(l1.buf);
	free(l2.buf);
	free(u1.buf);
	free(u2.buf);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->tmp);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Applies every layer into a fresh root; checks digests and the resulting tree. */
static void apply_all(struct fx *f, struct thinsnap_unpack_image *img)
{
	char root[128];
	int root_fd;
	struct stat st;

	if (geteuid() != 0) /* the applier sets owners: root only, the rest is checked without */
		return;
	snprintf(root, sizeof(root), "%s/root", f->tmp);
	{
		char cmd[320];

		snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir %s", root, root);
		assert_int_equal(system(cmd), 0);
	}
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(root_fd >= 0);
	for (size_t i = 0; i < thinsnap_unpack_image_n_layers(img); i++) {
		struct thinsnap_unpack_layer l;
		struct thinsnap_unpack_stats stats;
		struct thinsnap_error err = { 0 };
		thinsnap_unpack_read_fn rd;
		void *ud;

		assert_int_equal(thinsnap_unpack_image_layer(img, i, &l), 0);
		assert_int_equal(thinsnap_unpack_image_open_layer(img, i, &rd, &ud, &err), 0);
		assert_int_equal(thinsnap_unpack_apply_layer(root_fd, rd, ud, &stats, &err), 0);
		assert_string_equal(stats.digest, l.digest);
		assert_string_equal(stats.diff_id, l.diff_id);
	}
	assert_int_equal(fstatat(root_fd, "b", &st, 0), 0);
	assert_int_equal(fstatat(root_fd, "dir/x", &st, 0), 0);
	assert_int_equal(fstatat(root_fd, "a", &st, 0), -1); /* whited out */
	close(root_fd);
}

static void check_layers(struct fx *f, struct thinsnap_unpack_image *img, bool docker)
{
	struct thinsnap_unpack_layer l;
	char c2[THINSNAP_UNPACK_DIGEST_LEN];

	assert_int_equal(thinsnap_unpack_image_n_layers(img), 2);
	assert_int_equal(thinsnap_unpack_image_layer(img, 0, &l), 0);
	assert_string_equal(l.diff_id, f->d1);
	assert_string_equal(l.chain_id, f->d1);
	assert_string_equal(l.digest, docker ? f->d1 : f->g1);
	assert_int_equal(thinsnap_unpack_image_layer(img, 1, &l), 0);
	assert_int_equal(thinsnap_unpack_chain_id(f->d1, f->d2, c2, NULL), 0);
	assert_string_equal(l.chain_id, c2);
	assert_string_equal(l.digest, docker ? f->d2 : f->g2);
	assert_int_equal(thinsnap_unpack_image_layer(img, 2, &l), -ERANGE);
	apply_all(f, img);
}

static void test_layout_dir(void **state)
{
	struct fx *f = *state;
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_error err = { 0 };
	int r = thinsnap_unpack_image_open(f->layout, "linux/amd64", NULL, &img, &err);

	if (r < 0)
		fail_msg("open: %s", err.msg);
	check_layers(f, img, false);
	thinsnap_unpack_image_free(img);

	assert_int_equal(thinsnap_unpack_image_open(f->layout, "linux/amd64", "latest", &img, &err),
			 0);
	thinsnap_unpack_image_free(img);

	/* the other platform of the nested index: one layer */
	assert_int_equal(thinsnap_unpack_image_open(f->layout, "linux/arm64/v8", NULL, &img, &err),
			 0);
	assert_int_equal(thinsnap_unpack_image_n_layers(img), 1);
	thinsnap_unpack_image_free(img);

	img = NULL;
	assert_int_equal(thinsnap_unpack_image_open(f->layout, "linux/s390x", NULL, &img, &err),
			 -ENOENT);
	assert_null(img);
	assert_int_equal(thinsnap_unpack_image_open(f->layout, "linux/amd64", "nope", &img, &err),
			 -ENOENT);
	assert_int_equal(thinsnap_unpack_image_open(f->layout, "linux", NULL, &img, &err), -EINVAL);
	assert_int_equal(thinsnap_unpack_image_open("/nonexistent", NULL, NULL, &img, &err),
			 -ENOENT);
}

static void test_oci_archive(void **state)
{
	struct fx *f = *state;
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_error err = { 0 };
	int r = thinsnap_unpack_image_open(f->ociar, "linux/amd64", NULL, &img, &err);

	if (r < 0)
		fail_msg("open: %s", err.msg);
	check_layers(f, img, false);
	thinsnap_unpack_image_free(img);
}

static void test_docker_archive(void **state)
{
	struct fx *f = *state;
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_error err = { 0 };
	int r = thinsnap_unpack_image_open(f->dockerar, NULL, "busybox:latest", &img, &err);

	if (r < 0)
		fail_msg("open: %s", err.msg);
	check_layers(f, img, true);
	thinsnap_unpack_image_free(img);
	img = NULL;
	assert_int_equal(thinsnap_unpack_image_open(f->dockerar, NULL, "other:1", &img, &err),
			 -ENOENT);
}

/* A manifest whose bytes do not match its digest is refused. */
static void test_tampered_manifest(void **state)
{
	struct fx *f = *state;
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_error err = { 0 };
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", f->layout, f->amd64_manifest + 7);
	fp = fopen(path, "a");
	assert_non_null(fp);
	fputs(" ", fp);
	fclose(fp);
	assert_int_equal(thinsnap_unpack_image_open(f->layout, "linux/amd64", NULL, &img, &err),
			 -EBADMSG);
	assert_null(img);
	assert_non_null(strstr(err.msg, "digest"));
}

/* A corrupt layer blob applies, but its digest shows the mismatch. */
static void test_tampered_layer(void **state)
{
	struct fx *f = *state;
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_error err = { 0 };
	struct thinsnap_unpack_layer l;
	struct thinsnap_unpack_stats st;
	thinsnap_unpack_read_fn rd;
	void *ud;
	char path[256], root[128];
	int root_fd;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", f->layout, f->g2 + 7);
	fp = fopen(path, "a");
	assert_non_null(fp);
	fputs("trailing garbage", fp);
	fclose(fp);
	assert_int_equal(thinsnap_unpack_image_open(f->layout, "linux/amd64", NULL, &img, &err), 0);
	snprintf(root, sizeof(root), "%s/r", f->tmp);
	assert_int_equal(mkdir(root, 0755), 0);
	root_fd = open(root, O_RDONLY | O_DIRECTORY);
	assert_int_equal(thinsnap_unpack_image_open_layer(img, 1, &rd, &ud, &err), 0);
	if (thinsnap_unpack_apply_layer(root_fd, rd, ud, &st, &err) == 0) {
		assert_int_equal(thinsnap_unpack_image_layer(img, 1, &l), 0);
		assert_string_not_equal(st.digest, l.digest);
	}
	close(root_fd);
	thinsnap_unpack_image_free(img);
}

static void test_not_an_image(void **state)
{
	struct fx *f = *state;
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_error err = { 0 };
	char path[128];

	snprintf(path, sizeof(path), "%s/layout/oci-layout", f->tmp);
	assert_int_equal(thinsnap_unpack_image_open(path, NULL, NULL, &img, &err), -EINVAL);
	snprintf(path, sizeof(path), "%s/docker", f->tmp); /* a dir with manifest.json: fine */
	assert_int_equal(thinsnap_unpack_image_open(path, NULL, NULL, &img, &err), 0);
	thinsnap_unpack_image_free(img);
	assert_int_equal(thinsnap_unpack_image_open(f->tmp, NULL, NULL, &img, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layout_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oci_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docker_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_manifest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_layer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_an_image, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

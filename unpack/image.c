/*
 * unpack/: image sources. An OCI image layout directory, a tar of one (oci-archive, ctr
 * export), or a docker save tar; tars are indexed once (ustar, GNU long names, pax paths) and
 * blobs read in place with pread. index.json is followed through nested indexes to the
 * manifest of one platform; manifests and configs are checked against their digests.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <thinsnap/unpack.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "unpack/libs.h"
#include "unpack/unpack.h"

#define MAX_JSON_BYTES (16 * 1024 * 1024)
#define MAX_DEPTH      4

static inline void json_putp(json_t **p)
{
	json_decref(*p); /* NULL is fine; jansson's own json_decrefp is taken */
}

struct member {
	char *name;
	int64_t off, size;
};

struct layer_rec {
	char *media_type, *digest, *diff_id, *path; /* path: docker archives' layer file */
	char chain_id[THINSNAP_UNPACK_DIGEST_LEN];
	int64_t size;
};

struct blob_reader {
	int fd;
	bool own_fd;
	int64_t off, left; /* left -1: to the end of the file */
};

struct thinsnap_unpack_image {
	int dir_fd; /* the layout directory, or -EBADF */
	int tar_fd; /* the archive, or -EBADF */
	struct member *members;
	size_t n_members;
	struct layer_rec *layers;
	size_t n_layers;
	struct blob_reader rd;
	char os[32], arch[32], variant[32];
};

void thinsnap_unpack_image_free(struct thinsnap_unpack_image *img)
{
	if (!img)
		return;
	if (img->rd.own_fd && img->rd.fd >= 0)
		(void)close(img->rd.fd);
	if (img->dir_fd >= 0)
		(void)close(img->dir_fd);
	if (img->tar_fd >= 0)
		(void)close(img->tar_fd);
	for (size_t i = 0; i < img->n_members; i++)
		free(img->members[i].name);
	free(img->members);
	for (size_t i = 0; i < img->n_layers; i++) {
		free(img->layers[i].media_type);
		free(img->layers[i].digest);
		free(img->layers[i].diff_id);
		free(img->layers[i].path);
	}
	free(img->layers);
	free(img);
}

DEFINE_CLEANUP(struct thinsnap_unpack_image *, thinsnap_unpack_image_free)

/* Strips "./" and leading slashes, collapses "//" and ".": member names as paths. */
static void norm_name(char *s)
{
	char *w = s;
	const char *r = s;

	while (*r) {
		while (*r == '/')
			r++;
		if (r[0] == '.' && (r[1] == '/' || r[1] == '\0')) {
			r++;
			continue;
		}
		if (!*r)
			break;
		if (w != s)
			*w++ = '/';
		while (*r && *r != '/')
			*w++ = *r++;
	}
	*w = '\0';
}

static int64_t parse_octal(const char *p, size_t n, bool *ok)
{
	int64_t v = 0;
	size_t i = 0;

	if ((unsigned char)p[0] & 0x80) { /* GNU base-256 */
		v = p[0] & 0x3f;
		for (i = 1; i < n; i++) {
			if (v > (INT64_MAX >> 8)) {
				*ok = false;
				return 0;
			}
			v = (v << 8) | (unsigned char)p[i];
		}
		return v;
	}
	while (i < n && p[i] == ' ')
		i++;
	for (; i < n && p[i] >= '0' && p[i] <= '7'; i++) {
		if (v > (INT64_MAX >> 3)) {
			*ok = false;
			return 0;
		}
		v = v * 8 + (p[i] - '0');
	}
	if (i < n && p[i] != ' ' && p[i] != '\0')
		*ok = false;
	return v;
}

static int pread_all(int fd, void *buf, size_t n, int64_t off)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EINVAL; /* truncated */
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

static int add_member(struct thinsnap_unpack_image *img, char *name, int64_t off, int64_t size)
{
	struct member *m = realloc(img->members, (img->n_members + 1) * sizeof(*m));

	if (!m) {
		free(name);
		return -ENOMEM;
	}
	img->members = m;
	norm_name(name);
	m[img->n_members++] = (struct member){ .name = name, .off = off, .size = size };
	return 0;
}

static const struct member *find_member(const struct thinsnap_unpack_image *img, const char *name)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", name) >= (int)sizeof(buf))
		return NULL;
	norm_name(buf);
	for (size_t i = img->n_members; i-- > 0;) /* the last of the same name wins, like tar */
		if (strcmp(img->members[i].name, buf) == 0)
			return &img->members[i];
	return NULL;
}

/* From a pax extended header's records, the "path" value (malloc'd) if any. */
static char *pax_path(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *end = NULL, *kv;
		uint64_t len = 0;

		if (thinsnap_parse_u64_prefix(p + i, &len, &end) < 0 || *end != ' ' || len == 0 ||
		    len > n - i)
			return NULL;
		kv = end + 1;
		if ((size_t)(p + i + len - kv) > 5 && strncmp(kv, "path=", 5) == 0 &&
		    p[i + len - 1] == '\n')
			return strndup(kv + 5, (size_t)(p + i + len - 1 - (kv + 5)));
		i += len;
	}
	return NULL;
}

/* Indexes the regular files of the tar at img->tar_fd. */
static int index_tar(struct thinsnap_unpack_image *img, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *longname = NULL;
	struct stat st;
	int64_t off = 0;

	if (fstat(img->tar_fd, &st) < 0)
		return thinsnap_error_setf(reterr, -errno, "stat: %s", strerror(errno));
	while (off + 512 <= st.st_size) {
		unsigned char h[512];
		unsigned sum = 0, want;
		bool ok = true, zero = true;
		int64_t size;
		char type;
		int r = pread_all(img->tar_fd, h, sizeof(h), off);

		if (r < 0)
			return thinsnap_error_setf(reterr, r, "reading the archive: %s",
						   strerror(-r));
		for (size_t i = 0; i < 512; i++) {
			zero = zero && h[i] == 0;
			sum += (i >= 148 && i < 156) ? ' ' : h[i];
		}
		if (zero)
			return 0;
		want = (unsigned)parse_octal((char *)h + 148, 8, &ok);
		size = parse_octal((char *)h + 124, 12, &ok);
		if (!ok || want != sum || size < 0 || off + 512 + size > st.st_size)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "not a tar archive (bad header at %lld)",
						   (long long)off);
		type = (char)h[156];
		if (type == 'L' || type == 'x') {
			CLEANUP_FREE char *data = NULL;

			if (size > 65536)
				return thinsnap_error_setf(reterr, -EINVAL, "tar header too long");
			data = calloc(1, (size_t)size + 1);
			if (!data)
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			r = pread_all(img->tar_fd, data, (size_t)size, off + 512);
			if (r < 0)
				return thinsnap_error_setf(reterr, r, "reading the archive");
			free(longname);
			longname = type == 'L' ? strndup(data, (size_t)size)
					       : pax_path(data, (size_t)size);
		} else if (type == '0' || type == '\0' || type == '7' || type == '1') {
			char *name;

			if (longname) {
				name = TAKE_PTR(longname);
			} else {
				char buf[256 + 1];
				size_t pl = strnlen((char *)h + 345, 155);

				if (memcmp(h + 257, "ustar", 5) == 0 && pl > 0)
					(void)snprintf(buf, sizeof(buf), "%.*s/%.*s", (int)pl,
						       (char *)h + 345,
						       (int)strnlen((char *)h, 100), (char *)h);
				else
					(void)snprintf(buf, sizeof(buf), "%.*s",
						       (int)strnlen((char *)h, 100), (char *)h);
				name = strdup(buf);
			}
			if (!name)
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			if (type == '1') { /* a hard link: the target's data */
				char target[101];
				const struct member *m;

				(void)snprintf(target, sizeof(target), "%.*s",
					       (int)strnlen((char *)h + 157, 100), (char *)h + 157);
				m = find_member(img, target);
				if (m)
					r = add_member(img, name, m->off, m->size);
				else
					free(name);
			} else {
				r = add_member(img, name, off + 512, size);
			}
			if (r < 0)
				return thinsnap_error_setf(reterr, r, "out of memory");
		} else {
			free(longname);
			longname = NULL;
		}
		off += 512 + ((size + 511) & ~(int64_t)511);
	}
	return 0;
}

static long sys_openat2(int dirfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* Opens a file of the source: *ret_fd (owned when *ret_own), its offset and size. */
static int open_file(struct thinsnap_unpack_image *img, const char *path, int *ret_fd,
		     bool *ret_own, int64_t *ret_off, int64_t *ret_size)
{
	if (img->dir_fd >= 0) {
		struct stat st;
		long fd = sys_openat2(img->dir_fd, path, O_RDONLY);

		if (fd < 0)
			return -errno;
		if (fstat((int)fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			(void)close((int)fd);
			return -EINVAL;
		}
		*ret_fd = (int)fd;
		*ret_own = true;
		*ret_off = 0;
		*ret_size = st.st_size;
		return 0;
	} else {
		const struct member *m = find_member(img, path);

		if (!m)
			return -ENOENT;
		*ret_fd = img->tar_fd;
		*ret_own = false;
		*ret_off = m->off;
		*ret_size = m->size;
		return 0;
	}
}

static int blob_path(const char *digest, char *buf, size_t size)
{
	if (!thinsnap_unpack_digest_valid(digest))
		return -EINVAL;
	(void)snprintf(buf, size, "blobs/sha256/%s", digest + 7);
	return 0;
}

/* Reads a JSON file of the source; when digest is set, checks the bytes against it. */
static int read_json(struct thinsnap_unpack_image *img, const char *path, const char *digest,
		     json_t **ret, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *buf = NULL;
	json_error_t jerr;
	json_t *j;
	int64_t off, size;
	bool own;
	int fd, r;

	r = open_file(img, path, &fd, &own, &off, &size);
	if (r < 0)
		return thinsnap_error_setf(reterr, r == -ENOENT ? -EINVAL : r,
					   "image: cannot read '%s': %s", path, strerror(-r));
	if (size > MAX_JSON_BYTES) {
		if (own)
			(void)close(fd);
		return thinsnap_error_setf(reterr, -EINVAL, "image: '%s' is too large", path);
	}
	buf = malloc((size_t)size + 1);
	r = buf ? pread_all(fd, buf, (size_t)size, off) : -ENOMEM;
	if (own)
		(void)close(fd);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "image: reading '%s': %s", path,
					   strerror(-r));
	if (digest) {
		char got[THINSNAP_UNPACK_DIGEST_LEN];

		r = thinsnap_unpack_sha256(buf, (size_t)size, got);
		if (r < 0)
			return thinsnap_error_setf(reterr, r, "out of memory");
		if (strcmp(got, digest) != 0)
			return thinsnap_error_setf(reterr, -EBADMSG,
						   "image: '%s' has digest %s, want %s", path, got,
						   digest);
	}
	j = json_loadb(buf, (size_t)size, 0, &jerr);
	if (!j)
		return thinsnap_error_setf(reterr, -EINVAL, "image: '%s': %s", path, jerr.text);
	*ret = j;
	return 0;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static bool is_index_type(const char *mt)
{
	return mt && (strcmp(mt, "application/vnd.oci.image.index.v1+json") == 0 ||
		      strcmp(mt, "application/vnd.docker.distribution.manifest.list.v2+json") == 0);
}

static bool is_manifest_type(const char *mt)
{
	return mt && (strcmp(mt, "application/vnd.oci.image.manifest.v1+json") == 0 ||
		      strcmp(mt, "application/vnd.docker.distribution.manifest.v2+json") == 0);
}

static bool platform_matches(const struct thinsnap_unpack_image *img, const json_t *desc)
{
	const json_t *p = json_object_get(desc, "platform");
	const char *os, *arch, *variant;

	if (!p)
		return true; /* no platform given: take it */
	os = jstr(p, "os");
	arch = jstr(p, "architecture");
	variant = jstr(p, "variant");
	if (!os || !arch || strcmp(os, img->os) != 0 || strcmp(arch, img->arch) != 0)
		return false;
	return !variant || !img->variant[0] || strcmp(variant, img->variant) == 0;
}

static bool ref_matches(const json_t *desc, const char *ref)
{
	const json_t *ann = json_object_get(desc, "annotations");
	const char *names[] = { "org.opencontainers.image.ref.name", "io.containerd.image.name" };

	if (!ref)
		return true;
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		const char *v = jstr(ann, names[i]);

		if (v && strcmp(v, ref) == 0)
			return true;
	}
	return false;
}

static int add_layers(struct thinsnap_unpack_image *img, const json_t *manifest,
		      const json_t *config, const json_t *docker_layers,
		      struct thinsnap_error *reterr);

/* Follows index `idx` to a manifest for the platform; *ret_manifest on success. */
static int resolve_index(struct thinsnap_unpack_image *img, const json_t *idx, const char *ref,
			 int depth, json_t **ret_manifest, struct thinsnap_error *reterr)
{
	const json_t *ms = json_object_get(idx, "manifests");
	size_t i;
	const json_t *d;

	if (depth > MAX_DEPTH)
		return thinsnap_error_setf(reterr, -EINVAL, "image: indexes nested too deep");
	if (!json_is_array(ms))
		return thinsnap_error_setf(reterr, -EINVAL, "image: index without manifests");
	json_array_foreach(ms, i, d)
	{
		const char *mt = jstr(d, "mediaType");
		const char *digest = jstr(d, "digest");
		char path[128];
		json_t *j = NULL;
		int r;

		if (!ref_matches(d, ref))
			continue;
		if (!is_index_type(mt) && !(is_manifest_type(mt) && platform_matches(img, d)))
			continue;
		if (blob_path(digest, path, sizeof(path)) < 0)
			return thinsnap_error_setf(reterr, -EINVAL, "image: bad digest '%s'",
						   digest ? digest : "(none)");
		r = read_json(img, path, digest, &j, reterr);
		if (r < 0)
			return r;
		if (is_manifest_type(mt)) {
			*ret_manifest = j;
			return 0;
		}
		r = resolve_index(img, j, NULL, depth + 1, ret_manifest, reterr);
		json_decref(j);
		if (r != -ENOENT)
			return r;
	}
	return thinsnap_error_setf(reterr, -ENOENT, "image: no manifest for %s/%s%s%s%s%s", img->os,
				   img->arch, img->variant[0] ? "/" : "", img->variant,
				   ref ? " named " : "", ref ? ref : "");
}

static int open_oci(struct thinsnap_unpack_image *img, const char *ref,
		    struct thinsnap_error *reterr)
{
	CLEANUP(json_putp) json_t *idx = NULL;
	CLEANUP(json_putp) json_t *manifest = NULL;
	CLEANUP(json_putp) json_t *config = NULL;
	const char *cdigest;
	char path[128];
	int r;

	r = read_json(img, "index.json", NULL, &idx, reterr);
	if (r < 0)
		return r;
	r = resolve_index(img, idx, ref, 0, &manifest, reterr);
	if (r < 0)
		return r;
	cdigest = jstr(json_object_get(manifest, "config"), "digest");
	if (blob_path(cdigest, path, sizeof(path)) < 0)
		return thinsnap_error_setf(reterr, -EINVAL, "image: manifest without a config");
	r = read_json(img, path, cdigest, &config, reterr);
	if (r < 0)
		return r;
	return add_layers(img, manifest, config, NULL, reterr);
}

static int open_docker(struct thinsnap_unpack_image *img, const char *ref,
		       struct thinsnap_error *reterr)
{
	CLEANUP(json_putp) json_t *list = NULL;
	CLEANUP(json_putp) json_t *config = NULL;
	const json_t *pick = NULL;
	const json_t *m;
	const char *cpath;
	size_t i;
	int r;

	r = read_json(img, "manifest.json", NULL, &list, reterr);
	if (r < 0)
		return r;
	if (!json_is_array(list) || json_array_size(list) == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "image: empty manifest.json");
	json_array_foreach(list, i, m)
	{
		const json_t *tags = json_object_get(m, "RepoTags");
		const json_t *t;
		size_t k;

		if (!ref) {
			pick = m;
			break;
		}
		json_array_foreach(tags, k, t) if (json_string_value(t) &&
						   strcmp(json_string_value(t), ref) == 0) pick = m;
		if (pick)
			break;
	}
	if (!pick)
		return thinsnap_error_setf(reterr, -ENOENT, "image: no image tagged '%s'", ref);
	cpath = jstr(pick, "Config");
	if (!cpath)
		return thinsnap_error_setf(reterr, -EINVAL, "image: manifest.json without Config");
	r = read_json(img, cpath, NULL, &config, reterr);
	if (r < 0)
		return r;
	return add_layers(img, NULL, config, json_object_get(pick, "Layers"), reterr);
}

static bool supported_layer_type(const char *mt)
{
	static const char *const ok[] = {
		"application/vnd.oci.image.layer.v1.tar",
		"application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		"application/vnd.docker.image.rootfs.diff.tar",
	};

	for (size_t i = 0; i < ELEMENTSOF(ok); i++)
		if (strcmp(mt, ok[i]) == 0)
			return true;
	return false;
}

/* Layers from an OCI manifest (layers[]) or docker's Layers (paths), diff IDs from config. */
static int add_layers(struct thinsnap_unpack_image *img, const json_t *manifest,
		      const json_t *config, const json_t *docker_layers,
		      struct thinsnap_error *reterr)
{
	const json_t *diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
	const json_t *layers = manifest ? json_object_get(manifest, "layers") : docker_layers;
	size_t n = json_array_size(layers);

	if (!json_is_array(layers) || !json_is_array(diff_ids) || json_array_size(diff_ids) != n)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "image: %zu layers but %zu diff ids in the config", n,
					   json_array_size(diff_ids));
	if (n == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "image: no layers");
	img->layers = calloc(n, sizeof(*img->layers));
	if (!img->layers)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct layer_rec *l = &img->layers[i];
		const json_t *d = json_array_get(layers, i);
		const char *diff_id = json_string_value(json_array_get(diff_ids, i));
		const char *mt, *digest;
		char dbuf[THINSNAP_UNPACK_DIGEST_LEN];
		int r;

		img->n_layers = i + 1;
		if (!thinsnap_unpack_digest_valid(diff_id))
			return thinsnap_error_setf(reterr, -EINVAL, "image: bad diff id '%s'",
						   diff_id ? diff_id : "(none)");
		if (manifest) {
			mt = jstr(d, "mediaType");
			digest = jstr(d, "digest");
			if (!mt || !supported_layer_type(mt))
				return thinsnap_error_setf(reterr, -EINVAL,
							   "image: layer %zu: unsupported media "
							   "type '%s'",
							   i, mt ? mt : "(none)");
			if (!thinsnap_unpack_digest_valid(digest))
				return thinsnap_error_setf(reterr, -EINVAL,
							   "image: layer %zu: bad digest", i);
			l->size = json_is_integer(json_object_get(d, "size"))
					  ? json_integer_value(json_object_get(d, "size"))
					  : -1;
		} else {
			const char *p = json_string_value(d);
			char copy[PATH_MAX];

			if (!p || snprintf(copy, sizeof(copy), "%s", p) >= (int)sizeof(copy))
				return thinsnap_error_setf(reterr, -EINVAL,
							   "image: layer %zu: bad path", i);
			norm_name(copy);
			/* blobs/sha256/<hex> names its digest; legacy <id>/layer.tar is the
			 * uncompressed tar itself, whose digest is its diff ID */
			if (strncmp(copy, "blobs/sha256/", 13) == 0 &&
			    snprintf(dbuf, sizeof(dbuf), "sha256:%s", copy + 13) <
				    (int)sizeof(dbuf) &&
			    thinsnap_unpack_digest_valid(dbuf))
				digest = dbuf;
			else
				digest = diff_id;
			mt = "application/vnd.docker.image.rootfs.diff.tar";
			l->size = -1;
			l->path = strdup(copy);
			if (!l->path)
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		}
		l->media_type = strdup(mt);
		l->digest = strdup(digest);
		l->diff_id = strdup(diff_id);
		if (!l->media_type || !l->digest || !l->diff_id)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		r = thinsnap_unpack_chain_id(i ? img->layers[i - 1].chain_id : NULL, diff_id,
					     l->chain_id, reterr);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_platform(struct thinsnap_unpack_image *img, const char *platform)
{
	char buf[96];
	char *arch, *variant;

	if (!platform) {
		static const struct {
			const char *machine, *arch, *variant;
		} map[] = {
			{ "x86_64", "amd64", "" },    { "aarch64", "arm64", "" },
			{ "armv7l", "arm", "v7" },    { "armv6l", "arm", "v6" },
			{ "i686", "386", "" },        { "i386", "386", "" },
			{ "ppc64le", "ppc64le", "" }, { "s390x", "s390x", "" },
			{ "riscv64", "riscv64", "" },
		};
		struct utsname u;

		snprintf(img->os, sizeof(img->os), "linux");
		if (uname(&u) < 0)
			return -errno;
		snprintf(img->arch, sizeof(img->arch), "%.31s", u.machine);
		for (size_t i = 0; i < ELEMENTSOF(map); i++)
			if (strcmp(u.machine, map[i].machine) == 0) {
				snprintf(img->arch, sizeof(img->arch), "%s", map[i].arch);
				snprintf(img->variant, sizeof(img->variant), "%s", map[i].variant);
			}
		return 0;
	}
	if (snprintf(buf, sizeof(buf), "%s", platform) >= (int)sizeof(buf))
		return -EINVAL;
	arch = strchr(buf, '/');
	if (!arch || arch == buf || !arch[1])
		return -EINVAL;
	*arch++ = '\0';
	variant = strchr(arch, '/');
	if (variant)
		*variant++ = '\0';
	if (strlen(buf) >= sizeof(img->os) || strlen(arch) >= sizeof(img->arch) ||
	    (variant && (strlen(variant) >= sizeof(img->variant) || strchr(variant, '/'))))
		return -EINVAL;
	strcpy(img->os, buf);
	strcpy(img->arch, arch);
	if (variant)
		strcpy(img->variant, variant);
	return 0;
}

int thinsnap_unpack_image_open(const char *source, const char *platform, const char *ref,
			       struct thinsnap_unpack_image **ret, struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_unpack_image_freep) struct thinsnap_unpack_image *img = NULL;
	struct stat st;
	int fd, r;

	if (!source || !ret)
		return thinsnap_error_setf(reterr, -EINVAL, "no image source");
	r = thinsnap_unpack_libs_load(reterr);
	if (r < 0)
		return r;
	img = calloc(1, sizeof(*img));
	if (!img)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	img->dir_fd = img->tar_fd = img->rd.fd = -EBADF;
	if (parse_platform(img, platform) < 0)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "bad platform '%s' (want os/arch[/variant])", platform);
	fd = open(source, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return thinsnap_error_setf(reterr, -errno, "'%s': %s", source, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = -errno;
		(void)close(fd);
		return thinsnap_error_setf(reterr, r, "'%s': %s", source, strerror(-r));
	}
	if (S_ISDIR(st.st_mode)) {
		img->dir_fd = fd;
	} else if (S_ISREG(st.st_mode)) {
		img->tar_fd = fd;
		r = index_tar(img, reterr);
		if (r < 0)
			return r;
	} else {
		(void)close(fd);
		return thinsnap_error_setf(reterr, -EINVAL, "'%s': not a directory or a tar",
					   source);
	}
	{
		int64_t off, size;
		bool own;
		int ifd;

		r = open_file(img, "index.json", &ifd, &own, &off, &size);
		if (r == 0 && own)
			(void)close(ifd);
	}
	if (r == 0)
		r = open_oci(img, ref, reterr);
	else if (r == -ENOENT)
		r = open_docker(img, ref, reterr);
	else
		r = thinsnap_error_setf(reterr, r, "'%s': index.json: %s", source, strerror(-r));
	if (r < 0)
		return r;
	*ret = TAKE_PTR(img);
	return 0;
}

size_t thinsnap_unpack_image_n_layers(const struct thinsnap_unpack_image *img)
{
	return img ? img->n_layers : 0;
}

int thinsnap_unpack_image_layer(const struct thinsnap_unpack_image *img, size_t i,
				struct thinsnap_unpack_layer *ret)
{
	const struct layer_rec *l;

	if (!img || !ret)
		return -EINVAL;
	if (i >= img->n_layers)
		return -ERANGE;
	l = &img->layers[i];
	*ret = (struct thinsnap_unpack_layer){
		.media_type = l->media_type,
		.digest = l->digest,
		.diff_id = l->diff_id,
		.chain_id = l->chain_id,
		.size_bytes = l->size,
	};
	return 0;
}

static int reader_read(void *userdata, void *buf, size_t len, size_t *ret_len)
{
	struct blob_reader *rd = userdata;
	ssize_t n;

	if (rd->left >= 0 && (int64_t)len > rd->left)
		len = (size_t)rd->left;
	if (len == 0) {
		*ret_len = 0;
		return 0;
	}
	do
		n = pread(rd->fd, buf, len, rd->off);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0 && rd->left > 0)
		return -EIO; /* the archive shrank under us */
	rd->off += n;
	if (rd->left >= 0)
		rd->left -= n;
	*ret_len = (size_t)n;
	return 0;
}

int thinsnap_unpack_image_open_layer(struct thinsnap_unpack_image *img, size_t i,
				     thinsnap_unpack_read_fn *ret_read, void **ret_userdata,
				     struct thinsnap_error *reterr)
{
	const struct layer_rec *l;
	char path[PATH_MAX];
	int64_t off, size;
	bool own;
	int fd, r;

	if (!img || !ret_read || !ret_userdata)
		return thinsnap_error_setf(reterr, -EINVAL, "no image");
	if (i >= img->n_layers)
		return thinsnap_error_setf(reterr, -ERANGE, "no layer %zu", i);
	l = &img->layers[i];
	if (l->path)
		(void)snprintf(path, sizeof(path), "%s", l->path);
	else
		(void)blob_path(l->digest, path, sizeof(path));
	r = open_file(img, path, &fd, &own, &off, &size);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "image: layer %zu: '%s': %s", i, path,
					   strerror(-r));
	if (img->rd.own_fd && img->rd.fd >= 0)
		(void)close(img->rd.fd);
	img->rd = (struct blob_reader){ .fd = fd, .own_fd = own, .off = off, .left = size };
	(void)posix_fadvise(fd, off, size, POSIX_FADV_SEQUENTIAL);
	*ret_read = reader_read;
	*ret_userdata = &img->rd;
	return 0;
}

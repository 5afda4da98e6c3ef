/*
 * push and pull: snapshot streams through an OCI registry (the distribution API), as an
 * artifact: a config blob naming the ids, the stream cut into blobs addressed by sha256, and
 * a manifest; an incremental stream's manifest names its base's. libcurl is loaded only by
 * these verbs (dlopen), so the other verbs start without it. Plain HTTP for 127.0.0.1 and
 * localhost registries, https otherwise.
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <thinsnap/stream.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "cli/cli.h"

DEFINE_CLEANUP(struct thinsnap_snapshotter *, thinsnap_free)
DEFINE_CLEANUP(struct thinsnap_info *, thinsnap_info_free)

#define BLOB_MAX       (8u << 20) /* the stream is cut into blobs of this size */
#define MANIFEST_TYPE  "application/vnd.oci.image.manifest.v1+json"
#define CONFIG_TYPE    "application/vnd.thinsnap.stream.config.v1+json"
#define CHUNK_TYPE     "application/vnd.thinsnap.stream.chunk.v1"
#define ANN_ID         "org.thinsnap.stream.id"
#define ANN_BASE_ID    "org.thinsnap.stream.base-id"
#define ANN_BASE       "org.thinsnap.stream.base-manifest"
#define RESPONSE_MAX   ((size_t)BLOB_MAX + (1u << 20))
#define PULL_DEPTH_MAX 64

/* The few libcurl calls, resolved at run time. */
struct curl_api {
	void *lib;
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	void (*easy_reset)(CURL *);
	void (*easy_cleanup)(CURL *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	const char *(*easy_strerror)(CURLcode);
	/* and libcrypto's sha256, also opened on first use */
	void *crypto;
	int (*digest)(const void *, size_t, unsigned char *, unsigned int *, const EVP_MD *,
		      ENGINE *);
	const EVP_MD *(*sha256)(void);
};

struct registry {
	const struct thinsnap_cli *c;
	struct curl_api api;
	CURL *h;
	char base_url[640]; /* scheme://host[:port]/v2/<repo> */
	char host[256];
	char repo[256];
	char tag[160]; /* or a digest */
	uint64_t blobs_fetched, bytes_fetched, blobs_pushed, blobs_present;
};

/* Reports a failure (one line) and returns err. */
__attribute__((format(printf, 3, 4))) static int rfail(struct registry *g, int err, const char *fmt,
						       ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)thinsnap_cli_fail(g->c, NULL, "%s", msg);
	return err;
}

static int load_curl(struct curl_api *a)
{
	static const char *const names[] = { "libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so" };

	for (size_t i = 0; !a->lib && i < ELEMENTSOF(names); i++)
		a->lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
	if (!a->lib)
		return -ENOENT;
#define SYM(f, n) (*(void **)&a->f = dlsym(a->lib, n))
	if (!SYM(easy_init, "curl_easy_init") || !SYM(easy_setopt, "curl_easy_setopt") ||
	    !SYM(easy_perform, "curl_easy_perform") || !SYM(easy_getinfo, "curl_easy_getinfo") ||
	    !SYM(easy_reset, "curl_easy_reset") || !SYM(easy_cleanup, "curl_easy_cleanup") ||
	    !SYM(slist_append, "curl_slist_append") ||
	    !SYM(slist_free_all, "curl_slist_free_all") ||
	    !SYM(easy_strerror, "curl_easy_strerror"))
		return -ENOENT;
	static const char *const crypto[] = { "libcrypto.so.3", "libcrypto.so" };
	for (size_t i = 0; !a->crypto && i < ELEMENTSOF(crypto); i++)
		a->crypto = dlopen(crypto[i], RTLD_NOW | RTLD_LOCAL);
	if (!a->crypto || !(*(void **)&a->digest = dlsym(a->crypto, "EVP_Digest")) ||
	    !(*(void **)&a->sha256 = dlsym(a->crypto, "EVP_sha256")))
		return -ENOENT;
#undef SYM
	return 0;
}

static void registry_clear(struct registry *g)
{
	if (g->h)
		g->api.easy_cleanup(g->h);
	if (g->api.lib)
		dlclose(g->api.lib);
	if (g->api.crypto)
		dlclose(g->api.crypto);
}

/* REF: host[:port]/repo[:tag|@digest]. */
static int registry_init(struct registry *g, const struct thinsnap_cli *c, const char *ref)
{
	const char *slash = strchr(ref, '/'), *at, *colon;
	bool plain;

	*g = (struct registry){ .c = c };
	if (!slash || slash == ref)
		return thinsnap_cli_usage_error(c,
						"'%s' is not a registry reference "
						"(HOST[:PORT]/REPOSITORY[:TAG])",
						ref);
	snprintf(g->host, sizeof(g->host), "%.*s", (int)(slash - ref), ref);
	at = strchr(slash, '@');
	colon = strrchr(slash, ':');
	if (at) {
		snprintf(g->repo, sizeof(g->repo), "%.*s", (int)(at - slash - 1), slash + 1);
		snprintf(g->tag, sizeof(g->tag), "%s", at + 1);
	} else if (colon) {
		snprintf(g->repo, sizeof(g->repo), "%.*s", (int)(colon - slash - 1), slash + 1);
		snprintf(g->tag, sizeof(g->tag), "%s", colon + 1);
	} else {
		snprintf(g->repo, sizeof(g->repo), "%s", slash + 1);
		snprintf(g->tag, sizeof(g->tag), "latest");
	}
	if (!*g->repo || !*g->tag)
		return thinsnap_cli_usage_error(c, "'%s': empty repository or tag", ref);
	plain = strncmp(g->host, "127.0.0.1", 9) == 0 || strncmp(g->host, "localhost", 9) == 0 ||
		strncmp(g->host, "[::1]", 5) == 0;
	snprintf(g->base_url, sizeof(g->base_url), "%s://%s/v2/%s", plain ? "http" : "https",
		 g->host, g->repo);
	if (load_curl(&g->api) < 0)
		return thinsnap_cli_fail(c, NULL,
					 "cannot load libcurl and libcrypto (install "
					 "libcurl4 and libssl3)");
	g->h = g->api.easy_init();
	if (!g->h)
		return thinsnap_cli_fail(c, NULL, "libcurl: cannot make a handle");
	return 0;
}

struct response {
	struct thinsnap_buf body;
	bool too_large;
	char location[1024];
	char digest[128];
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
	struct response *r = userdata;

	if (r->body.len + n > RESPONSE_MAX) {
		r->too_large = true;
		return 0;
	}
	return thinsnap_buf_append(&r->body, p, n) == 0 ? n * size : 0;
}

static void header_value(const char *p, size_t n, const char *name, char *out, size_t size)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(p, name, k) != 0)
		return;
	p += k;
	n -= k;
	while (n && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' '))
		n--;
	snprintf(out, size, "%.*s", (int)n, p);
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
	struct response *r = userdata;

	header_value(p, n, "location:", r->location, sizeof(r->location));
	header_value(p, n, "docker-content-digest:", r->digest, sizeof(r->digest));
	return n * size;
}

/*
 * One request: method on url (a path below base_url when it starts with '/', else whole),
 * with body (NULL: none) of content_type. *ret_status: the HTTP status; resp (NULL allowed).
 */
static int request(struct registry *g, const char *method, const char *url, const char *accept,
		   const void *body, size_t len, const char *content_type, long *ret_status,
		   struct response *resp)
{
	struct response scratch = { 0 };
	struct response *rs = resp ? resp : &scratch;
	struct curl_slist *hdrs = NULL;
	char full[2048], line[256];
	CURLcode cc;

	if (url[0] == '/')
		snprintf(full, sizeof(full), "%s%s", g->base_url, url);
	else
		snprintf(full, sizeof(full), "%s", url);
	g->api.easy_reset(g->h);
	g->api.easy_setopt(g->h, CURLOPT_URL, full);
	g->api.easy_setopt(g->h, CURLOPT_CUSTOMREQUEST, method);
	g->api.easy_setopt(g->h, CURLOPT_FOLLOWLOCATION, 1L); /* blob GETs may redirect */
	g->api.easy_setopt(g->h, CURLOPT_WRITEFUNCTION, on_body);
	g->api.easy_setopt(g->h, CURLOPT_WRITEDATA, rs);
	g->api.easy_setopt(g->h, CURLOPT_HEADERFUNCTION, on_header);
	g->api.easy_setopt(g->h, CURLOPT_HEADERDATA, rs);
	if (strcmp(method, "HEAD") == 0)
		g->api.easy_setopt(g->h, CURLOPT_NOBODY, 1L);
	if (accept) {
		snprintf(line, sizeof(line), "Accept: %s", accept);
		hdrs = g->api.slist_append(hdrs, line);
	}
	if (body) {
		snprintf(line, sizeof(line), "Content-Type: %s", content_type);
		hdrs = g->api.slist_append(hdrs, line);
		g->api.easy_setopt(g->h, CURLOPT_POSTFIELDS, body);
		g->api.easy_setopt(g->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	} else if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0) {
		g->api.easy_setopt(g->h, CURLOPT_POSTFIELDS, "");
		g->api.easy_setopt(g->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	if (hdrs)
		g->api.easy_setopt(g->h, CURLOPT_HTTPHEADER, hdrs);
	cc = g->api.easy_perform(g->h);
	g->api.slist_free_all(hdrs);
	if (cc == CURLE_OK)
		g->api.easy_getinfo(g->h, CURLINFO_RESPONSE_CODE, ret_status);
	thinsnap_buf_free(&scratch.body);
	if (cc != CURLE_OK) {
		thinsnap_cli_fail(g->c, NULL, "%s %s: %s", method, full,
				  rs->too_large ? "response too large" : g->api.easy_strerror(cc));
		return -EIO;
	}
	return 0;
}

static void sha256_hex(const struct registry *g, const void *p, size_t n, char out[72])
{
	unsigned char md[32] = { 0 };
	unsigned int k = 0;

	(void)g->api.digest(p, n, md, &k, g->api.sha256(), NULL);
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
}

/* Uploads blob p[0..n) unless the registry has it; *digest gets its digest. */
static int push_blob(struct registry *g, const void *p, size_t n, char digest[72])
{
	struct response r = { 0 };
	char path[256], url[1400];
	long st = 0;
	int k;

	sha256_hex(g, p, n, digest);
	snprintf(path, sizeof(path), "/blobs/%s", digest);
	if ((k = request(g, "HEAD", path, NULL, NULL, 0, NULL, &st, NULL)) < 0)
		return k;
	if (st == 200) {
		g->blobs_present++;
		return 0;
	}
	k = request(g, "POST", "/blobs/uploads/", NULL, NULL, 0, NULL, &st, &r);
	thinsnap_buf_free(&r.body);
	if (k < 0)
		return k;
	if (st != 202 || !*r.location)
		return rfail(g, -EIO, "registry %s: starting an upload: HTTP %ld", g->host, st);
	if (r.location[0] == '/')
		snprintf(url, sizeof(url), "%s://%s%s%sdigest=%s",
			 strncmp(g->base_url, "https", 5) ? "http" : "https", g->host, r.location,
			 strchr(r.location, '?') ? "&" : "?", digest);
	else
		snprintf(url, sizeof(url), "%s%sdigest=%s", r.location,
			 strchr(r.location, '?') ? "&" : "?", digest);
	if ((k = request(g, "PUT", url, NULL, p, n, "application/octet-stream", &st, NULL)) < 0)
		return k;
	if (st != 201)
		return rfail(g, -EIO, "registry %s: uploading %s: HTTP %ld", g->host, digest, st);
	g->blobs_pushed++;
	return 0;
}

/* GETs a manifest (by tag or digest): *ret its JSON, ret_digest its digest. -ENOENT: none. */
static int get_manifest(struct registry *g, const char *ref, json_t **ret, char ret_digest[72])
{
	struct response r = { 0 };
	char path[256];
	json_error_t je;
	long st = 0;
	int k;

	snprintf(path, sizeof(path), "/manifests/%s", ref);
	k = request(g, "GET", path, MANIFEST_TYPE, NULL, 0, NULL, &st, &r);
	if (k == 0 && st == 404)
		k = -ENOENT;
	else if (k == 0 && st != 200)
		k = rfail(g, -EIO, "registry %s: manifest %s: HTTP %ld", g->host, ref, st);
	if (k == 0) {
		sha256_hex(g, r.body.p, r.body.len, ret_digest);
		*ret = json_loadb((const char *)r.body.p, r.body.len, 0, &je);
		if (!*ret)
			k = rfail(g, -EBADMSG, "registry %s: manifest %s: %s", g->host, ref,
				  je.text);
	}
	thinsnap_buf_free(&r.body);
	return k;
}

/* GETs blob digest of size bytes, verified, and appends it to fd. */
static int fetch_blob(struct registry *g, const char *digest, json_int_t size, int fd)
{
	struct response r = { 0 };
	char path[256], got[72];
	long st = 0;
	int k;

	snprintf(path, sizeof(path), "/blobs/%s", digest);
	k = request(g, "GET", path, NULL, NULL, 0, NULL, &st, &r);
	if (k == 0 && st != 200)
		k = rfail(g, -EIO, "registry %s: blob %s: HTTP %ld", g->host, digest, st);
	if (k == 0) {
		sha256_hex(g, r.body.p, r.body.len, got);
		if (strcmp(got, digest) != 0 || (json_int_t)r.body.len != size)
			k = rfail(g, -EBADMSG,
				  "registry %s: blob %s: its content does not match "
				  "its digest",
				  g->host, digest);
	}
	if (k == 0) {
		g->blobs_fetched++;
		g->bytes_fetched += r.body.len;
		if (fd >= 0 && write(fd, r.body.p, r.body.len) != (ssize_t)r.body.len)
			k = rfail(g, -EIO, "writing a temporary file: %m");
	}
	thinsnap_buf_free(&r.body);
	return k;
}

static int put_manifest(struct registry *g, const char *ref, const char *text)
{
	char path[256];
	long st = 0;
	int k;

	snprintf(path, sizeof(path), "/manifests/%s", ref);
	k = request(g, "PUT", path, NULL, text, strlen(text), MANIFEST_TYPE, &st, NULL);
	if (k == 0 && st != 201)
		k = rfail(g, -EIO, "registry %s: putting manifest %s: HTTP %ld", g->host, ref, st);
	return k;
}

/* An unnamed temporary file (O_TMPFILE, or a name removed at once where that is missing). */
static int tmpfile_fd(const struct thinsnap_cli *c)
{
	const char *env = getenv("TMPDIR");
	const char *dir = env && *env ? env : "/var/tmp";
	char path[4096];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR) &&
	    snprintf(path, sizeof(path), "%s/thinsnap-stream.XXXXXX", dir) < (int)sizeof(path)) {
		fd = mkostemp(path, O_CLOEXEC);
		if (fd >= 0)
			(void)unlink(path);
	}
	if (fd < 0)
		thinsnap_cli_fail(c, NULL, "cannot make a temporary file in '%s': %m", dir);
	return fd;
}

static int stat_id(const struct thinsnap_cli *c, struct thinsnap_snapshotter *s, const char *name,
		   char id[THINSNAP_ID_LEN + 1])
{
	CLEANUP(thinsnap_info_freep) struct thinsnap_info *info = NULL;
	struct thinsnap_error e = { 0 };
	int r = thinsnap_stat(s, name, &info, &e);

	if (r < 0)
		return thinsnap_cli_fail_err(c, name, r, &e);
	memcpy(id, info->id, THINSNAP_ID_LEN + 1);
	return 0;
}

int thinsnap_cli_push(struct thinsnap_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "incremental", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	CLEANUP_CLOSE int fd = -EBADF;
	CLEANUP(json_decrefp) json_t *layers = NULL, *man = NULL, *cfg = NULL, *base_man = NULL;
	CLEANUP_FREE char *cfg_text = NULL, *man_text = NULL;
	CLEANUP_FREE uint8_t *buf = NULL;
	struct thinsnap_send_opts so = THINSNAP_SEND_OPTS_INIT;
	struct registry g;
	char id[THINSNAP_ID_LEN + 1],
		base_id[THINSNAP_ID_LEN + 1] = "", digest[72], base_digest[72] = "", cfg_digest[72],
					  tag[64];
	off_t size;
	int opt, r;

	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":i:", opts, NULL)) != -1) {
		if (opt != 'i')
			return thinsnap_cli_bad_option(c, argv, opt);
		so.base = optarg;
	}
	if (argc - optind != 2)
		return thinsnap_cli_usage_error(c, "want NAME REF");
	const char *name = argv[optind], *ref = argv[optind + 1];
	r = registry_init(&g, c, ref);
	if (r) {
		registry_clear(&g);
		return r;
	}
	fd = tmpfile_fd(c);
	r = fd < 0 ? 1 : thinsnap_cli_open(c, name, true, &s);
	if (r == 0)
		r = stat_id(c, s, name, id);
	if (r == 0 && so.base)
		r = stat_id(c, s, so.base, base_id);
	thinsnap_free(TAKE_PTR(s));
	if (r == 0)
		r = thinsnap_cli_stream_run(c, false, name, so.base, fd, NULL);
	if (r == 0 && so.base) { /* the base's manifest, pushed before under its id */
		snprintf(tag, sizeof(tag), "thinsnap-%s", base_id);
		int k = get_manifest(&g, tag, &base_man, base_digest);
		if (k == -ENOENT)
			r = thinsnap_cli_fail(c, name, "base '%s' is not in %s/%s: push it first",
					      so.base, g.host, g.repo);
		else if (k < 0)
			r = 1;
	}
	size = r == 0 ? lseek(fd, 0, SEEK_END) : 0;
	buf = malloc(BLOB_MAX);
	layers = json_array();
	if (r == 0 && (!buf || !layers || size < 0))
		r = thinsnap_cli_fail(c, name, "out of memory");
	for (off_t off = 0; r == 0 && off < size; off += BLOB_MAX) {
		size_t n = size - off < BLOB_MAX ? (size_t)(size - off) : BLOB_MAX;
		if (pread(fd, buf, n, off) != (ssize_t)n)
			r = thinsnap_cli_fail(c, name, "reading the stream back: %m");
		else if (push_blob(&g, buf, n, digest) < 0)
			r = 1;
		else if (json_array_append_new(layers,
					       json_pack("{s:s, s:s, s:I}", "mediaType", CHUNK_TYPE,
							 "digest", digest, "size", (json_int_t)n)))
			r = thinsnap_cli_fail(c, name, "out of memory");
	}
	if (r == 0) {
		cfg = json_pack("{s:s, s:s, s:s, s:s, s:I}", "name", name, "id", id, "base_id",
				base_id, "base_name", so.base ? so.base : "", "stream_bytes",
				(json_int_t)size);
		cfg_text = cfg ? json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		if (!cfg_text)
			r = thinsnap_cli_fail(c, name, "out of memory");
	}
	if (r == 0 && push_blob(&g, cfg_text, strlen(cfg_text), cfg_digest) < 0)
		r = 1;
	if (r == 0) {
		json_t *ann = json_pack("{s:s}", ANN_ID, id);
		if (ann && *base_id &&
		    (json_object_set_new(ann, ANN_BASE_ID, json_string(base_id)) ||
		     json_object_set_new(ann, ANN_BASE, json_string(base_digest))))
			json_decref(TAKE_PTR(ann));
		man = ann ? json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:O, s:o}", "schemaVersion", 2,
				      "mediaType", MANIFEST_TYPE, "config", "mediaType",
				      CONFIG_TYPE, "digest", cfg_digest, "size",
				      (json_int_t)strlen(cfg_text), "layers", layers, "annotations",
				      ann)
			  : NULL;
		man_text = man ? json_dumps(man, JSON_COMPACT) : NULL;
		if (!man_text)
			r = thinsnap_cli_fail(c, name, "out of memory");
	}
	snprintf(tag, sizeof(tag), "thinsnap-%s", id);
	if (r == 0 &&
	    (put_manifest(&g, g.tag, man_text) < 0 || put_manifest(&g, tag, man_text) < 0))
		r = 1;
	if (r == 0) {
		sha256_hex(&g, man_text, strlen(man_text), digest);
		printf("%s\n", digest);
		if (!c->quiet)
			fprintf(stderr,
				"push: %" PRIu64 " blobs uploaded, %" PRIu64
				" already there; stream %lld bytes\n",
				g.blobs_pushed, g.blobs_present, (long long)size);
	}
	registry_clear(&g);
	return r;
}

struct find_id {
	const char *id;
	char *name;
};

static int find_id_fn(void *userdata, const struct thinsnap_info *info)
{
	struct find_id *f = userdata;

	if (f->name || info->kind != THINSNAP_KIND_COMMITTED || strcmp(info->id, f->id) != 0)
		return 0;
	f->name = strdup(info->name);
	return f->name ? 1 : -ENOMEM;
}

/* Pulls the stream of manifest ref as NAME, first its base when that is not here. */
static int pull_one(struct registry *g, struct thinsnap_snapshotter *s, const char *ref,
		    const char *name, int depth)
{
	CLEANUP(json_decrefp) json_t *man = NULL, *cfg = NULL;
	CLEANUP_FREE char *parent = NULL;
	CLEANUP_CLOSE int fd = -EBADF;
	struct thinsnap_error e = { 0 };
	const char *base_id = NULL, *base_ref = NULL, *id = NULL, *cfg_digest = NULL;
	char digest[72];
	json_t *layers, *l;
	json_int_t cfg_size = 0;
	size_t i;
	int r;

	if (depth > PULL_DEPTH_MAX)
		return thinsnap_cli_fail(g->c, name, "more than %d bases", PULL_DEPTH_MAX);
	r = get_manifest(g, ref, &man, digest);
	if (r == -ENOENT)
		return thinsnap_cli_fail(g->c, name, "%s/%s:%s not found", g->host, g->repo, ref);
	if (r < 0)
		return 1;
	if (json_unpack(man, "{s:{s:s, s:I}, s:o, s:{s:s, s?s, s?s}}", "config", "digest",
			&cfg_digest, "size", &cfg_size, "layers", &layers, "annotations", ANN_ID,
			&id, ANN_BASE_ID, &base_id, ANN_BASE, &base_ref) < 0 ||
	    !json_is_array(layers))
		return thinsnap_cli_fail(g->c, name, "%s/%s:%s is not a thinsnap stream", g->host,
					 g->repo, ref);
	if (base_id && *base_id) {
		struct find_id f = { .id = base_id };
		r = thinsnap_walk(s, NULL, 0, find_id_fn, &f, &e);
		if (r < 0)
			return thinsnap_cli_fail_err(g->c, name, r, &e);
		parent = f.name;
		if (!parent) { /* not here: pull the base first, under its name there */
			CLEANUP_FREE char *base_name = NULL;
			if (!base_ref)
				return thinsnap_cli_fail(g->c, name,
							 "the stream's base is unknown");
			fd = tmpfile_fd(g->c);
			if (fd < 0)
				return 1;
			r = fetch_blob(g, cfg_digest, cfg_size, fd);
			if (r < 0)
				return 1;
			/* the config names the base as it was called on the sender */
			CLEANUP_FREE char *text = malloc((size_t)cfg_size + 1);
			if (!text || pread(fd, text, (size_t)cfg_size, 0) != (ssize_t)cfg_size)
				return thinsnap_cli_fail(g->c, name, "reading the config back");
			text[cfg_size] = '\0';
			cfg = json_loads(text, 0, NULL);
			const char *bn = NULL;
			if (!cfg || json_unpack(cfg, "{s:s}", "base_name", &bn) < 0 || !*bn)
				return thinsnap_cli_fail(g->c, name, "the stream's config is bad");
			base_name = strdup(bn);
			if (!base_name)
				return thinsnap_cli_fail(g->c, name, "out of memory");
			(void)close(TAKE_FD(fd));
			r = pull_one(g, s, base_ref, base_name, depth + 1);
			if (r)
				return r;
			parent = TAKE_PTR(base_name);
		}
	}
	fd = tmpfile_fd(g->c);
	if (fd < 0)
		return 1;
	json_array_foreach(layers, i, l)
	{
		const char *d = NULL;
		json_int_t sz = 0;
		if (json_unpack(l, "{s:s, s:I}", "digest", &d, "size", &sz) < 0 || sz < 0 ||
		    sz > BLOB_MAX)
			return thinsnap_cli_fail(g->c, name, "a bad layer in %s", ref);
		if (fetch_blob(g, d, sz, fd) < 0)
			return 1;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return thinsnap_cli_fail(g->c, name, "rewinding the stream: %m");
	return thinsnap_cli_stream_run((struct thinsnap_cli *)g->c, true, name, parent, fd, NULL);
}

int thinsnap_cli_pull(struct thinsnap_cli *c, int argc, char **argv)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	struct registry g;
	int opt, r;

	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":", (const struct option[]){ { NULL, 0, NULL, 0 } },
				  NULL)) != -1)
		return thinsnap_cli_bad_option(c, argv, opt);
	if (argc - optind != 2)
		return thinsnap_cli_usage_error(c, "want REF NAME");
	const char *ref = argv[optind], *name = argv[optind + 1];
	r = registry_init(&g, c, ref);
	if (r == 0)
		r = thinsnap_cli_open(c, name, true, &s);
	if (r == 0)
		r = pull_one(&g, s, g.tag, name, 0);
	if (r == 0 && !c->quiet)
		fprintf(stderr, "pull: %" PRIu64 " blobs fetched, %" PRIu64 " bytes\n",
			g.blobs_fetched, g.bytes_fetched);
	registry_clear(&g);
	return r;
}

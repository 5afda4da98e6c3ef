/*
 * unpack/: sha256 digests through libcrypto's EVP interface, digest string checks, chain IDs
 * (OCI image spec, config.md "Layer ChainID"), and the string set the applier uses.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "unpack/libs.h"
#include "unpack/unpack.h"

struct evp_md_ctx_st *thinsnap_unpack_sha256_new(void)
{
	EVP_MD_CTX *ctx;

	if (thinsnap_unpack_libs_load(NULL) < 0)
		return NULL;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return NULL;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void thinsnap_unpack_sha256_free(struct evp_md_ctx_st *ctx)
{
	EVP_MD_CTX_free(ctx);
}

void thinsnap_unpack_sha256_update(struct evp_md_ctx_st *ctx, const void *buf, size_t len)
{
	if (len > 0)
		(void)EVP_DigestUpdate(ctx, buf, len);
}

void thinsnap_unpack_sha256_final(struct evp_md_ctx_st *ctx, char out[THINSNAP_UNPACK_DIGEST_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	(void)EVP_DigestFinal_ex(ctx, md, &n);
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[71] = '\0';
}

int thinsnap_unpack_sha256(const void *buf, size_t len, char out[THINSNAP_UNPACK_DIGEST_LEN])
{
	EVP_MD_CTX *ctx = thinsnap_unpack_sha256_new();

	if (!ctx)
		return -ENOMEM;
	thinsnap_unpack_sha256_update(ctx, buf, len);
	thinsnap_unpack_sha256_final(ctx, out);
	thinsnap_unpack_sha256_free(ctx);
	return 0;
}

bool thinsnap_unpack_digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 71)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

int thinsnap_unpack_chain_id(const char *parent, const char *diff_id,
			     char ret[THINSNAP_UNPACK_DIGEST_LEN], struct thinsnap_error *reterr)
{
	char buf[2 * THINSNAP_UNPACK_DIGEST_LEN];
	int r;

	if (!thinsnap_unpack_digest_valid(diff_id))
		return thinsnap_error_setf(reterr, -EINVAL, "bad diff id '%s'",
					   diff_id ? diff_id : "(null)");
	if (!parent) {
		memcpy(ret, diff_id, THINSNAP_UNPACK_DIGEST_LEN);
		return 0;
	}
	if (!thinsnap_unpack_digest_valid(parent))
		return thinsnap_error_setf(reterr, -EINVAL, "bad chain id '%s'", parent);
	r = thinsnap_unpack_libs_load(reterr);
	if (r < 0)
		return r;
	(void)snprintf(buf, sizeof(buf), "%s %s", parent, diff_id);
	r = thinsnap_unpack_sha256(buf, strlen(buf), ret);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	return 0;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static size_t find_slot(char **slots, size_t cap, const char *s)
{
	size_t i = hash_str(s) & (cap - 1);

	while (slots[i] && strcmp(slots[i], s) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

bool thinsnap_unpack_strset_has(const struct thinsnap_unpack_strset *set, const char *s)
{
	if (set->cap == 0)
		return false;
	return set->slots[find_slot(set->slots, set->cap, s)] != NULL;
}

int thinsnap_unpack_strset_add(struct thinsnap_unpack_strset *set, const char *s)
{
	size_t i;

	if (thinsnap_unpack_strset_has(set, s))
		return 0;
	if (2 * (set->n + 1) > set->cap) {
		size_t cap = set->cap ? 2 * set->cap : 64;
		char **slots = calloc(cap, sizeof(*slots));

		if (!slots)
			return -ENOMEM;
		for (size_t k = 0; k < set->cap; k++)
			if (set->slots[k])
				slots[find_slot(slots, cap, set->slots[k])] = set->slots[k];
		free(set->slots);
		set->slots = slots;
		set->cap = cap;
	}
	i = find_slot(set->slots, set->cap, s);
	set->slots[i] = strdup(s);
	if (!set->slots[i])
		return -ENOMEM;
	set->n++;
	return 0;
}

void thinsnap_unpack_strset_clear(struct thinsnap_unpack_strset *set)
{
	for (size_t k = 0; k < set->cap; k++)
		free(set->slots[k]);
	free(set->slots);
	set->slots = NULL;
	set->n = set->cap = 0;
}

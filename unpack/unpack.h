/*
 * unpack/'s contract with itself: sha256 digests as "sha256:<hex>" strings, a set of strings
 * (the paths a layer created, which its own whiteouts must not remove), and the private
 * mount namespace its mounts live in.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <thinsnap/unpack.h>

struct evp_md_ctx_st;

/* A new sha256 context, NULL when out of memory. */
struct evp_md_ctx_st *thinsnap_unpack_sha256_new(void);
void thinsnap_unpack_sha256_free(struct evp_md_ctx_st *ctx);
void thinsnap_unpack_sha256_update(struct evp_md_ctx_st *ctx, const void *buf, size_t len);
/* Writes "sha256:<64 hex>"; the context cannot be updated afterwards. */
void thinsnap_unpack_sha256_final(struct evp_md_ctx_st *ctx, char out[THINSNAP_UNPACK_DIGEST_LEN]);
/* sha256 of buf in one go; -ENOMEM. */
int thinsnap_unpack_sha256(const void *buf, size_t len, char out[THINSNAP_UNPACK_DIGEST_LEN]);
/* Whether s is "sha256:" and 64 lowercase hex digits. */
bool thinsnap_unpack_digest_valid(const char *s);

struct thinsnap_unpack_strset {
	char **slots;
	size_t n, cap; /* cap is 0 or a power of two */
};

/* Adds a copy of s; 0 (also when present) or -ENOMEM. */
int thinsnap_unpack_strset_add(struct thinsnap_unpack_strset *set, const char *s);
bool thinsnap_unpack_strset_has(const struct thinsnap_unpack_strset *set, const char *s);
void thinsnap_unpack_strset_clear(struct thinsnap_unpack_strset *set);

/*
 * Moves the calling thread into a new mount namespace whose mounts are all private
 * (unshare(CLONE_NEWNS), then / MS_REC|MS_PRIVATE): what it mounts from then on is seen by
 * no other process and goes away with the process, even when it is killed. The thread stays
 * there. Fails (the errno and a message naming the step) without CAP_SYS_ADMIN, under a
 * seccomp filter that refuses unshare, or where / is not a mount point (a chroot).
 */
int thinsnap_unpack_private_mounts(struct thinsnap_error *reterr);

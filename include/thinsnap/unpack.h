/*
 * Importing container image layers onto thin snapshots (`thinsnap unpack`): the OCI layer
 * applier (a tar, tar+gzip or tar+zstd stream applied beneath a root directory, whiteouts
 * and all), image sources (OCI layout directory, OCI or docker archive tar), chain IDs, and
 * the prepare / apply / commit loop on a snapshotter.
 *
 * Errors: -errno and *reterr as everywhere. A digest or diff ID that does not match what the
 * manifest or config says gives -EBADMSG; a malformed image or layer -EINVAL; a platform or
 * ref that the image lacks -ENOENT.
 * Threads: a struct thinsnap_unpack_image is used by one thread at a time. thinsnap_unpack()
 * changes the calling thread's mount namespace (see there).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <thinsnap/common.h>
#include <thinsnap/error.h>
#include <thinsnap/snapshotter.h>

#ifdef __cplusplus
extern "C" {
#endif

/* "sha256:" and 64 hex digits, NUL-terminated. */
#define THINSNAP_UNPACK_DIGEST_LEN 72

/*
 * Reads up to len bytes of the layer blob into buf: 0 and *ret_len = 0 at the end, -errno on
 * failure (the applier fails with it).
 */
typedef int (*thinsnap_unpack_read_fn)(void *userdata, void *buf, size_t len, size_t *ret_len);

struct thinsnap_unpack_stats {
	uint64_t entries;                         /* tar entries applied, whiteouts included */
	uint64_t whiteouts;                       /* .wh.<name> and opaque markers applied */
	uint64_t compressed_bytes;                /* bytes of the blob as read */
	uint64_t uncompressed_bytes;              /* bytes of the tar stream */
	char digest[THINSNAP_UNPACK_DIGEST_LEN];  /* sha256 of the blob as read */
	char diff_id[THINSNAP_UNPACK_DIGEST_LEN]; /* sha256 of the uncompressed tar stream */
};

/*
 * Applies one layer (tar, tar+gzip or tar+zstd, detected) beneath the directory root_fd as the
 * OCI image spec says: `.wh.<name>` removes name from lower layers, `.wh..wh..opq` empties its
 * directory of lower-layer entries; regular files (sparse too), directories, symlinks, hard
 * links, character and block devices, fifos; owners (numeric), modes, mtimes and xattrs.
 * Directory mtimes are set last. Every path is resolved beneath root_fd (openat2
 * RESOLVE_IN_ROOT): `..`, absolute names, symlinks and hard links never reach outside it.
 * The whole blob is read, so that *ret_stats (optional, written on success) has its digest and
 * diff ID; the caller compares them. On failure root_fd's tree is left half-applied: apply onto
 * a snapshot that is removed on failure. Needs root (CAP_CHOWN, CAP_MKNOD) for owners and
 * devices.
 */
THINSNAP_API int thinsnap_unpack_apply_layer(int root_fd, thinsnap_unpack_read_fn read,
					     void *userdata,
					     struct thinsnap_unpack_stats *ret_stats,
					     struct thinsnap_error *reterr);

/* The OCI chain ID of a layer: parent NULL gives diff_id, else sha256(parent + " " + diff_id). */
THINSNAP_API int thinsnap_unpack_chain_id(const char *parent, const char *diff_id,
					  char ret[THINSNAP_UNPACK_DIGEST_LEN],
					  struct thinsnap_error *reterr);

/* An image read from a source, its manifest resolved to one platform. */
struct thinsnap_unpack_image;

struct thinsnap_unpack_layer {
	const char *media_type; /* borrowed from the image */
	const char *digest;     /* the blob's digest; for docker archives, of the tar file */
	const char *diff_id;    /* from the config's rootfs.diff_ids */
	const char *chain_id;
	int64_t size_bytes; /* blob size, -1 when unknown */
};

/*
 * Opens SOURCE: an OCI image layout directory (oci-layout, index.json, blobs/), or a tar of
 * one (`skopeo copy ... oci-archive:`, `ctr images export`), or a `docker save` tar
 * (manifest.json). platform is "os/arch[/variant]", NULL for the host's; ref picks a manifest
 * by its org.opencontainers.image.ref.name annotation or docker RepoTag (NULL: the only one,
 * or the first matching the platform).
 */
THINSNAP_API int thinsnap_unpack_image_open(const char *source, const char *platform,
					    const char *ref, struct thinsnap_unpack_image **ret,
					    struct thinsnap_error *reterr);

/* Frees an image and everything it holds. NULL is fine. */
THINSNAP_API void thinsnap_unpack_image_free(struct thinsnap_unpack_image *img);

THINSNAP_API size_t thinsnap_unpack_image_n_layers(const struct thinsnap_unpack_image *img);

/* Layer i (0 = bottom); the strings are borrowed from img. -ERANGE past the end. */
THINSNAP_API int thinsnap_unpack_image_layer(const struct thinsnap_unpack_image *img, size_t i,
					     struct thinsnap_unpack_layer *ret);

/*
 * Streams layer i's blob through read(userdata, ...)-style calls: *ret_read and *ret_userdata
 * stay valid until the next call or thinsnap_unpack_image_free().
 */
THINSNAP_API int thinsnap_unpack_image_open_layer(struct thinsnap_unpack_image *img, size_t i,
						  thinsnap_unpack_read_fn *ret_read,
						  void **ret_userdata,
						  struct thinsnap_error *reterr);

/* What thinsnap_unpack() is given; start from THINSNAP_UNPACK_OPTIONS_INIT. */
struct thinsnap_unpack_options {
	unsigned int version;  /* THINSNAP_UNPACK_OPTIONS_VERSION */
	const char *mount_dir; /* where temporary mount points go; NULL = "/tmp" */
	/* Called as a layer's blob is read: done of total bytes (total -1 when unknown). */
	void (*progress)(void *userdata, size_t layer, size_t n_layers, uint64_t done_bytes,
			 int64_t total_bytes);
	/* Called once per layer after it is committed, or found present (skipped). */
	void (*layer_done)(void *userdata, size_t layer, size_t n_layers, const char *chain_id,
			   bool skipped);
	void *userdata;
};

#define THINSNAP_UNPACK_OPTIONS_VERSION 1
#define THINSNAP_UNPACK_OPTIONS_INIT    THINSNAP_VERSIONED_INIT(THINSNAP_UNPACK_OPTIONS_VERSION)

/*
 * Imports img's layers bottom up: a layer whose chain ID is already committed is skipped;
 * otherwise active snapshot "unpack-<pid>-<chain id>" is prepared on the previous chain ID,
 * mounted on a temporary directory, the layer applied, unmounted, its digest and diff ID
 * checked, and committed under the chain ID (label containerd.io/snapshot.ref). On any
 * failure the active snapshot is removed, so nothing is committed half-way. Stale
 * "unpack-<pid>-*" snapshots of processes that no longer exist are removed first.
 *
 * Mounts: before anything else, the calling thread is moved into a new mount namespace of
 * its own with every mount private (unshare(CLONE_NEWNS), then / MS_REC|MS_PRIVATE), and
 * it stays there afterwards (in a single-threaded program, the whole process). So the
 * temporary mounts are never seen by other processes, and a process killed mid-unpack
 * leaves no mount behind: only its active "unpack-<pid>-*" snapshot, which the next unpack
 * removes. The caller need not prepare anything. Where that namespace cannot be made
 * (no CAP_SYS_ADMIN: -EPERM; a seccomp filter refusing unshare; / not a mount point, as in
 * a chroot: -EINVAL), no snapshot is touched and the error names the failed step.
 * opts may be NULL (the defaults); opts->version 0 or unknown: -EINVAL, nothing touched.
 */
THINSNAP_API int thinsnap_unpack(struct thinsnap_snapshotter *s, struct thinsnap_unpack_image *img,
				 const struct thinsnap_unpack_options *opts,
				 struct thinsnap_error *reterr);

#ifdef __cplusplus
}
#endif

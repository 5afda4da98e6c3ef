/*
 * unpack/: importing an image's layers onto the snapshotter. Per layer: skip if its chain ID
 * is committed, else prepare "unpack-<pid>-<chain id>" on the previous chain ID, mount it on
 * a temporary directory, apply, sync, unmount, check digest and diff ID, commit as the chain
 * ID. Any failure removes the active snapshot, so a committed chain ID is always complete.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thinsnap/unpack.h>

#include "base/cleanup.h"
#include "base/mountopt.h"
#include "base/parse.h"
#include "base/version.h"
#include "unpack/unpack.h"

#define KEY_PREFIX "unpack-"

struct progress_src {
	thinsnap_unpack_read_fn read;
	void *userdata;
	const struct thinsnap_unpack_options *opts;
	size_t layer, n_layers;
	int64_t total;
	uint64_t done;
};

static int progress_read(void *userdata, void *buf, size_t len, size_t *ret_len)
{
	struct progress_src *p = userdata;
	int r = p->read(p->userdata, buf, len, ret_len);

	if (r == 0 && *ret_len > 0) {
		p->done += *ret_len;
		p->opts->progress(p->opts->userdata, p->layer, p->n_layers, p->done, p->total);
	}
	return r;
}

/* Mounts m on a new directory under mount_dir, applies layer i, syncs and unmounts. */
static int apply_on_mount(struct thinsnap_unpack_image *img, size_t i,
			  const struct thinsnap_mount *m,
			  const struct thinsnap_unpack_options *opts,
			  struct thinsnap_unpack_stats *ret_stats, struct thinsnap_error *reterr)
{
	struct thinsnap_unpack_layer l;
	struct progress_src ps = { 0 };
	CLEANUP_FREE char *data = NULL;
	char dir[PATH_MAX];
	unsigned long flags;
	thinsnap_unpack_read_fn rd;
	void *ud;
	int fd, r, r2;

	if (!m || !m->source || !m->type)
		return thinsnap_error_setf(reterr, -EINVAL, "no mount for the snapshot");
	r = thinsnap_mountopt_parse((const char *const *)m->options, m->n_options, &flags, &data);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "out of memory");
	if (snprintf(dir, sizeof(dir), "%s/thinsnap-unpack.XXXXXX",
		     opts && opts->mount_dir ? opts->mount_dir : "/tmp") >= (int)sizeof(dir))
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "mount dir too long");
	if (!mkdtemp(dir))
		return thinsnap_error_setf(reterr, -errno, "creating a mount point in '%s': %s",
					   opts && opts->mount_dir ? opts->mount_dir : "/tmp",
					   strerror(errno));
	if (mount(m->source, dir, m->type, flags, data[0] ? data : NULL) < 0) {
		r = -errno;
		(void)rmdir(dir);
		return thinsnap_error_setf(reterr, r, "mounting '%s' on '%s': %s", m->source, dir,
					   strerror(-r));
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		r = thinsnap_error_setf(reterr, -errno, "opening '%s': %s", dir, strerror(errno));
	if (r == 0)
		r = thinsnap_unpack_image_open_layer(img, i, &rd, &ud, reterr);
	if (r == 0 && opts && opts->progress) {
		(void)thinsnap_unpack_image_layer(img, i, &l);
		ps = (struct progress_src){ .read = rd,
					    .userdata = ud,
					    .opts = opts,
					    .layer = i,
					    .n_layers = thinsnap_unpack_image_n_layers(img),
					    .total = l.size_bytes };
		rd = progress_read;
		ud = &ps;
	}
	if (r == 0)
		r = thinsnap_unpack_apply_layer(fd, rd, ud, ret_stats, reterr);
	/* the commit snapshots the device: everything written must be on it */
	if (r == 0 && syncfs(fd) < 0)
		r = thinsnap_error_setf(reterr, -errno, "syncing '%s': %s", dir, strerror(errno));
	if (fd >= 0)
		(void)close(fd);
	r2 = umount2(dir, 0) < 0 ? -errno : 0;
	if (r2 == -EBUSY)
		r2 = umount2(dir, MNT_DETACH) < 0 ? -errno : -EBUSY;
	if (r2 == 0)
		(void)rmdir(dir);
	if (r == 0 && r2 < 0)
		r = thinsnap_error_setf(reterr, r2, "unmounting '%s': %s", dir, strerror(-r2));
	return r;
}

struct stale {
	char **keys;
	size_t n;
};

static int collect_stale(void *userdata, const struct thinsnap_info *info)
{
	struct stale *st = userdata;
	const char *end = NULL;
	uint64_t pid = 0;
	char **n;

	if (strncmp(info->name, KEY_PREFIX, strlen(KEY_PREFIX)) != 0 ||
	    info->kind == THINSNAP_KIND_COMMITTED)
		return 0;
	if (thinsnap_parse_u64_prefix(info->name + strlen(KEY_PREFIX), &pid, &end) < 0 ||
	    *end != '-' || pid == 0 || pid > INT_MAX || pid == (uint64_t)getpid())
		return 0;
	if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
		return 0; /* still running (or not ours to judge) */
	n = realloc(st->keys, (st->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	st->keys = n;
	st->keys[st->n] = strdup(info->name);
	if (!st->keys[st->n])
		return -ENOMEM;
	st->n++;
	return 0;
}

/* Removes "unpack-<pid>-*" snapshots whose process is gone (an interrupted unpack). */
static int remove_stale(struct thinsnap_snapshotter *s, struct thinsnap_error *reterr)
{
	struct stale st = { 0 };
	int r = thinsnap_walk(s, NULL, 0, collect_stale, &st, reterr);

	if (r == -ENOMEM)
		thinsnap_error_setf(reterr, r, "out of memory");
	for (size_t i = 0; i < st.n; i++) {
		if (r >= 0) {
			struct thinsnap_error e;
			int rr = thinsnap_remove(s, st.keys[i], &e);

			if (rr < 0 && rr != -ENOENT)
				r = thinsnap_error_setf(reterr, rr,
							"removing stale snapshot '%s': %s",
							st.keys[i], e.msg);
		}
		free(st.keys[i]);
	}
	free(st.keys);
	return r < 0 ? r : 0;
}

/* Whether chain is committed (1), absent (0); another kind under that name: -EEXIST. */
static int committed(struct thinsnap_snapshotter *s, const char *chain,
		     struct thinsnap_error *reterr)
{
	struct thinsnap_info *info = NULL;
	int r = thinsnap_stat(s, chain, &info, reterr);

	if (r == -ENOENT) {
		thinsnap_error_clear(reterr);
		return 0;
	}
	if (r < 0)
		return r;
	r = info->kind == THINSNAP_KIND_COMMITTED
		    ? 1
		    : thinsnap_error_setf(reterr, -EEXIST, "'%s' exists and is %s", chain,
					  thinsnap_kind_name(info->kind));
	thinsnap_info_free(info);
	return r;
}

static int unpack_layer(struct thinsnap_snapshotter *s, struct thinsnap_unpack_image *img, size_t i,
			const char *parent, const struct thinsnap_unpack_options *opts,
			struct thinsnap_error *reterr)
{
	struct thinsnap_unpack_layer l;
	struct thinsnap_unpack_stats st;
	struct thinsnap_mount *m = NULL;
	struct thinsnap_label label;
	char key[128];
	int r;

	(void)thinsnap_unpack_image_layer(img, i, &l);
	label = (struct thinsnap_label){ .key = "containerd.io/snapshot.ref", .value = l.chain_id };
	(void)snprintf(key, sizeof(key), KEY_PREFIX "%ld-%s", (long)getpid(), l.chain_id);
	r = thinsnap_prepare(s, key, parent, &label, 1, &m, reterr);
	if (r < 0)
		return r;
	r = apply_on_mount(img, i, m, opts, &st, reterr);
	thinsnap_mount_free(m);
	if (r == 0 && strcmp(st.digest, l.digest) != 0)
		r = thinsnap_error_setf(reterr, -EBADMSG, "layer %zu: digest %s, want %s", i,
					st.digest, l.digest);
	if (r == 0 && strcmp(st.diff_id, l.diff_id) != 0)
		r = thinsnap_error_setf(reterr, -EBADMSG, "layer %zu: diff id %s, want %s", i,
					st.diff_id, l.diff_id);
	if (r == 0)
		r = thinsnap_commit(s, l.chain_id, key, &label, 1, 0, reterr);
	if (r < 0) {
		struct thinsnap_error e;

		(void)thinsnap_remove(s, key, &e); /* nothing half-way stays */
	}
	return r;
}

int thinsnap_unpack(struct thinsnap_snapshotter *s, struct thinsnap_unpack_image *img,
		    const struct thinsnap_unpack_options *opts, struct thinsnap_error *reterr)
{
	size_t n = thinsnap_unpack_image_n_layers(img);
	const char *parent = NULL;
	int r;

	if (opts) {
		r = thinsnap_version_check(opts->version, THINSNAP_UNPACK_OPTIONS_VERSION,
					   "thinsnap_unpack_options", reterr);
		if (r < 0)
			return r;
	}
	if (!s || !img || n == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "no snapshotter or image");
	/* before anything changes: a killed unpack must leave no mount behind */
	r = thinsnap_unpack_private_mounts(reterr);
	if (r < 0)
		return r;
	r = remove_stale(s, reterr);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		struct thinsnap_unpack_layer l;

		(void)thinsnap_unpack_image_layer(img, i, &l);
		r = committed(s, l.chain_id, reterr);
		if (r < 0)
			return r;
		if (r == 0) {
			r = unpack_layer(s, img, i, parent, opts, reterr);
			if (r < 0)
				return r;
		}
		if (opts && opts->layer_done)
			opts->layer_done(opts->userdata, i, n, l.chain_id, r == 1);
		parent = l.chain_id;
	}
	return 0;
}

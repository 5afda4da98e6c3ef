/*
 * Between the journal's entries and the API's values: the kind, info and mount of an entry, dm
 * names, a key shortened for messages, and the checks on keys and labels that every call makes
 * before it takes a lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "snap/internal.h"

enum thinsnap_kind thinsnap_snap_kind_from_meta(enum thinsnap_meta_kind k)
{
	switch (k) {
	case THINSNAP_META_VIEW:
		return THINSNAP_KIND_VIEW;
	case THINSNAP_META_ACTIVE:
		return THINSNAP_KIND_ACTIVE;
	case THINSNAP_META_COMMITTED:
		return THINSNAP_KIND_COMMITTED;
	case THINSNAP_META_INTERNAL:
		break;
	}
	return THINSNAP_KIND_UNKNOWN;
}

const char *thinsnap_snap_shown(const char *key, char buf[static 80])
{
	size_t n = strlen(key);

	if (n < 72)
		return key;
	snprintf(buf, 80, "%.32s...%s", key, key + n - 32);
	return buf;
}

void thinsnap_snap_dm_name(const char *pool_name, uint32_t dev_id, bool base, char *buf,
			   size_t size)
{
	(void)snprintf(buf, size, "%s-%s-%" PRIu32, pool_name, base ? "base" : "snap", dev_id);
}

void thinsnap_snap_dm_name_of(const struct thinsnap_snapshotter *s,
			      const struct thinsnap_meta_snap *e,
			      char buf[static THINSNAP_POOL_DM_NAME_MAX + 1])
{
	thinsnap_snap_dm_name(s->pool_name, e->dev_id, e->kind == THINSNAP_META_INTERNAL, buf,
			      THINSNAP_POOL_DM_NAME_MAX + 1);
}

static bool is_internal_key(const char *key)
{
	return strncmp(key, INTERNAL_PREFIX, strlen(INTERNAL_PREFIX)) == 0;
}

/* meta/'s checks, plus the prefix reserved for internal keys */
int thinsnap_snap_check_key(const char *what, const char *key, struct thinsnap_error *reterr)
{
	int r = thinsnap_meta_check_key(what, key, reterr);

	if (r < 0)
		return r;
	if (is_internal_key(key))
		return thinsnap_error_setf(reterr, -EINVAL, "%s uses the reserved prefix \\x1f",
					   what);
	return 0;
}

int thinsnap_snap_check_labels(const struct thinsnap_label *labels, size_t n,
			       struct thinsnap_error *reterr)
{
	if (n && !labels)
		return thinsnap_error_setf(reterr, -EINVAL, "labels missing");
	for (size_t i = 0; i < n; i++) {
		int r = thinsnap_meta_check_label(labels[i].key, labels[i].value, reterr);
		if (r < 0)
			return r;
	}
	return 0;
}

int thinsnap_snap_meta_labels(const struct thinsnap_label *labels, size_t n,
			      struct thinsnap_meta_label **ret)
{
	struct thinsnap_meta_label *ml = NULL;

	if (n) {
		ml = calloc(n, sizeof(*ml));
		if (!ml)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++)
			ml[i] = (struct thinsnap_meta_label){ labels[i].key,
							      labels[i].value ? labels[i].value
									      : "" };
	}
	*ret = ml;
	return 0;
}

DEFINE_CLEANUP(struct thinsnap_info *, thinsnap_info_free)

void thinsnap_snap_format_uid(const uint8_t uid[static THINSNAP_META_UID_SIZE],
			      char buf[static THINSNAP_ID_LEN + 1])
{
	buf[0] = '\0';
	if (thinsnap_meta_uid_is_null(uid))
		return;
	for (size_t i = 0; i < THINSNAP_META_UID_SIZE; i++)
		(void)snprintf(buf + 2 * i, 3, "%02x", uid[i]);
}

int thinsnap_snap_new_uid(uint8_t uid[static THINSNAP_META_UID_SIZE], struct thinsnap_error *reterr)
{
	ssize_t n;

	do
		n = getrandom(uid, THINSNAP_META_UID_SIZE, 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)THINSNAP_META_UID_SIZE)
		return thinsnap_error_setf(reterr, n < 0 ? -errno : -EIO,
					   "cannot make a unique id: getrandom failed");
	if (thinsnap_meta_uid_is_null(uid)) /* all zeros means none */
		uid[0] = 1;
	return 0;
}

int thinsnap_snap_info_from_meta(const struct thinsnap_meta_snap *e, struct thinsnap_info **ret)
{
	CLEANUP(thinsnap_info_freep) struct thinsnap_info *info = NULL;

	info = calloc(1, sizeof(*info));
	if (!info)
		return -ENOMEM;
	info->name = strdup(e->key);
	if (!info->name)
		return -ENOMEM;
	if (e->parent) {
		info->parent = strdup(e->parent);
		if (!info->parent)
			return -ENOMEM;
	}
	info->kind = thinsnap_snap_kind_from_meta(e->kind);
	info->created_ns = e->created_ns;
	info->updated_ns = e->updated_ns;
	thinsnap_snap_format_uid(e->uid, info->id);
	if (e->n_labels) {
		info->labels = calloc(e->n_labels, sizeof(*info->labels));
		if (!info->labels)
			return -ENOMEM;
		for (size_t i = 0; i < e->n_labels; i++) {
			info->labels[i].key = strdup(e->labels[i].key);
			info->labels[i].value = strdup(e->labels[i].value);
			info->n_labels = i + 1;
			if (!info->labels[i].key || !info->labels[i].value)
				return -ENOMEM;
		}
	}
	*ret = TAKE_PTR(info);
	return 0;
}

DEFINE_CLEANUP(struct thinsnap_mount *, thinsnap_mount_free)

int thinsnap_snap_mount_for(const struct thinsnap_snapshotter *s,
			    const struct thinsnap_meta_snap *e, struct thinsnap_mount **ret,
			    struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_mount_freep) struct thinsnap_mount *m = NULL;
	char name[THINSNAP_POOL_DM_NAME_MAX + 1];
	char path[THINSNAP_POOL_DM_NAME_MAX + 32];

	thinsnap_snap_dm_name_of(s, e, name);
	if (thinsnap_pool_dev_path(name, path, sizeof(path)) < 0)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "device name '%s' too long",
					   name);
	m = calloc(1, sizeof(*m));
	if (!m)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	m->type = strdup(*e->fs_type ? e->fs_type : "ext4");
	m->source = strdup(path);
	m->options = calloc(3, sizeof(char *));
	if (!m->type || !m->source || !m->options)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (strcmp(m->type, "xfs") == 0) {
		/* every snapshot carries its base's uuid, which xfs refuses to mount twice; a
		 * read-only device must not replay the log */
		bool view = e->kind == THINSNAP_META_VIEW;
		const char *xo[] = { "ro", "nouuid", "norecovery" };
		for (size_t i = view ? 0 : 1; i < (view ? 3u : 2u); i++) {
			m->options[m->n_options] = strdup(xo[i]);
			if (!m->options[m->n_options])
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			m->n_options++;
		}
	} else if (e->kind == THINSNAP_META_VIEW) {
		/* the device is read-only: ext3/4 must not replay its journal */
		bool ext = strncmp(m->type, "ext", 3) == 0;
		m->options[0] = strdup("ro");
		m->options[1] = ext ? strdup("noload") : NULL;
		if (!m->options[0] || (ext && !m->options[1]))
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		m->n_options = ext ? 2 : 1;
	}
	*ret = TAKE_PTR(m);
	return 0;
}

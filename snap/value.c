/*
 * The values the API hands out: kind names and the _free functions of infos, mounts and check
 * reports. Pure (no journal, no pool, no handle), so that the in-memory snapshotter of the
 * daemon's tests (tests/lib/fake-snap.c) links this file instead of copying it.
 */
#include <stdlib.h>

#include <thinsnap/snapshotter.h>

const char *thinsnap_kind_name(enum thinsnap_kind kind)
{
	switch (kind) {
	case THINSNAP_KIND_VIEW:
		return "view";
	case THINSNAP_KIND_ACTIVE:
		return "active";
	case THINSNAP_KIND_COMMITTED:
		return "committed";
	case THINSNAP_KIND_UNKNOWN:
		break;
	}
	return "unknown";
}

void thinsnap_info_free(struct thinsnap_info *info)
{
	if (!info)
		return;
	free(info->name);
	free(info->parent);
	for (size_t i = 0; i < info->n_labels; i++) {
		free((char *)info->labels[i].key);
		free((char *)info->labels[i].value);
	}
	free(info->labels);
	free(info);
}

void thinsnap_mount_free(struct thinsnap_mount *m)
{
	if (!m)
		return;
	free(m->type);
	free(m->source);
	for (size_t i = 0; i < m->n_options; i++)
		free(m->options[i]);
	free(m->options);
	free(m);
}

void thinsnap_check_report_free(struct thinsnap_check_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->intents && i < r->n_unfinished; i++)
		free(r->intents[i].key);
	free(r->intents);
	free(r->leaked_ids);
	for (size_t i = 0; i < r->n_dangling; i++)
		free(r->dangling_keys[i]);
	free(r->dangling_keys);
	free(r);
}

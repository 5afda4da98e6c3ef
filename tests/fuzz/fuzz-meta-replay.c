/*
 * Fuzzes journal replay: the input (after one mode byte) is written as <tmp>/journal and opened
 * read-only, then as a salvaging writer that compacts and appends. Mode bit 0 set: the header's
 * and records' crc32c are fixed up first, so the fuzzer gets past the checksums into decoding.
 * Must never crash or leak, whatever the bytes.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal-crcs.h"
#include "meta/format.h"
#include "meta/meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int rm1(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int walk_cb(const struct thinsnap_meta_snap *s, void *ud)
{
	*(size_t *)ud += strlen(s->key) + s->n_labels + (s->parent ? strlen(s->parent) : 0);
	return 0;
}

static int intent_cb(const struct thinsnap_meta_intent *in, void *ud)
{
	*(size_t *)ud += in->n_ops + in->n_pool_ops;
	return 0;
}

static void exercise(struct thinsnap_meta *m)
{
	size_t sum = 0;
	uint32_t id = 0;

	(void)thinsnap_meta_walk(m, walk_cb, &sum);
	(void)thinsnap_meta_unfinished(m, intent_cb, &sum);
	(void)thinsnap_meta_alloc_dev_id(m, &id, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* tmpfs when there is one: the writer's fsyncs are free there */
	char dir[] = "/dev/shm/fuzz-meta-XXXXXX", path[64];
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .read_only = true };
	struct thinsnap_meta *m = NULL;
	uint8_t *buf;
	FILE *f;

	if (size < 1)
		return 0;
	if (!mkdtemp(dir)) {
		memcpy(dir, "/tmp/fuzz-meta-XXXXXX", sizeof("/tmp/fuzz-meta-XXXXXX"));
		if (!mkdtemp(dir))
			abort();
	}
	buf = malloc(size);
	if (!buf)
		abort();
	memcpy(buf, data + 1, size - 1);
	if (data[0] & 1)
		fuzz_fix_journal_crcs(buf, size - 1);
	snprintf(path, sizeof(path), "%s/journal", dir);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, size - 1, f) != size - 1)
		abort();
	fclose(f);
	free(buf);
	if (thinsnap_meta_open(&o, &m, NULL) == 0)
		exercise(m);
	thinsnap_meta_free(m);
	m = NULL;
	o.read_only = false;
	o.salvage = true;
	if (thinsnap_meta_open(&o, &m, NULL) == 0) {
		struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
					       .key = "fuzz",
					       .kind = THINSNAP_META_ACTIVE };
		exercise(m);
		if (thinsnap_meta_alloc_dev_id(m, &op.dev_id, NULL) == 0)
			(void)thinsnap_meta_apply(m, &op, 1, NULL);
		(void)thinsnap_meta_compact(m, NULL);
		thinsnap_meta_free(m);
		m = NULL;
		o.salvage = false;
		o.read_only = true;
		if (thinsnap_meta_open(&o, &m, NULL) == 0)
			exercise(m);
		thinsnap_meta_free(m);
	}
	(void)nftw(dir, rm1, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

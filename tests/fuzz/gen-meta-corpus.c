/*
 * Writes the seed corpus of fuzz-meta-replay: journals made through meta/'s API (every op and
 * record type, a compacted one, a torn one), each prefixed with its mode byte, plus garbage.
 * Build and run from the top directory:
 *   cc -std=gnu17 -D_GNU_SOURCE -Iinclude -I. tests/fuzz/gen-meta-corpus.c \
 *      build/release/libthinsnap.a -o build/gen-meta-corpus && build/gen-meta-corpus
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "meta/meta.h"

#define OUT "tests/fuzz/corpus/meta-replay/"

static void save(const char *dir, const char *name, int mode, size_t cut)
{
	char p[512];
	FILE *in, *out;
	int c;
	size_t n = 0;

	snprintf(p, sizeof(p), "%s/journal", dir);
	in = fopen(p, "rb");
	snprintf(p, sizeof(p), OUT "%s", name);
	out = fopen(p, "wb");
	if (!in || !out)
		exit(1);
	fputc(mode, out);
	while ((c = fgetc(in)) != EOF && (!cut || n++ < cut))
		fputc(c, out);
	fclose(in);
	fclose(out);
}

int main(void)
{
	char dir[] = "/tmp/gen-meta-XXXXXX";
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .pool_uuid = "pool-uuid-1",
					     .compact_threshold_bytes = UINT64_MAX };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_meta_label l[] = { { "containerd.io/gc.root", "x" }, { "a", "b" } };
	struct thinsnap_meta_op ops[4];
	struct thinsnap_meta_pool_op po[2] = { { THINSNAP_META_POOL_CREATE_SNAP, 5, 2 },
					       { THINSNAP_META_POOL_DELETE, 4, 0 } };
	struct thinsnap_meta_intent in = { .pool_ops = po,
					   .n_pool_ops = 2,
					   .transaction_id_before = 3,
					   .transaction_id_after = 4,
					   .ops = ops,
					   .n_ops = 1 };
	uint64_t iid = 0;
	FILE *g;

	if (!mkdtemp(dir) || thinsnap_meta_open(&o, &m, NULL) < 0)
		return 1;
	save(dir, "empty", 0, 0);
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
					    .key = "base",
					    .kind = THINSNAP_META_INTERNAL,
					    .dev_id = 1,
					    .fs_type = "ext4",
					    .size_bytes = 1 << 30 };
	ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
					    .key = "default/1/sha256:aa",
					    .parent = "base",
					    .kind = THINSNAP_META_COMMITTED,
					    .dev_id = 2,
					    .labels = l,
					    .n_labels = 2 };
	ops[2] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
					    .key = "act",
					    .parent = "default/1/sha256:aa",
					    .kind = THINSNAP_META_ACTIVE,
					    .dev_id = 3 };
	if (thinsnap_meta_apply(m, ops, 3, NULL) < 0)
		return 2;
	ops[0] = (struct thinsnap_meta_op){
		.type = THINSNAP_META_OP_LABELS_SET, .key = "act", .labels = l, .n_labels = 1
	};
	ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_USAGE_SET,
					    .key = "act",
					    .usage_bytes = 4096 };
	ops[2] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_ALLOC, .dev_id = 4 };
	if (thinsnap_meta_apply(m, ops, 3, NULL) < 0)
		return 3;
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_COMMIT,
					    .key = "act",
					    .name = "default/2/sha256:bb",
					    .labels = l,
					    .n_labels = 2 };
	ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_ID_RELEASE, .dev_id = 4 };
	ops[2] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_DELETE_PENDING_ADD,
					    .dev_id = 4 };
	if (thinsnap_meta_apply(m, ops, 3, NULL) < 0)
		return 4;
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
					    .key = "view",
					    .parent = "default/2/sha256:bb",
					    .kind = THINSNAP_META_VIEW,
					    .dev_id = 5 };
	if (thinsnap_meta_intent_begin(m, &in, &iid, NULL) < 0)
		return 5;
	save(dir, "intent-open", 1, 0);
	if (thinsnap_meta_intent_finish(m, iid, true, NULL) < 0)
		return 6;
	ops[0] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_DELETE_PENDING_REMOVE,
					    .dev_id = 4 };
	ops[1] = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "view" };
	if (thinsnap_meta_apply(m, ops, 2, NULL) < 0)
		return 7;
	save(dir, "all-records", 1, 0);
	save(dir, "all-records-raw", 0, 0);
	save(dir, "torn", 0, 900);
	po[0].dev_id = 6;
	ops[0].type = THINSNAP_META_OP_SNAP_CREATE;
	ops[0].key = "v2";
	ops[0].parent = "base";
	ops[0].kind = THINSNAP_META_VIEW;
	ops[0].dev_id = 6;
	if (thinsnap_meta_intent_begin(m, &in, &iid, NULL) < 0 ||
	    thinsnap_meta_compact(m, NULL) < 0)
		return 8;
	save(dir, "compacted", 1, 0);
	thinsnap_meta_free(m);
	g = fopen(OUT "garbage", "wb");
	if (!g)
		return 9;
	for (int i = 0; i < 700; i++)
		fputc((i * 37 + 11) & 0xff, g);
	fclose(g);
	g = fopen(OUT "header-only-magic", "wb");
	fputs("\001TSNPJRNL", g);
	fclose(g);
	return 0;
}

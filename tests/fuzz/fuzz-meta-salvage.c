/*
 * Fuzzes opening and salvaging a journal from its two copies: the input is a mode byte, a
 * 16-bit split, then the journal's bytes up to the split and the copy's after it. Each input
 * is opened plainly, as a dry-run salvage and as a salvage that then adopts the unnamed ids of
 * a fixed list of pool devices. Must never crash, hang or leak, and after a salvage every one
 * of those devices is still named (a key, lost+found, a pending delete or an intent): salvage
 * never lets go of a device. Mode bit 0: crcs fixed up; bit 1: no copy; bit 2: no journal.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <thinsnap/salvage.h>

#include "journal-crcs.h"
#include "meta/format.h"
#include "meta/meta.h"
#include "snap/snap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define N_POOL 48

static void put_file(const char *dir, const char *name, const uint8_t *p, size_t n, bool fix)
{
	char path[96];
	uint8_t *buf = malloc(n + 1);
	FILE *f;

	if (!buf)
		abort();
	memcpy(buf, p, n);
	if (fix)
		fuzz_fix_journal_crcs(buf, n);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, n, f) != n)
		abort();
	fclose(f);
	free(buf);
}

static int rm1(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static struct thinsnap_salvage_report *plan(struct thinsnap_meta *m, const uint32_t *ids,
					    bool apply)
{
	struct thinsnap_salvage_report *rep = calloc(1, sizeof(*rep));

	if (!rep)
		abort();
	if (thinsnap_snap_salvage_plan(m, ids, N_POOL, apply, rep, NULL) == 0 && apply) {
		for (size_t i = 0; i < rep->n_found; i++)
			rep->found[i].size_bytes = 1 << 20;
		(void)thinsnap_snap_salvage_adopt(m, rep, 1, NULL);
	}
	return rep;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char dir[] = "/dev/shm/fuzz-salv-XXXXXX";
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .read_only = true,
					     .redundant = true };
	struct thinsnap_meta *m = NULL;
	uint32_t ids[N_POOL];
	size_t split;

	if (size < 3)
		return 0;
	for (uint32_t i = 0; i < N_POOL; i++)
		ids[i] = 1 + i; /* sorted */
	split = (size_t)(data[1] | data[2] << 8) % (size - 2);
	if (!mkdtemp(dir)) {
		memcpy(dir, "/tmp/fuzz-salv-XXXXXX", sizeof("/tmp/fuzz-salv-XXXXXX"));
		if (!mkdtemp(dir))
			abort();
	}
	if (!(data[0] & 4))
		put_file(dir, "journal", data + 3, split, data[0] & 1);
	if (!(data[0] & 2))
		put_file(dir, "journal.copy", data + 3 + split, size - 3 - split, data[0] & 1);
	if (thinsnap_meta_open(&o, &m, NULL) == 0)
		thinsnap_salvage_report_free(plan(m, ids, false));
	thinsnap_meta_free(m);
	m = NULL;
	o.salvage = true; /* the dry run */
	if (thinsnap_meta_open(&o, &m, NULL) == 0)
		thinsnap_salvage_report_free(plan(m, ids, false));
	thinsnap_meta_free(m);
	m = NULL;
	o.read_only = false;
	if (thinsnap_meta_open(&o, &m, NULL) == 0) {
		thinsnap_salvage_report_free(plan(m, ids, true));
		thinsnap_meta_free(m);
		m = NULL;
		/* what salvage wrote opens plainly, and names every device */
		o.salvage = false;
		o.read_only = true;
		if (thinsnap_meta_open(&o, &m, NULL) != 0)
			abort();
		for (size_t i = 0; i < N_POOL; i++)
			if (!thinsnap_meta_dev_id_known(m, ids[i]))
				abort();
	}
	thinsnap_meta_free(m);
	(void)nftw(dir, rm1, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

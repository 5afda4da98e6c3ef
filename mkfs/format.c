/*
 * thinsnap_mkfs_format(): an empty ext2/3/4 filesystem written with libext2fs, following what
 * mke2fs does with Debian's mke2fs.conf defaults, minus lost+found, and without writing inode
 * tables or the journal (the device reads as zeros). Options are parsed completely before
 * the device is opened, so a bad fs_options string leaves it untouched.
 */
#include <assert.h>
#include <com_err.h>
#include <errno.h>
#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext2fs.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/cleanup.h"
#include "base/parse.h"
#include "mkfs/mkfs.h"

enum { F_COMPAT, F_INCOMPAT, F_RO_COMPAT };

struct feature {
	const char *name;
	int kind;
	uint32_t mask;
	bool supported; /* false: known, but we can't set it up (needs more than a flag) */
};

static const struct feature features[] = {
	{ "dir_prealloc", F_COMPAT, EXT2_FEATURE_COMPAT_DIR_PREALLOC, true },
	{ "has_journal", F_COMPAT, EXT3_FEATURE_COMPAT_HAS_JOURNAL, true },
	{ "ext_attr", F_COMPAT, EXT2_FEATURE_COMPAT_EXT_ATTR, true },
	{ "resize_inode", F_COMPAT, EXT2_FEATURE_COMPAT_RESIZE_INODE, true },
	{ "dir_index", F_COMPAT, EXT2_FEATURE_COMPAT_DIR_INDEX, true },
	{ "sparse_super2", F_COMPAT, EXT4_FEATURE_COMPAT_SPARSE_SUPER2, false },
	{ "stable_inodes", F_COMPAT, EXT4_FEATURE_COMPAT_STABLE_INODES, true },
	{ "orphan_file", F_COMPAT, EXT4_FEATURE_COMPAT_ORPHAN_FILE, false },
	{ "sparse_super", F_RO_COMPAT, EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER, true },
	{ "large_file", F_RO_COMPAT, EXT2_FEATURE_RO_COMPAT_LARGE_FILE, true },
	{ "huge_file", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_HUGE_FILE, true },
	{ "uninit_bg", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_GDT_CSUM, true },
	{ "uninit_groups", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_GDT_CSUM, true },
	{ "dir_nlink", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_DIR_NLINK, true },
	{ "extra_isize", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE, true },
	{ "quota", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_QUOTA, false },
	{ "bigalloc", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_BIGALLOC, false },
	{ "metadata_csum", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_METADATA_CSUM, true },
	{ "project", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_PROJECT, false },
	{ "verity", F_RO_COMPAT, EXT4_FEATURE_RO_COMPAT_VERITY, true },
	{ "filetype", F_INCOMPAT, EXT2_FEATURE_INCOMPAT_FILETYPE, true },
	{ "journal_dev", F_INCOMPAT, EXT3_FEATURE_INCOMPAT_JOURNAL_DEV, false },
	{ "meta_bg", F_INCOMPAT, EXT2_FEATURE_INCOMPAT_META_BG, true },
	{ "extent", F_INCOMPAT, EXT3_FEATURE_INCOMPAT_EXTENTS, true },
	{ "extents", F_INCOMPAT, EXT3_FEATURE_INCOMPAT_EXTENTS, true },
	{ "64bit", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_64BIT, true },
	{ "mmp", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_MMP, false },
	{ "flex_bg", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_FLEX_BG, true },
	{ "ea_inode", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_EA_INODE, true },
	{ "large_dir", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_LARGEDIR, true },
	{ "inline_data", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_INLINE_DATA, true },
	{ "encrypt", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_ENCRYPT, true },
	{ "casefold", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_CASEFOLD, false },
	{ "metadata_csum_seed", F_INCOMPAT, EXT4_FEATURE_INCOMPAT_CSUM_SEED, true },
};

/* Debian 12's /etc/mke2fs.conf: base_features, then the fs type's features. */
static const char base_features[] =
	"sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr";
static const char ext4_features[] =
	"has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize";

struct params {
	unsigned blocksize;     /* 0: by usage type */
	unsigned inode_ratio;   /* 0: by usage type */
	unsigned inode_size;    /* 0: 256 */
	uint64_t inode_count;   /* 0: from inode_ratio */
	double reserved_pct;    /* -1: 5 */
	char usage[8];          /* "": by size */
	uint64_t journal_mb;    /* 0: ext2fs' default for the size */
	bool lazy_itable_init;  /* true: don't write inode tables */
	bool lazy_journal_init; /* true: don't write the journal */
	bool discard;
	unsigned stride, stripe_width;
	char label[EXT2_LABEL_LEN + 1];
	bool has_label;
	uint32_t feat[3];
};

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	uint64_t v = 0;

	if (thinsnap_parse_u64(s, &v) < 0 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
	uint64_t v = 0;
	int r = parse_u64(s, max, &v);

	if (r == 0)
		*ret = (unsigned)v;
	return r;
}

/* Applies "feat,^feat,..." (or "none") to p->feat; "^" clears. */
static int edit_features(struct params *p, const char *list, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *copy = strdup(list);
	char *save = NULL;

	if (!copy)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		bool clear = false;
		const struct feature *f = NULL;

		if (strcmp(w, "none") == 0 || strcmp(w, "clear") == 0) {
			memset(p->feat, 0, sizeof(p->feat));
			continue;
		}
		if (*w == '^' || *w == '-') {
			clear = true;
			w++;
		} else if (*w == '+') {
			w++;
		}
		for (size_t i = 0; i < ELEMENTSOF(features); i++)
			if (strcmp(features[i].name, w) == 0)
				f = &features[i];
		if (!f)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "fs_options: unknown feature '%s'", w);
		if (!f->supported && !clear)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "fs_options: feature '%s' is not supported", w);
		if (clear)
			p->feat[f->kind] &= ~f->mask;
		else
			p->feat[f->kind] |= f->mask;
	}
	return 0;
}

static int parse_bool_val(const char *v, bool *ret)
{
	if (!v || strcmp(v, "1") == 0) {
		*ret = true;
		return 0;
	}
	if (strcmp(v, "0") == 0) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

/* -E key[=val][,key[=val]...] */
static int parse_extended(struct params *p, const char *arg, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *copy = strdup(arg);
	char *save = NULL;

	if (!copy)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		char *v = strchr(k, '=');
		int r;

		if (v)
			*v++ = '\0';
		if (strcmp(k, "lazy_itable_init") == 0)
			r = parse_bool_val(v, &p->lazy_itable_init);
		else if (strcmp(k, "lazy_journal_init") == 0)
			r = parse_bool_val(v, &p->lazy_journal_init);
		else if (strcmp(k, "nodiscard") == 0 && !v)
			r = (p->discard = false, 0);
		else if (strcmp(k, "discard") == 0 && !v)
			r = (p->discard = true, 0);
		else if (strcmp(k, "stride") == 0)
			r = parse_uint(v, UINT16_MAX, &p->stride);
		else if (strcmp(k, "stripe_width") == 0 || strcmp(k, "stripe-width") == 0)
			r = parse_uint(v, UINT32_MAX, &p->stripe_width);
		else
			return thinsnap_error_setf(
				reterr, -EINVAL, "fs_options: unknown extended option '-E %s'", k);
		if (r < 0)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "fs_options: bad value for extended option '%s'",
						   k);
	}
	return 0;
}

static int parse_journal(struct params *p, const char *arg, struct thinsnap_error *reterr)
{
	if (strncmp(arg, "size=", 5) != 0 || parse_u64(arg + 5, 1 << 20, &p->journal_mb) < 0 ||
	    p->journal_mb == 0)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "fs_options: bad journal option '-J %s' (want size=MB)",
					   arg);
	p->feat[F_COMPAT] |= EXT3_FEATURE_COMPAT_HAS_JOURNAL;
	return 0;
}

static int set_label(struct params *p, const char *label, struct thinsnap_error *reterr)
{
	if (strlen(label) > EXT2_LABEL_LEN)
		return thinsnap_error_setf(reterr, -EINVAL, "label '%s' is longer than %d bytes",
					   label, EXT2_LABEL_LEN);
	strcpy(p->label, label);
	p->has_label = true;
	return 0;
}

static bool is_power_of_2(unsigned v)
{
	return v && !(v & (v - 1));
}

/* Parses one option with its value (val is NULL for flags). */
static int parse_option(struct params *p, char opt, const char *val, struct thinsnap_error *reterr)
{
	int r = 0;

	switch (opt) {
	case 'b':
		r = parse_uint(val, 65536, &p->blocksize);
		if (r == 0 &&
		    (p->blocksize < 1024 || p->blocksize > 4096 || !is_power_of_2(p->blocksize)))
			r = -EINVAL;
		break;
	case 'i':
		r = parse_uint(val, 1U << 26, &p->inode_ratio);
		if (r == 0 && p->inode_ratio < 1024)
			r = -EINVAL;
		break;
	case 'I':
		r = parse_uint(val, 4096, &p->inode_size);
		if (r == 0 &&
		    (p->inode_size < EXT2_GOOD_OLD_INODE_SIZE || !is_power_of_2(p->inode_size)))
			r = -EINVAL;
		break;
	case 'N':
		r = parse_u64(val, UINT32_MAX, &p->inode_count);
		if (r == 0 && p->inode_count == 0)
			r = -EINVAL;
		break;
	case 'm': {
		char *end = NULL;
		double d;

		errno = 0;
		d = strtod(val, &end);
		if (errno || end == val || *end || !(d >= 0 && d <= 50))
			r = -EINVAL;
		else
			p->reserved_pct = d;
		break;
	}
	case 'L':
		return set_label(p, val, reterr);
	case 'O':
		return edit_features(p, val, reterr);
	case 'E':
		return parse_extended(p, val, reterr);
	case 'J':
		return parse_journal(p, val, reterr);
	case 'j':
		p->feat[F_COMPAT] |= EXT3_FEATURE_COMPAT_HAS_JOURNAL;
		return 0;
	case 'T':
		if (strcmp(val, "floppy") && strcmp(val, "small") && strcmp(val, "default") &&
		    strcmp(val, "big") && strcmp(val, "huge"))
			r = -EINVAL;
		else
			strcpy(p->usage, val); /* fits: checked above */
		break;
	case 'q':
	case 'F':
		return 0;
	default:
		assert(0);
	}
	if (r < 0)
		return thinsnap_error_setf(reterr, -EINVAL, "fs_options: bad value '%s' for '-%c'",
					   val, opt);
	return 0;
}

/* Splits fs_options on whitespace and parses every option; nothing is opened yet. */
static int parse_options(struct params *p, const char *s, struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *copy = NULL;
	char *save = NULL, *w;

	if (!s)
		return 0;
	copy = strdup(s);
	if (!copy)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	w = strtok_r(copy, " \t\n", &save);
	while (w) {
		const char *val = NULL;
		char opt;
		int r;

		if (w[0] != '-' || !w[1] || !strchr("biINmLOEJjTqF", w[1]))
			return thinsnap_error_setf(reterr, -EINVAL,
						   "fs_options: unknown option '%s'", w);
		opt = w[1];
		if (strchr("jqF", opt)) {
			if (w[2])
				return thinsnap_error_setf(reterr, -EINVAL,
							   "fs_options: unknown option '%s'", w);
		} else if (w[2]) {
			val = w + 2;
		} else {
			val = strtok_r(NULL, " \t\n", &save);
			if (!val)
				return thinsnap_error_setf(reterr, -EINVAL,
							   "fs_options: option '-%c' needs a value",
							   opt);
		}
		r = parse_option(p, opt, val, reterr);
		if (r < 0)
			return r;
		w = strtok_r(NULL, " \t\n", &save);
	}
	return 0;
}

static int errcode_to_errno(errcode_t e)
{
	if (e > 0 && e < 256)
		return -(int)e;
	return -EIO;
}

static int ext2_fail(struct thinsnap_error *reterr, errcode_t e, const char *dev, const char *what)
{
	initialize_ext2_error_table(); /* registers once; error_message() needs it */
	return thinsnap_error_setf(reterr, errcode_to_errno(e), "formatting '%s': %s: %s", dev,
				   what, error_message(e));
}

DEFINE_CLEANUP(ext2_filsys, ext2fs_free)

static void random_uuid(uint8_t uuid[16])
{
	if (getrandom(uuid, 16, 0) != 16) { /* never short for 16 bytes; fall back anyway */
		uint64_t t = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)uuid << 16);
		for (int i = 0; i < 16; i++)
			uuid[i] ^= (uint8_t)(t >> (8 * (i % 8))) + (uint8_t)i * 37;
	}
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40); /* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80); /* RFC 4122 variant */
}

/* mke2fs' usage types by size, from mke2fs.conf. */
static const char *usage_for_size(uint64_t size_bytes)
{
	uint64_t mb = size_bytes >> 20;

	if (mb < 3)
		return "floppy";
	if (mb < 512)
		return "small";
	if (mb < (UINT64_C(4) << 20))
		return "default";
	if (mb < (UINT64_C(16) << 20))
		return "big";
	return "huge";
}

static void usage_defaults(const char *usage, unsigned *blocksize, unsigned *inode_ratio)
{
	unsigned bs = 4096, ratio = 16384;

	if (strcmp(usage, "floppy") == 0) {
		bs = 1024;
		ratio = 8192;
	} else if (strcmp(usage, "small") == 0) {
		bs = 1024;
		ratio = 4096;
	} else if (strcmp(usage, "big") == 0) {
		ratio = 32768;
	} else if (strcmp(usage, "huge") == 0) {
		ratio = 65536;
	}
	if (!*blocksize)
		*blocksize = bs;
	if (!*inode_ratio)
		*inode_ratio = ratio;
}

/* Zero inode 1..first_ino-1 with valid checksums, as mke2fs does. */
static errcode_t write_reserved_inodes(ext2_filsys fs)
{
	CLEANUP_FREE struct ext2_inode *inode = NULL;
	errcode_t e;

	inode = calloc(1, EXT2_INODE_SIZE(fs->super));
	if (!inode)
		return EXT2_ET_NO_MEMORY;
	for (ext2_ino_t ino = 1; ino < EXT2_FIRST_INO(fs->super); ino++) {
		e = ext2fs_write_inode_full(fs, ino, inode, EXT2_INODE_SIZE(fs->super));
		if (e)
			return e;
	}
	return 0;
}

/* Marks every group's inode table initialised; writes it out unless the device reads zero. */
static errcode_t init_inode_tables(ext2_filsys fs, bool write_zeros)
{
	errcode_t e = 0;

	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		if (write_zeros) {
			blk64_t blk = ext2fs_inode_table_loc(fs, g);
			e = ext2fs_zero_blocks2(fs, blk, (int)fs->inode_blocks_per_group, NULL,
						NULL);
			if (e)
				break;
		}
		ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
		ext2fs_group_desc_csum_set(fs, g);
	}
	(void)ext2fs_zero_blocks2(NULL, 0, 0, NULL, NULL); /* frees its buffer */
	return e;
}

static errcode_t create_root(ext2_filsys fs)
{
	struct ext2_inode inode;
	errcode_t e;

	e = ext2fs_mkdir(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, NULL);
	if (e)
		return e;
	e = ext2fs_read_inode(fs, EXT2_ROOT_INO, &inode);
	if (e)
		return e;
	inode.i_mode = LINUX_S_IFDIR | 0755;
	inode.i_uid = inode.i_gid = 0;
	ext2fs_set_i_uid_high(inode, 0);
	ext2fs_set_i_gid_high(inode, 0);
	return ext2fs_write_inode(fs, EXT2_ROOT_INO, &inode);
}

static int build_params(const struct thinsnap_mkfs_opts *o, struct params *p,
			struct thinsnap_error *reterr)
{
	const char *fs_type = o && o->fs_type ? o->fs_type : "ext4";
	int r;

	*p = (struct params){ .reserved_pct = -1,
			      .lazy_itable_init = true,
			      .lazy_journal_init = true,
			      .discard = true };
	r = edit_features(p, base_features, reterr);
	if (r < 0)
		return r;
	if (strcmp(fs_type, "ext4") == 0)
		r = edit_features(p, ext4_features, reterr);
	else if (strcmp(fs_type, "ext3") == 0)
		r = edit_features(p, "has_journal", reterr);
	else if (strcmp(fs_type, "ext2") != 0)
		return thinsnap_error_setf(
			reterr, -EINVAL, "unsupported fs_type '%s' (want ext4, ext3, ext2 or xfs)",
			fs_type);
	if (r < 0)
		return r;
	r = parse_options(p, o ? o->fs_options : NULL, reterr);
	if (r < 0)
		return r;
	if (o && o->label) {
		r = set_label(p, o->label, reterr);
		if (r < 0)
			return r;
	}
	return 0;
}

int thinsnap_mkfs_format(const char *dev_path, uint64_t size_bytes,
			 const struct thinsnap_mkfs_opts *o, struct thinsnap_error *reterr)
{
	CLEANUP(ext2fs_freep) ext2_filsys fs = NULL;
	struct ext2_super_block param;
	struct params p;
	blk64_t blocks = 0;
	uint64_t inodes;
	errcode_t e;
	int r;

	if (!dev_path || !*dev_path)
		return thinsnap_error_setf(reterr, -EINVAL, "no device to format");
	if (o && o->fs_type && strcmp(o->fs_type, "xfs") == 0)
		return thinsnap_mkfs_format_xfs(dev_path, o->fs_options, reterr);
	r = build_params(o, &p, reterr);
	if (r < 0)
		return r;

	if (size_bytes == 0) {
		e = ext2fs_get_device_size2(dev_path, 1024, &blocks);
		if (e)
			return ext2_fail(reterr, e, dev_path, "getting the device size");
		size_bytes = (uint64_t)blocks * 1024;
	}
	usage_defaults(p.usage[0] ? p.usage : usage_for_size(size_bytes), &p.blocksize,
		       &p.inode_ratio);
	if (!p.inode_size)
		p.inode_size = 256;
	if (p.inode_size > p.blocksize)
		return thinsnap_error_setf(reterr, -EINVAL, "inode size %u exceeds block size %u",
					   p.inode_size, p.blocksize);
	if (p.inode_size == EXT2_GOOD_OLD_INODE_SIZE)
		p.feat[F_RO_COMPAT] &= ~EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE;
	if (p.feat[F_RO_COMPAT] & EXT4_FEATURE_RO_COMPAT_METADATA_CSUM) /* supersedes it */
		p.feat[F_RO_COMPAT] &= ~EXT4_FEATURE_RO_COMPAT_GDT_CSUM;
	if (p.feat[F_INCOMPAT] & EXT2_FEATURE_INCOMPAT_META_BG)
		p.feat[F_COMPAT] &= ~EXT2_FEATURE_COMPAT_RESIZE_INODE;

	blocks = size_bytes / p.blocksize;
	if (blocks < 256)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "'%s': %" PRIu64 " bytes is too small for a filesystem",
					   dev_path, size_bytes);
	if (!(p.feat[F_INCOMPAT] & EXT4_FEATURE_INCOMPAT_64BIT) && blocks > UINT32_MAX)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "'%s' is too large without the 64bit feature", dev_path);

	memset(&param, 0, sizeof(param));
	param.s_rev_level = EXT2_DYNAMIC_REV;
	param.s_log_block_size = (uint32_t)(__builtin_ctz(p.blocksize) - 10);
	ext2fs_blocks_count_set(&param, blocks);
	param.s_feature_compat = p.feat[F_COMPAT];
	param.s_feature_incompat = p.feat[F_INCOMPAT];
	param.s_feature_ro_compat = p.feat[F_RO_COMPAT];
	param.s_inode_size = (uint16_t)p.inode_size;
	inodes = p.inode_count ? p.inode_count : (uint64_t)blocks * p.blocksize / p.inode_ratio;
	param.s_inodes_count = (uint32_t)(inodes > UINT32_MAX - 1 ? UINT32_MAX - 1 : inodes);
	ext2fs_r_blocks_count_set(&param, (blk64_t)((p.reserved_pct < 0 ? 5.0 : p.reserved_pct) *
						    (double)blocks / 100.0));
	if (ext2fs_has_feature_64bit(&param))
		param.s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
	if (ext2fs_has_feature_flex_bg(&param))
		param.s_log_groups_per_flex = 4;
	if (ext2fs_has_feature_extra_isize(&param))
		param.s_min_extra_isize = param.s_want_extra_isize =
			sizeof(struct ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;
	param.s_raid_stride = (uint16_t)p.stride;
	param.s_raid_stripe_width = p.stripe_width;
	param.s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;

	e = ext2fs_initialize(dev_path, EXT2_FLAG_EXCLUSIVE | EXT2_FLAG_64BITS, &param,
			      unix_io_manager, &fs);
	if (e == EXT2_ET_TOOSMALL)
		return thinsnap_error_setf(reterr, -EINVAL, "'%s' is too small for a filesystem",
					   dev_path);
	if (e)
		return ext2_fail(reterr, e, dev_path, "initializing");

	/* Identity: a fresh UUID and directory hash seed; checksums derive from the UUID. */
	random_uuid(fs->super->s_uuid);
	random_uuid((uint8_t *)fs->super->s_hash_seed);
	fs->super->s_def_hash_version = EXT2_HASH_HALF_MD4;
	if (!(fs->super->s_flags & (EXT2_FLAGS_SIGNED_HASH | EXT2_FLAGS_UNSIGNED_HASH)))
		fs->super->s_flags |=
			((char)-1 < 0) ? EXT2_FLAGS_SIGNED_HASH : EXT2_FLAGS_UNSIGNED_HASH;
	if (ext2fs_has_feature_metadata_csum(fs->super))
		fs->super->s_checksum_type = EXT2_CRC32C_CHKSUM;
	if (ext2fs_has_feature_csum_seed(fs->super))
		fs->super->s_checksum_seed =
			ext2fs_crc32c_le(~0U, fs->super->s_uuid, sizeof(fs->super->s_uuid));
	ext2fs_init_csum_seed(fs);
	fs->super->s_max_mnt_count = (uint16_t)-1; /* no periodic fsck */
	fs->super->s_checkinterval = 0;
	fs->super->s_mkfs_time = fs->super->s_lastcheck = (uint32_t)time(NULL);
	if (p.has_label)
		memcpy(fs->super->s_volume_name, p.label, strlen(p.label));
	fs->umask = 022;

	e = ext2fs_allocate_tables(fs); /* bitmaps and inode tables, packed by flex_bg */
	if (e)
		return ext2_fail(reterr, e, dev_path, "allocating group tables");
	e = ext2fs_convert_subcluster_bitmap(fs, &fs->block_map);
	if (e)
		return ext2_fail(reterr, e, dev_path, "converting the block bitmap");

	if (p.discard) { /* makes it read zero; a thin device gives its blocks back */
		e = io_channel_discard(fs->io, 0, ext2fs_blocks_count(fs->super));
		if (e && e != EXT2_ET_UNIMPLEMENTED && e != EOPNOTSUPP)
			return ext2_fail(reterr, e, dev_path, "discarding");
	}

	e = init_inode_tables(fs, !p.lazy_itable_init);
	if (e)
		return ext2_fail(reterr, e, dev_path, "initializing inode tables");
	e = write_reserved_inodes(fs);
	if (e)
		return ext2_fail(reterr, e, dev_path, "writing reserved inodes");
	e = create_root(fs);
	if (e)
		return ext2_fail(reterr, e, dev_path, "creating the root directory");
	for (ext2_ino_t ino = EXT2_ROOT_INO + 1; ino < EXT2_FIRST_INODE(fs->super); ino++)
		ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	ext2fs_mark_inode_bitmap2(fs->inode_map, EXT2_BAD_INO);
	ext2fs_inode_alloc_stats2(fs, EXT2_BAD_INO, +1, 0);
	ext2fs_mark_ib_dirty(fs);
	e = ext2fs_update_bb_inode(fs, NULL);
	if (e)
		return ext2_fail(reterr, e, dev_path, "writing the bad block inode");
	if (ext2fs_has_feature_resize_inode(fs->super)) {
		e = ext2fs_create_resize_inode(fs);
		if (e)
			return ext2_fail(reterr, e, dev_path, "creating the resize inode");
	}
	if (ext2fs_has_feature_journal(fs->super)) {
		struct ext2fs_journal_params jp;
		int flags = EXT2_MKJOURNAL_NO_MNT_CHECK;

		e = ext2fs_get_journal_params(&jp, fs);
		if (e)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "'%s' is too small for a journal", dev_path);
		if (p.journal_mb) {
			uint64_t jblocks = (p.journal_mb << 20) / p.blocksize;
			if (jblocks < 1024 || jblocks > 10240000 ||
			    jblocks >= ext2fs_free_blocks_count(fs->super) / 2)
				return thinsnap_error_setf(reterr, -EINVAL,
							   "journal size %" PRIu64
							   " MB out of range for '%s'",
							   p.journal_mb, dev_path);
			jp.num_journal_blocks = (blk_t)jblocks;
		}
		if (p.lazy_journal_init)
			flags |= EXT2_MKJOURNAL_LAZYINIT;
		e = ext2fs_add_journal_inode3(fs, &jp, ~0ULL, flags);
		if (e)
			return ext2_fail(reterr, e, dev_path, "creating the journal");
	}
	e = ext2fs_set_gdt_csum(fs);
	if (e)
		return ext2_fail(reterr, e, dev_path, "setting group checksums");
	e = ext2fs_close2(fs, 0); /* writes, fsyncs and frees fs; on failure fs stays ours */
	if (e)
		return ext2_fail(reterr, e, dev_path, "writing the filesystem");
	fs = NULL;
	return 0;
}

/*
 * thinsnap's configuration, one for the thinsnap command and thinsnapd: built-in defaults, a
 * strict TOML subset file (containerd's devmapper plugin keys), THINSNAP_* environment
 * variables and command-line flags, resolved flag > env > file > default, and the library's
 * options from the result. Linked into both programs; not part of libthinsnap.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <thinsnap/error.h>
#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#define THINSNAP_CONFIG_DEFAULT_STATE_DIR          "/var/lib/thinsnap"
#define THINSNAP_CONFIG_DEFAULT_POOL               "thinsnap-pool"
#define THINSNAP_CONFIG_DEFAULT_FILE               "/etc/thinsnap/config.toml"
#define THINSNAP_CONFIG_DEFAULT_FS_TYPE            "ext4"
#define THINSNAP_CONFIG_DEFAULT_BASE_SIZE          (10ull << 30)
#define THINSNAP_CONFIG_DEFAULT_MIN_FREE           10 /* percent */
/* thinsnapd's pool monitor and auto-grow (lvm's thin_pool_autoextend_threshold/_percent) */
#define THINSNAP_CONFIG_DEFAULT_AUTOGROW_THRESHOLD 80 /* percent data used; 100 = off */
#define THINSNAP_CONFIG_DEFAULT_AUTOGROW_PERCENT   20 /* percent of the data size per step */
#define THINSNAP_CONFIG_DEFAULT_MONITOR_INTERVAL   10 /* seconds */
#define THINSNAP_CONFIG_DEFAULT_WARN_MARGIN        5  /* percent above a space floor */

/* Where a value came from; a value is only replaced from a source of the same or higher rank. */
enum thinsnap_config_source {
	THINSNAP_CONFIG_DEFAULT = 0,
	THINSNAP_CONFIG_FILE = 1,
	THINSNAP_CONFIG_ENV = 2,
	THINSNAP_CONFIG_FLAG = 3,
};

enum thinsnap_config_key {
	THINSNAP_CONFIG_STATE_DIR,    /* file key root_path, env THINSNAP_STATE_DIR, --state-dir */
	THINSNAP_CONFIG_POOL_NAME,    /* pool_name, THINSNAP_POOL, --pool */
	THINSNAP_CONFIG_BASE_SIZE,    /* base_image_size, THINSNAP_BASE_IMAGE_SIZE */
	THINSNAP_CONFIG_FS_TYPE,      /* fs_type, THINSNAP_FS_TYPE */
	THINSNAP_CONFIG_FS_OPTIONS,   /* fs_options, THINSNAP_FS_OPTIONS */
	THINSNAP_CONFIG_ASYNC_REMOVE, /* async_remove, THINSNAP_ASYNC_REMOVE */
	THINSNAP_CONFIG_DISCARD_BLOCKS, /* discard_blocks, THINSNAP_DISCARD_BLOCKS */
	/* metrics_address, THINSNAP_METRICS_ADDRESS, thinsnapd --metrics-address: "" = off */
	THINSNAP_CONFIG_METRICS_ADDRESS,
	/* min_free_data_percent, THINSNAP_MIN_FREE_DATA_PERCENT */
	THINSNAP_CONFIG_MIN_FREE_DATA,
	/* min_free_metadata_percent, THINSNAP_MIN_FREE_METADATA_PERCENT */
	THINSNAP_CONFIG_MIN_FREE_METADATA,
	/* pool monitor (thinsnapd): autogrow_threshold_percent, THINSNAP_AUTOGROW_THRESHOLD_PERCENT */
	THINSNAP_CONFIG_AUTOGROW_THRESHOLD,
	THINSNAP_CONFIG_AUTOGROW_PERCENT,  /* autogrow_percent, THINSNAP_AUTOGROW_PERCENT */
	THINSNAP_CONFIG_AUTOGROW_MAX_SIZE, /* autogrow_max_size, THINSNAP_AUTOGROW_MAX_SIZE */
	THINSNAP_CONFIG_MONITOR_INTERVAL, /* monitor_interval (seconds), THINSNAP_MONITOR_INTERVAL */
	/* space_warning_margin_percent, THINSNAP_SPACE_WARNING_MARGIN_PERCENT */
	THINSNAP_CONFIG_WARN_MARGIN,
	/* autogrow_metadata_max_size, THINSNAP_AUTOGROW_METADATA_MAX_SIZE */
	THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE,
	THINSNAP_CONFIG_N_KEYS,
};

/* The kind of value a key takes; the file reader checks a TOML value's type against it. */
enum thinsnap_config_type {
	THINSNAP_CONFIG_TYPE_STRING,
	THINSNAP_CONFIG_TYPE_BOOL,
	THINSNAP_CONFIG_TYPE_PERCENT, /* 0..100 */
	THINSNAP_CONFIG_TYPE_SECONDS, /* monitor_interval: 1..86400 */
	THINSNAP_CONFIG_TYPE_SIZE, /* base_image_size, autogrow_max_size, ..._metadata_max_size */
};

struct thinsnap_config {
	char *state_dir; /* owned strings, never NULL after thinsnap_config_init() */
	char *pool_name;
	uint64_t base_size_bytes;
	char *fs_type;
	char *fs_options; /* "" when unset */
	/* thinsnapd's Prometheus endpoint, "" when unset (off) */
	char *metrics_address;
	bool async_remove;
	bool discard_blocks;
	/* space floors in percent, 0..100; 0 = no floor (thinsnap_options wants -1 then) */
	unsigned min_free_data_percent;
	unsigned min_free_metadata_percent;
	/* thinsnapd's pool monitor: grow a loop pool's data by autogrow_percent once
	 * autogrow_threshold_percent of it is used (100 = never), up to autogrow_max_size_bytes
	 * (0 = the filesystem's free space); warn when free space is within warn_margin_percent
	 * of a floor; re-read the pool every monitor_interval_s seconds besides its dm events */
	unsigned autogrow_threshold_percent;
	unsigned autogrow_percent;
	uint64_t autogrow_max_size_bytes;
	unsigned monitor_interval_s;
	unsigned warn_margin_percent;
	/* the metadata of a device-backed pool grows likewise, up to this (0 or above the
	 * kernel's limit: that limit, THINSNAP_POOL_METADATA_MAX_BYTES, the default) */
	uint64_t autogrow_metadata_max_size_bytes;
	enum thinsnap_config_source source[THINSNAP_CONFIG_N_KEYS];
};

/* Fills *c with the defaults. -ENOMEM; then *c needs no thinsnap_config_clear(). */
int thinsnap_config_init(struct thinsnap_config *c);

/* Frees the strings of *c. Safe on a zeroed or cleared config. */
void thinsnap_config_clear(struct thinsnap_config *c);

/*
 * Sets one value from its text form (a size like "10GB" for BASE_SIZE, as thinsnap_parse_size()
 * reads it; true/false/1/0/yes/no for booleans, a decimal 0..100 for the MIN_FREE
 * percentages), unless a higher-ranked source already set it. -EINVAL on a bad value.
 */
int thinsnap_config_set(struct thinsnap_config *c, enum thinsnap_config_key key, const char *value,
			enum thinsnap_config_source source, struct thinsnap_error *reterr);

/*
 * Parses a config file's text (len bytes, NUL not required). Accepted: comments, blank lines,
 * `version = N`, the tables [thinsnap] and [plugins."io.containerd.snapshotter.v1.devmapper"]
 * (or keys before any table), keys pool_name, root_path, base_image_size (size string or
 * integer bytes), async_remove, discard_blocks, fs_type, fs_options, metrics_address (thinsnapd
 * only: "unix:/PATH", "127.0.0.1:PORT", "[::1]:PORT"), min_free_data_percent and
 * min_free_metadata_percent (integers 0..100, 0 = no floor), thinsnapd's monitor keys
 * autogrow_threshold_percent, autogrow_percent, space_warning_margin_percent (0..100),
 * autogrow_max_size (a size, 0 = no cap), autogrow_metadata_max_size (a size, 0 = the
 * kernel's limit) and monitor_interval (1..86400 s); basic and literal
 * strings, integers, booleans. Anything else is -EINVAL with "line N: ..." in reterr.
 * `name` prefixes the message ("NAME: line N: ..."); may be NULL.
 * On failure *c may hold values from earlier lines.
 */
int thinsnap_config_parse(struct thinsnap_config *c, const char *name, const char *text, size_t len,
			  struct thinsnap_error *reterr);

/* Reads and parses a file. A missing file is -ENOENT (callers decide if that matters). */
int thinsnap_config_load_file(struct thinsnap_config *c, const char *path,
			      struct thinsnap_error *reterr);

/*
 * Applies THINSNAP_STATE_DIR, THINSNAP_POOL, THINSNAP_BASE_IMAGE_SIZE, THINSNAP_FS_TYPE,
 * THINSNAP_FS_OPTIONS, THINSNAP_ASYNC_REMOVE, THINSNAP_DISCARD_BLOCKS, THINSNAP_METRICS_ADDRESS,
 * THINSNAP_MIN_FREE_DATA_PERCENT, THINSNAP_MIN_FREE_METADATA_PERCENT and the monitor's
 * THINSNAP_AUTOGROW_THRESHOLD_PERCENT, THINSNAP_AUTOGROW_PERCENT, THINSNAP_AUTOGROW_MAX_SIZE,
 * THINSNAP_AUTOGROW_METADATA_MAX_SIZE, THINSNAP_MONITOR_INTERVAL,
 * THINSNAP_SPACE_WARNING_MARGIN_PERCENT from envp
 * (a NULL-terminated "NAME=VALUE" array such as environ). Empty values are ignored.
 */
int thinsnap_config_apply_env(struct thinsnap_config *c, char *const *envp,
			      struct thinsnap_error *reterr);

/* The value of NAME in envp, or NULL. */
const char *thinsnap_config_getenv(char *const *envp, const char *name);

/* Parses true/false, 1/0, yes/no, on/off (case-insensitive). -EINVAL otherwise. */
int thinsnap_config_parse_bool(const char *s, bool *ret);

/* The name of a key in the file ("root_path", ...); a static string. */
const char *thinsnap_config_key_name(enum thinsnap_config_key key);

/* The kind of value key takes. */
enum thinsnap_config_type thinsnap_config_key_type(enum thinsnap_config_key key);

/*
 * Everything below the flags, in order: the file (file, else $THINSNAP_CONFIG from envp, else
 * THINSNAP_CONFIG_DEFAULT_FILE when it exists; an empty name counts as none), then the
 * THINSNAP_* variables of envp. A named file that is missing is -ENOENT. Errors name the file
 * and line or the variable in reterr.
 */
int thinsnap_config_load(struct thinsnap_config *c, const char *file, char *const *envp,
			 struct thinsnap_error *reterr);

/* The flags both programs take, --state-dir and --pool (NULL: not given), ranked as flags. */
int thinsnap_config_set_flags(struct thinsnap_config *c, const char *state_dir,
			      const char *pool_name, struct thinsnap_error *reterr);

/*
 * The library's options from a resolved configuration. The strings are borrowed from c;
 * fs_options "" becomes NULL and a space floor of 0 (none) becomes -1. read_only, log and
 * log_userdata are left zero for the caller.
 */
void thinsnap_config_to_options(const struct thinsnap_config *c, struct thinsnap_options *ret);

/* The auto-grow policy (thinsnapd's monitor, `thinsnap pool autogrow`) from the configuration. */
void thinsnap_config_to_autogrow(const struct thinsnap_config *c,
				 struct thinsnap_autogrow_policy *ret);

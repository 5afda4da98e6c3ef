/*
 * thinsnap's configuration, shared by the thinsnap command and thinsnapd: the keys and their
 * defaults, the value parsers, the THINSNAP_* environment, precedence flag > env > file >
 * default, and the mapping of a resolved configuration to the library's options. The file
 * reader is config_parse.c. Not part of libthinsnap: the library never reads the environment.
 */
#include "config/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/cleanup.h"
#include "base/parse.h"

static const char *const file_keys[THINSNAP_CONFIG_N_KEYS] = {
	[THINSNAP_CONFIG_STATE_DIR] = "root_path",
	[THINSNAP_CONFIG_POOL_NAME] = "pool_name",
	[THINSNAP_CONFIG_BASE_SIZE] = "base_image_size",
	[THINSNAP_CONFIG_FS_TYPE] = "fs_type",
	[THINSNAP_CONFIG_FS_OPTIONS] = "fs_options",
	[THINSNAP_CONFIG_METRICS_ADDRESS] = "metrics_address",
	[THINSNAP_CONFIG_ASYNC_REMOVE] = "async_remove",
	[THINSNAP_CONFIG_DISCARD_BLOCKS] = "discard_blocks",
	[THINSNAP_CONFIG_MIN_FREE_DATA] = "min_free_data_percent",
	[THINSNAP_CONFIG_MIN_FREE_METADATA] = "min_free_metadata_percent",
	[THINSNAP_CONFIG_AUTOGROW_THRESHOLD] = "autogrow_threshold_percent",
	[THINSNAP_CONFIG_AUTOGROW_PERCENT] = "autogrow_percent",
	[THINSNAP_CONFIG_AUTOGROW_MAX_SIZE] = "autogrow_max_size",
	[THINSNAP_CONFIG_MONITOR_INTERVAL] = "monitor_interval",
	[THINSNAP_CONFIG_WARN_MARGIN] = "space_warning_margin_percent",
	[THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE] = "autogrow_metadata_max_size",
};

static const char *const env_keys[THINSNAP_CONFIG_N_KEYS] = {
	[THINSNAP_CONFIG_STATE_DIR] = "THINSNAP_STATE_DIR",
	[THINSNAP_CONFIG_POOL_NAME] = "THINSNAP_POOL",
	[THINSNAP_CONFIG_BASE_SIZE] = "THINSNAP_BASE_IMAGE_SIZE",
	[THINSNAP_CONFIG_FS_TYPE] = "THINSNAP_FS_TYPE",
	[THINSNAP_CONFIG_FS_OPTIONS] = "THINSNAP_FS_OPTIONS",
	[THINSNAP_CONFIG_METRICS_ADDRESS] = "THINSNAP_METRICS_ADDRESS",
	[THINSNAP_CONFIG_ASYNC_REMOVE] = "THINSNAP_ASYNC_REMOVE",
	[THINSNAP_CONFIG_DISCARD_BLOCKS] = "THINSNAP_DISCARD_BLOCKS",
	[THINSNAP_CONFIG_MIN_FREE_DATA] = "THINSNAP_MIN_FREE_DATA_PERCENT",
	[THINSNAP_CONFIG_MIN_FREE_METADATA] = "THINSNAP_MIN_FREE_METADATA_PERCENT",
	[THINSNAP_CONFIG_AUTOGROW_THRESHOLD] = "THINSNAP_AUTOGROW_THRESHOLD_PERCENT",
	[THINSNAP_CONFIG_AUTOGROW_PERCENT] = "THINSNAP_AUTOGROW_PERCENT",
	[THINSNAP_CONFIG_AUTOGROW_MAX_SIZE] = "THINSNAP_AUTOGROW_MAX_SIZE",
	[THINSNAP_CONFIG_MONITOR_INTERVAL] = "THINSNAP_MONITOR_INTERVAL",
	[THINSNAP_CONFIG_WARN_MARGIN] = "THINSNAP_SPACE_WARNING_MARGIN_PERCENT",
	[THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE] = "THINSNAP_AUTOGROW_METADATA_MAX_SIZE",
};

const char *thinsnap_config_key_name(enum thinsnap_config_key key)
{
	if ((unsigned)key >= THINSNAP_CONFIG_N_KEYS)
		return "unknown";
	return file_keys[key];
}

int thinsnap_config_init(struct thinsnap_config *c)
{
	memset(c, 0, sizeof(*c));
	c->state_dir = strdup(THINSNAP_CONFIG_DEFAULT_STATE_DIR);
	c->pool_name = strdup(THINSNAP_CONFIG_DEFAULT_POOL);
	c->fs_type = strdup(THINSNAP_CONFIG_DEFAULT_FS_TYPE);
	c->fs_options = strdup("");
	c->metrics_address = strdup("");
	c->base_size_bytes = THINSNAP_CONFIG_DEFAULT_BASE_SIZE;
	c->min_free_data_percent = THINSNAP_CONFIG_DEFAULT_MIN_FREE;
	c->min_free_metadata_percent = THINSNAP_CONFIG_DEFAULT_MIN_FREE;
	c->autogrow_threshold_percent = THINSNAP_CONFIG_DEFAULT_AUTOGROW_THRESHOLD;
	c->autogrow_percent = THINSNAP_CONFIG_DEFAULT_AUTOGROW_PERCENT;
	c->monitor_interval_s = THINSNAP_CONFIG_DEFAULT_MONITOR_INTERVAL;
	c->warn_margin_percent = THINSNAP_CONFIG_DEFAULT_WARN_MARGIN;
	c->autogrow_metadata_max_size_bytes = THINSNAP_POOL_METADATA_MAX_BYTES;
	if (!c->state_dir || !c->pool_name || !c->fs_type || !c->fs_options ||
	    !c->metrics_address) {
		thinsnap_config_clear(c);
		return -ENOMEM;
	}
	return 0;
}

void thinsnap_config_clear(struct thinsnap_config *c)
{
	if (!c)
		return;
	free(c->state_dir);
	free(c->pool_name);
	free(c->fs_type);
	free(c->fs_options);
	free(c->metrics_address);
	c->state_dir = c->pool_name = c->fs_type = c->fs_options = c->metrics_address = NULL;
}

int thinsnap_config_parse_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };

	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_string_key(enum thinsnap_config_key key)
{
	return key == THINSNAP_CONFIG_STATE_DIR || key == THINSNAP_CONFIG_POOL_NAME ||
	       key == THINSNAP_CONFIG_FS_TYPE || key == THINSNAP_CONFIG_FS_OPTIONS ||
	       key == THINSNAP_CONFIG_METRICS_ADDRESS;
}

static bool is_bool_key(enum thinsnap_config_key key)
{
	return key == THINSNAP_CONFIG_ASYNC_REMOVE || key == THINSNAP_CONFIG_DISCARD_BLOCKS;
}

static bool is_percent_key(enum thinsnap_config_key key)
{
	return key == THINSNAP_CONFIG_MIN_FREE_DATA || key == THINSNAP_CONFIG_MIN_FREE_METADATA ||
	       key == THINSNAP_CONFIG_AUTOGROW_THRESHOLD ||
	       key == THINSNAP_CONFIG_AUTOGROW_PERCENT || key == THINSNAP_CONFIG_WARN_MARGIN;
}

enum thinsnap_config_type thinsnap_config_key_type(enum thinsnap_config_key key)
{
	if (is_string_key(key))
		return THINSNAP_CONFIG_TYPE_STRING;
	if (is_bool_key(key))
		return THINSNAP_CONFIG_TYPE_BOOL;
	if (is_percent_key(key))
		return THINSNAP_CONFIG_TYPE_PERCENT;
	if (key == THINSNAP_CONFIG_MONITOR_INTERVAL)
		return THINSNAP_CONFIG_TYPE_SECONDS;
	return THINSNAP_CONFIG_TYPE_SIZE;
}

/* monitor_interval: whole seconds, 1 to a day. */
static int parse_seconds(const char *s, unsigned *ret)
{
	unsigned v = 0;

	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 86400)
			return -ERANGE;
	}
	if (*s || v == 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* autogrow_max_size: a size, or 0 for no cap; autogrow_metadata_max_size: 0 for the kernel's
 * limit. */
static int parse_cap(const char *s, uint64_t *ret)
{
	if (strcmp(s, "0") == 0) {
		*ret = 0;
		return 0;
	}
	int r = thinsnap_parse_size(s, ret);
	return r < 0 ? r : *ret == 0 ? -EINVAL : 0;
}

/* A decimal 0..100, an optional '%' after it. */
static int parse_percent(const char *s, unsigned *ret)
{
	unsigned v = 0;
	const char *p = s;

	if (!is_digit(*p))
		return -EINVAL;
	for (; is_digit(*p); p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > 100)
			return -ERANGE;
	}
	if (*p == '%')
		p++;
	if (*p)
		return -EINVAL;
	*ret = v;
	return 0;
}

static char **string_slot(struct thinsnap_config *c, enum thinsnap_config_key key)
{
	switch (key) {
	case THINSNAP_CONFIG_STATE_DIR:
		return &c->state_dir;
	case THINSNAP_CONFIG_POOL_NAME:
		return &c->pool_name;
	case THINSNAP_CONFIG_FS_TYPE:
		return &c->fs_type;
	case THINSNAP_CONFIG_FS_OPTIONS:
		return &c->fs_options;
	case THINSNAP_CONFIG_METRICS_ADDRESS:
		return &c->metrics_address;
	default:
		return NULL;
	}
}

/* The percentages and the monitor interval. */
static unsigned *number_slot(struct thinsnap_config *c, enum thinsnap_config_key key)
{
	switch (key) {
	case THINSNAP_CONFIG_MIN_FREE_DATA:
		return &c->min_free_data_percent;
	case THINSNAP_CONFIG_MIN_FREE_METADATA:
		return &c->min_free_metadata_percent;
	case THINSNAP_CONFIG_AUTOGROW_THRESHOLD:
		return &c->autogrow_threshold_percent;
	case THINSNAP_CONFIG_AUTOGROW_PERCENT:
		return &c->autogrow_percent;
	case THINSNAP_CONFIG_MONITOR_INTERVAL:
		return &c->monitor_interval_s;
	case THINSNAP_CONFIG_WARN_MARGIN:
		return &c->warn_margin_percent;
	default:
		return NULL;
	}
}

/* Checks a string value; returns a reason or NULL. */
static const char *check_string(enum thinsnap_config_key key, const char *value)
{
	if (key == THINSNAP_CONFIG_FS_OPTIONS || key == THINSNAP_CONFIG_METRICS_ADDRESS)
		return NULL; /* empty = none; thinsnapd checks the address */
	if (value[0] == '\0')
		return "must not be empty";
	if (key == THINSNAP_CONFIG_POOL_NAME && (strchr(value, '/') || strlen(value) > 127))
		return "must be a device-mapper name (no '/', at most 127 bytes)";
	return NULL;
}

int thinsnap_config_set(struct thinsnap_config *c, enum thinsnap_config_key key, const char *value,
			enum thinsnap_config_source source, struct thinsnap_error *reterr)
{
	const char *name = thinsnap_config_key_name(key);
	const char *why;
	uint64_t size = 0;
	unsigned pct = 0;
	bool b = false;
	int r;

	if (!c || !value || (unsigned)key >= THINSNAP_CONFIG_N_KEYS)
		return thinsnap_error_setf(reterr, -EINVAL, "invalid config argument");
	if (is_string_key(key)) {
		why = check_string(key, value);
		if (why)
			return thinsnap_error_setf(reterr, -EINVAL, "%s %s", name, why);
	} else if (is_bool_key(key)) {
		if (thinsnap_config_parse_bool(value, &b) < 0)
			return thinsnap_error_setf(reterr, -EINVAL, "%s: bad boolean '%s'", name,
						   value);
	} else if (is_percent_key(key)) {
		r = parse_percent(value, &pct);
		if (r < 0)
			return thinsnap_error_setf(
				reterr, -EINVAL, "%s: bad percentage '%s' (0 to 100)", name, value);
	} else if (key == THINSNAP_CONFIG_MONITOR_INTERVAL) {
		if (parse_seconds(value, &pct) < 0)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "%s: bad interval '%s' (1 to 86400 seconds)",
						   name, value);
	} else if (key == THINSNAP_CONFIG_AUTOGROW_MAX_SIZE ||
		   key == THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE) {
		r = parse_cap(value, &size);
		if (r < 0)
			return thinsnap_error_setf(
				reterr, r, "%s: bad size '%s' (0 = %s)", name, value,
				key == THINSNAP_CONFIG_AUTOGROW_MAX_SIZE ? "no cap"
									 : "the kernel's limit");
		/* the kernel never uses more metadata than its limit: a larger cap is that */
		if (key == THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE &&
		    (size == 0 || size > THINSNAP_POOL_METADATA_MAX_BYTES))
			size = THINSNAP_POOL_METADATA_MAX_BYTES;
	} else {
		r = thinsnap_parse_size(value, &size);
		if (r < 0 || size == 0)
			return thinsnap_error_setf(reterr, r < 0 ? r : -EINVAL, "%s: bad size '%s'",
						   name, value);
	}
	if (source < c->source[key])
		return 0; /* a higher-ranked source already set it */
	if (is_string_key(key)) {
		char **slot = string_slot(c, key);
		char *copy = strdup(value);
		if (!copy)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		free(*slot);
		*slot = copy;
	} else if (key == THINSNAP_CONFIG_ASYNC_REMOVE) {
		c->async_remove = b;
	} else if (key == THINSNAP_CONFIG_DISCARD_BLOCKS) {
		c->discard_blocks = b;
	} else if (number_slot(c, key)) {
		*number_slot(c, key) = pct;
	} else if (key == THINSNAP_CONFIG_AUTOGROW_MAX_SIZE) {
		c->autogrow_max_size_bytes = size;
	} else if (key == THINSNAP_CONFIG_AUTOGROW_METADATA_MAX_SIZE) {
		c->autogrow_metadata_max_size_bytes = size;
	} else {
		c->base_size_bytes = size;
	}
	c->source[key] = source;
	return 0;
}

const char *thinsnap_config_getenv(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

int thinsnap_config_apply_env(struct thinsnap_config *c, char *const *envp,
			      struct thinsnap_error *reterr)
{
	for (unsigned k = 0; k < THINSNAP_CONFIG_N_KEYS; k++) {
		const char *v = thinsnap_config_getenv(envp, env_keys[k]);
		int r;

		if (!v || !*v)
			continue;
		r = thinsnap_config_set(c, k, v, THINSNAP_CONFIG_ENV, reterr);
		if (r < 0) {
			struct thinsnap_error e = { 0 };
			if (reterr)
				e = *reterr;
			return thinsnap_error_setf(reterr, r, "environment %s: %s", env_keys[k],
						   e.msg);
		}
	}
	return 0;
}

int thinsnap_config_load(struct thinsnap_config *c, const char *file, char *const *envp,
			 struct thinsnap_error *reterr)
{
	int r;

	if (!file)
		file = thinsnap_config_getenv(envp, "THINSNAP_CONFIG");
	if (file && !*file)
		file = NULL;
	if (file) {
		r = thinsnap_config_load_file(c, file, reterr);
		if (r < 0)
			return r;
	} else {
		r = thinsnap_config_load_file(c, THINSNAP_CONFIG_DEFAULT_FILE, reterr);
		if (r < 0 && r != -ENOENT)
			return r;
		thinsnap_error_clear(reterr);
	}
	return thinsnap_config_apply_env(c, envp, reterr);
}

int thinsnap_config_set_flags(struct thinsnap_config *c, const char *state_dir,
			      const char *pool_name, struct thinsnap_error *reterr)
{
	int r = 0;

	if (state_dir)
		r = thinsnap_config_set(c, THINSNAP_CONFIG_STATE_DIR, state_dir,
					THINSNAP_CONFIG_FLAG, reterr);
	if (r == 0 && pool_name)
		r = thinsnap_config_set(c, THINSNAP_CONFIG_POOL_NAME, pool_name,
					THINSNAP_CONFIG_FLAG, reterr);
	return r;
}

void thinsnap_config_to_options(const struct thinsnap_config *c, struct thinsnap_options *ret)
{
	*ret = (struct thinsnap_options)THINSNAP_OPTIONS_INIT;
	ret->state_dir = c->state_dir;
	ret->pool_name = c->pool_name;
	ret->base_size_bytes = c->base_size_bytes;
	ret->fs_type = c->fs_type;
	ret->fs_options = c->fs_options[0] ? c->fs_options : NULL;
	ret->async_remove = c->async_remove;
	ret->discard_blocks = c->discard_blocks;
	ret->min_free_data_percent = c->min_free_data_percent ? (int)c->min_free_data_percent : -1;
	ret->min_free_metadata_percent =
		c->min_free_metadata_percent ? (int)c->min_free_metadata_percent : -1;
}

void thinsnap_config_to_autogrow(const struct thinsnap_config *c,
				 struct thinsnap_autogrow_policy *ret)
{
	*ret = (struct thinsnap_autogrow_policy)THINSNAP_AUTOGROW_POLICY_INIT;
	ret->threshold_percent = c->autogrow_threshold_percent;
	ret->grow_percent = c->autogrow_percent;
	ret->max_data_size_bytes = c->autogrow_max_size_bytes;
	ret->max_metadata_size_bytes = c->autogrow_metadata_max_size_bytes;
}

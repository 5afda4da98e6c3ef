/*
 * The configuration file reader: a small strict TOML subset (Debian ships no C TOML library),
 * just enough for containerd's devmapper plugin table and [thinsnap]. Anything it does not know
 * is an error naming the line; see config.h for the subset. Values go through
 * thinsnap_config_set() (config.c) with the rank of a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "config/config.h"

#define MAX_CONFIG_BYTES (1u << 20)

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* ---- the TOML subset ---- */

enum table {
	TABLE_ROOT,      /* keys before any [table] */
	TABLE_THINSNAP,  /* [thinsnap] */
	TABLE_DEVMAPPER, /* [plugins."io.containerd.snapshotter.v1.devmapper"] */
	TABLE_N,
};

enum vtype { V_STRING, V_INTEGER, V_BOOL };

struct parser {
	const char *p, *end;
	unsigned line;
	struct thinsnap_error *reterr;
	const char *name;
	char *buf; /* the current string value or key, malloc'd */
	size_t buf_len, buf_cap;
};

__attribute__((format(printf, 2, 3))) static int perr(struct parser *ps, const char *fmt, ...)
{
	char reason[160];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (ps->name)
		return thinsnap_error_setf(ps->reterr, -EINVAL, "%s: line %u: %s", ps->name,
					   ps->line, reason);
	return thinsnap_error_setf(ps->reterr, -EINVAL, "line %u: %s", ps->line, reason);
}

static int buf_add(struct parser *ps, char ch)
{
	if (ps->buf_len + 2 > ps->buf_cap) {
		size_t cap = ps->buf_cap ? ps->buf_cap * 2 : 64;
		char *b = realloc(ps->buf, cap);
		if (!b)
			return thinsnap_error_setf(ps->reterr, -ENOMEM, "out of memory");
		ps->buf = b;
		ps->buf_cap = cap;
	}
	ps->buf[ps->buf_len++] = ch;
	ps->buf[ps->buf_len] = '\0';
	return 0;
}

static int buf_add_utf8(struct parser *ps, uint32_t cp)
{
	unsigned char out[4];
	size_t n;
	int r;

	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		out[0] = (unsigned char)(0xF0 | (cp >> 18));
		out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		out[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	for (size_t i = 0; i < n; i++) {
		r = buf_add(ps, (char)out[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool at_eol(const struct parser *ps)
{
	return ps->p >= ps->end || *ps->p == '\n' ||
	       (*ps->p == '\r' && ps->p + 1 < ps->end && ps->p[1] == '\n');
}

static void skip_ws(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t'))
		ps->p++;
}

/* After a value or header: optional whitespace and comment, then the end of the line. */
static int expect_eol(struct parser *ps)
{
	skip_ws(ps);
	if (ps->p < ps->end && *ps->p == '#') {
		for (; !at_eol(ps); ps->p++) {
			unsigned char ch = (unsigned char)*ps->p;
			if ((ch < 0x20 && ch != '\t') || ch == 0x7F)
				return perr(ps, "control character in a comment");
		}
	}
	if (!at_eol(ps))
		return perr(ps, "unexpected '%.1s' after the value", ps->p);
	return 0;
}

static int parse_hex(struct parser *ps, unsigned digits, uint32_t *ret)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < digits; i++, ps->p++) {
		char ch = ps->p < ps->end ? *ps->p : '\0';
		v <<= 4;
		if (ch >= '0' && ch <= '9')
			v |= (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			v |= (uint32_t)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			v |= (uint32_t)(ch - 'A' + 10);
		else
			return perr(ps, "bad \\u escape");
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return perr(ps, "bad unicode code point");
	*ret = v;
	return 0;
}

/* A "basic" or 'literal' one-line string at ps->p into ps->buf. */
static int parse_string(struct parser *ps)
{
	char quote = *ps->p++;
	int r;

	ps->buf_len = 0;
	r = buf_add(ps, 'x'); /* make sure buf exists, then empty it */
	if (r < 0)
		return r;
	ps->buf_len = 0;
	ps->buf[0] = '\0';
	if (ps->p + 1 < ps->end && ps->p[0] == quote && ps->p[1] == quote)
		return perr(ps, "multi-line strings are not supported");
	for (;;) {
		unsigned char ch;

		if (at_eol(ps))
			return perr(ps, "unterminated string");
		ch = (unsigned char)*ps->p++;
		if (ch == (unsigned char)quote)
			return 0;
		if ((ch < 0x20 && ch != '\t') || ch == 0x7F)
			return perr(ps, "control character in a string");
		if (ch == '\\' && quote == '"') {
			char e = ps->p < ps->end ? *ps->p++ : '\0';
			uint32_t cp = 0;
			switch (e) {
			case 'b':
				r = buf_add(ps, '\b');
				break;
			case 't':
				r = buf_add(ps, '\t');
				break;
			case 'n':
				r = buf_add(ps, '\n');
				break;
			case 'f':
				r = buf_add(ps, '\f');
				break;
			case 'r':
				r = buf_add(ps, '\r');
				break;
			case '"':
				r = buf_add(ps, '"');
				break;
			case '\\':
				r = buf_add(ps, '\\');
				break;
			case 'u':
			case 'U':
				r = parse_hex(ps, e == 'u' ? 4 : 8, &cp);
				if (r == 0 && cp == 0)
					r = perr(ps, "NUL in a string");
				if (r == 0)
					r = buf_add_utf8(ps, cp);
				break;
			default:
				r = perr(ps, "bad escape in a string");
				break;
			}
		} else {
			r = buf_add(ps, (char)ch);
		}
		if (r < 0)
			return r;
	}
}

static bool is_bare_key_char(char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || is_digit(ch) || ch == '_' ||
	       ch == '-';
}

/* One key part, bare or quoted, into ps->buf. */
static int parse_key_part(struct parser *ps)
{
	if (ps->p < ps->end && (*ps->p == '"' || *ps->p == '\''))
		return parse_string(ps);
	ps->buf_len = 0;
	if (ps->p >= ps->end || !is_bare_key_char(*ps->p))
		return perr(ps, "expected a key");
	while (ps->p < ps->end && is_bare_key_char(*ps->p)) {
		int r = buf_add(ps, *ps->p++);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_header(struct parser *ps, enum table *ret)
{
	char first[64] = "";
	unsigned n_parts = 0;
	enum table t = TABLE_N;
	int r;

	ps->p++; /* '[' */
	if (ps->p < ps->end && *ps->p == '[')
		return perr(ps, "arrays of tables are not supported");
	for (;;) {
		skip_ws(ps);
		r = parse_key_part(ps);
		if (r < 0)
			return r;
		n_parts++;
		if (n_parts == 1) {
			if (ps->buf_len >= sizeof(first))
				return perr(ps, "unknown table");
			memcpy(first, ps->buf, ps->buf_len + 1);
			t = strcmp(first, "thinsnap") == 0 ? TABLE_THINSNAP : TABLE_N;
		} else if (n_parts == 2 && strcmp(first, "plugins") == 0 &&
			   strcmp(ps->buf, "io.containerd.snapshotter.v1.devmapper") == 0) {
			t = TABLE_DEVMAPPER;
		} else {
			t = TABLE_N;
		}
		skip_ws(ps);
		if (ps->p < ps->end && *ps->p == '.') {
			ps->p++;
			continue;
		}
		break;
	}
	if (ps->p >= ps->end || *ps->p != ']')
		return perr(ps, "expected ']'");
	ps->p++;
	if (t == TABLE_N || (t == TABLE_THINSNAP && n_parts != 1))
		return perr(ps, "unknown table (expected [thinsnap] or "
				"[plugins.\"io.containerd.snapshotter.v1.devmapper\"])");
	*ret = t;
	return expect_eol(ps);
}

static int parse_integer(struct parser *ps, int64_t *ret)
{
	bool neg = false, digit_before = false;
	uint64_t v = 0;

	if (*ps->p == '+' || *ps->p == '-')
		neg = *ps->p++ == '-';
	if (ps->p + 1 < ps->end && ps->p[0] == '0' && is_digit(ps->p[1]))
		return perr(ps, "leading zeros in an integer");
	if (ps->p + 1 < ps->end && ps->p[0] == '0' &&
	    (ps->p[1] == 'x' || ps->p[1] == 'o' || ps->p[1] == 'b'))
		return perr(ps, "only decimal integers are supported");
	while (ps->p < ps->end && (is_digit(*ps->p) || *ps->p == '_')) {
		if (*ps->p == '_') {
			if (!digit_before || ps->p + 1 >= ps->end || !is_digit(ps->p[1]))
				return perr(ps, "misplaced '_' in an integer");
			ps->p++;
			continue;
		}
		if (v > (UINT64_MAX - 9) / 10)
			return perr(ps, "integer out of range");
		v = v * 10 + (uint64_t)(*ps->p++ - '0');
		digit_before = true;
	}
	if (!digit_before)
		return perr(ps, "expected a value");
	if (ps->p < ps->end && (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E' || *ps->p == ':'))
		return perr(ps, "floats and dates are not supported");
	if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return perr(ps, "integer out of range");
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Parses the value at ps->p; strings land in ps->buf. */
static int parse_value(struct parser *ps, enum vtype *ret_type, int64_t *ret_int, bool *ret_bool)
{
	char ch = ps->p < ps->end ? *ps->p : '\0';
	int r;

	if (ch == '"' || ch == '\'') {
		*ret_type = V_STRING;
		return parse_string(ps);
	}
	if (ch == 't' || ch == 'f') {
		size_t left = (size_t)(ps->end - ps->p);
		if (left >= 4 && memcmp(ps->p, "true", 4) == 0) {
			ps->p += 4;
			*ret_bool = true;
		} else if (left >= 5 && memcmp(ps->p, "false", 5) == 0) {
			ps->p += 5;
			*ret_bool = false;
		} else {
			return perr(ps, "unsupported value");
		}
		if (ps->p < ps->end && is_bare_key_char(*ps->p))
			return perr(ps, "unsupported value");
		*ret_type = V_BOOL;
		return 0;
	}
	if (ch == '+' || ch == '-' || is_digit(ch)) {
		r = parse_integer(ps, ret_int);
		*ret_type = V_INTEGER;
		return r;
	}
	if (ch == '[' || ch == '{')
		return perr(ps, "arrays and inline tables are not supported");
	if (at_eol(ps))
		return perr(ps, "expected a value");
	return perr(ps, "unsupported value");
}

static int apply_value(struct parser *ps, struct thinsnap_config *c, enum thinsnap_config_key key,
		       enum vtype type, int64_t iv, bool bv)
{
	enum thinsnap_config_type kind = thinsnap_config_key_type(key);
	const char *name = thinsnap_config_key_name(key);
	struct thinsnap_error e = { 0 };
	char num[32];
	const char *text = ps->buf;
	int r;

	if (kind == THINSNAP_CONFIG_TYPE_STRING && type != V_STRING)
		return perr(ps, "'%s' must be a string", name);
	if (kind == THINSNAP_CONFIG_TYPE_BOOL) {
		if (type != V_BOOL)
			return perr(ps, "'%s' must be a boolean", name);
		text = bv ? "true" : "false";
	}
	if (kind == THINSNAP_CONFIG_TYPE_PERCENT) {
		if (type != V_INTEGER)
			return perr(ps, "'%s' must be an integer", name);
		(void)snprintf(num, sizeof(num), "%lld", (long long)iv);
		if (iv < 0)
			return perr(ps, "'%s' must be 0 to 100", name);
		text = num;
	}
	if (key == THINSNAP_CONFIG_MONITOR_INTERVAL) {
		if (type != V_INTEGER)
			return perr(ps, "'%s' must be an integer", name);
		(void)snprintf(num, sizeof(num), "%lld", (long long)iv);
		text = num;
	}
	if (key == THINSNAP_CONFIG_BASE_SIZE || key == THINSNAP_CONFIG_AUTOGROW_MAX_SIZE) {
		if (type == V_BOOL)
			return perr(ps, "'%s' must be a size string or an integer", name);
		if (type == V_INTEGER) {
			if (iv < 0 || (iv == 0 && key == THINSNAP_CONFIG_BASE_SIZE))
				return perr(ps, "'%s' must be positive", name);
			(void)snprintf(num, sizeof(num), "%lld", (long long)iv);
			text = num;
		}
	}
	r = thinsnap_config_set(c, key, text, THINSNAP_CONFIG_FILE, &e);
	if (r == -ENOMEM)
		return thinsnap_error_setf(ps->reterr, r, "out of memory");
	if (r < 0)
		return perr(ps, "%s", e.msg);
	return 0;
}

int thinsnap_config_parse(struct thinsnap_config *c, const char *name, const char *text, size_t len,
			  struct thinsnap_error *reterr)
{
	CLEANUP_FREE char *buf_owner = NULL;
	struct parser ps = {
		.p = text, .end = text + len, .line = 0, .reterr = reterr, .name = name
	};
	unsigned key_line[THINSNAP_CONFIG_N_KEYS] = { 0 };
	bool table_seen[TABLE_N] = { false };
	bool version_seen = false;
	enum table table = TABLE_ROOT;
	int r = 0;

	if (!c || (!text && len))
		return thinsnap_error_setf(reterr, -EINVAL, "invalid config argument");
	if (len && memchr(text, '\0', len)) {
		ps.line = 1;
		for (const char *q = text; *q; q++)
			ps.line += *q == '\n';
		return perr(&ps, "NUL byte");
	}
	while (ps.p < ps.end && r == 0) {
		ps.line++;
		skip_ws(&ps);
		if (ps.p < ps.end && *ps.p == '[') {
			enum table t = TABLE_ROOT;
			r = parse_header(&ps, &t);
			if (r == 0 && table_seen[t])
				r = perr(&ps, "table defined twice");
			if (r == 0) {
				table_seen[t] = true;
				table = t;
			}
		} else if (ps.p < ps.end && *ps.p != '#' && !at_eol(&ps)) {
			enum thinsnap_config_key key = THINSNAP_CONFIG_N_KEYS;
			enum vtype type = V_STRING;
			int64_t iv = 0;
			bool bv = false;

			r = parse_key_part(&ps);
			if (r < 0)
				break;
			for (unsigned k = 0; k < THINSNAP_CONFIG_N_KEYS; k++)
				if (strcmp(ps.buf, thinsnap_config_key_name(k)) == 0)
					key = k;
			bool is_version = table == TABLE_ROOT && strcmp(ps.buf, "version") == 0;
			if (key == THINSNAP_CONFIG_N_KEYS && !is_version) {
				char k[64];
				(void)snprintf(k, sizeof(k), "%s", ps.buf);
				r = perr(&ps, "unknown key '%s'", k);
				break;
			}
			skip_ws(&ps);
			if (ps.p < ps.end && *ps.p == '.') {
				r = perr(&ps, "dotted keys are not supported");
				break;
			}
			if (ps.p >= ps.end || *ps.p != '=') {
				r = perr(&ps, "expected '='");
				break;
			}
			ps.p++;
			skip_ws(&ps);
			r = parse_value(&ps, &type, &iv, &bv);
			if (r < 0)
				break;
			if (is_version) {
				if (version_seen)
					r = perr(&ps, "'version' set twice");
				else if (type != V_INTEGER || iv < 1 || iv > 3)
					r = perr(&ps, "'version' must be 1, 2 or 3");
				version_seen = true;
			} else if (key_line[key]) {
				char prev[96];
				(void)snprintf(prev, sizeof(prev), "'%s' already set on line %u",
					       thinsnap_config_key_name(key), key_line[key]);
				r = perr(&ps, "%s", prev);
			} else {
				key_line[key] = ps.line;
				r = apply_value(&ps, c, key, type, iv, bv);
			}
		}
		if (r == 0)
			r = expect_eol(&ps);
		/* to the next line */
		while (r == 0 && ps.p < ps.end && *ps.p != '\n')
			ps.p++;
		if (ps.p < ps.end)
			ps.p++;
	}
	buf_owner = ps.buf;
	return r;
}

int thinsnap_config_load_file(struct thinsnap_config *c, const char *path,
			      struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int fd = -EBADF;
	CLEANUP_FREE char *text = NULL;
	struct stat st;
	size_t len = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return thinsnap_error_setf(reterr, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0)
		return thinsnap_error_setf(reterr, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return thinsnap_error_setf(reterr, -EINVAL, "%s: not a regular file", path);
	if (st.st_size > MAX_CONFIG_BYTES)
		return thinsnap_error_setf(reterr, -EFBIG, "%s: larger than %u bytes", path,
					   MAX_CONFIG_BYTES);
	text = malloc((size_t)st.st_size + 1);
	if (!text)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return thinsnap_error_setf(reterr, -errno, "%s: %s", path, strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return thinsnap_config_parse(c, path, text, len, reterr);
}

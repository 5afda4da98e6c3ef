/*
 * containerd's filter language: a scanner over UTF-8 runes, a recursive-descent parser that
 * builds an OR of ANDs of selectors, and the matcher. The tokens, their positions and the error
 * texts follow containerd's filters package so that clients see the same messages.
 */
#include "snap/filter.h"

#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

enum op { OP_PRESENT, OP_EQUAL, OP_NOT_EQUAL, OP_MATCHES };

struct selector {
	char **path;
	size_t depth;
	enum op op;
	char *value;
	regex_t re;
	bool has_re;
};

struct conjunction { /* one filter string: all selectors must match */
	struct selector *sel;
	size_t n;
};

struct thinsnap_filter { /* any conjunction may match; none at all matches everything */
	struct conjunction *any;
	size_t n;
	bool all;
};

/* Tokens are negative; a scan that finds none of them returns the rune it stopped at. */
enum {
	TOK_EOF = -1,
	TOK_QUOTED = -2,
	TOK_VALUE = -3,
	TOK_FIELD = -4,
	TOK_SEPARATOR = -5,
	TOK_OPERATOR = -6,
	TOK_ILLEGAL = -7,
};

struct scanner {
	const char *in;
	size_t len;
	size_t pos;  /* start of the current rune */
	size_t ppos; /* end of the current rune */
	bool value;  /* after an operator: the next plain token is a value */
	const char *err;
};

struct token {
	int32_t tok;
	size_t pos, end;
};

/* Decodes one UTF-8 rune as Go does: -1 (width 1) for invalid, overlong or surrogate input. */
static int32_t decode_rune(const unsigned char *p, size_t n, size_t *w)
{
	uint32_t r;
	size_t need;

	*w = 1;
	if (p[0] < 0x80)
		return p[0];
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 2;
		r = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		r = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		r = p[0] & 0x07;
	} else {
		return -1;
	}
	if (n < need)
		return -1;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return -1;
		r = (r << 6) | (p[i] & 0x3f);
	}
	if ((need == 3 && r < 0x800) || (need == 4 && (r < 0x10000 || r > 0x10ffff)) ||
	    (r >= 0xd800 && r <= 0xdfff))
		return -1;
	*w = need;
	return (int32_t)r;
}

static void scan_error(struct scanner *s, const char *msg)
{
	if (!s->err)
		s->err = msg;
}

static int32_t next(struct scanner *s)
{
	int32_t r;
	size_t w;

	s->pos = s->ppos;
	if (s->ppos >= s->len)
		return TOK_EOF;
	r = decode_rune((const unsigned char *)s->in + s->ppos, s->len - s->ppos, &w);
	s->ppos += w;
	if (r < 0) {
		scan_error(s, "rune error");
		return TOK_ILLEGAL;
	}
	return r;
}

static int32_t peek(struct scanner *s)
{
	size_t pos = s->pos, ppos = s->ppos;
	int32_t ch = next(s);

	s->pos = pos;
	s->ppos = ppos;
	return ch;
}

/* Go's unicode.IsSpace. */
static bool is_space(int32_t r)
{
	switch (r) {
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
	case ' ':
	case 0x85:
	case 0xa0:
	case 0x1680:
	case 0x2028:
	case 0x2029:
	case 0x202f:
	case 0x205f:
	case 0x3000:
		return true;
	}
	return r >= 0x2000 && r <= 0x200a;
}

static bool is_field_rune(int32_t r)
{
	return r == '-' || r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') ||
	       (r >= '0' && r <= '9');
}

static bool is_operator_rune(int32_t r)
{
	return r == '=' || r == '!' || r == '~';
}

static bool is_quote_rune(int32_t r)
{
	return r == '"' || r == '/' || r == '|';
}

static bool is_separator_rune(int32_t r)
{
	return r == ',' || r == '.';
}

/* Printable, not a space or ','; beyond ASCII: anything but C1 controls and spaces. */
static bool is_value_rune(int32_t r)
{
	if (r < 0 || r == ',' || is_space(r))
		return false;
	if (r < 0x80)
		return r > 0x20 && r < 0x7f;
	return r >= 0xa0;
}

static int digit_val(int32_t ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return 16;
}

static int32_t scan_digits(struct scanner *s, int32_t ch, int base, int n, bool *legal)
{
	while (n > 0 && digit_val(ch) < base) {
		ch = next(s);
		n--;
	}
	*legal = n == 0;
	if (n > 0)
		scan_error(s, "illegal numeric escape sequence");
	return ch;
}

/*
 * Go's escapes after a backslash, for the scanner and unquote alike: \a \b \f \n \r \t \v \\
 * stand for one byte (*ret_byte; no digits); \x takes 2 hex digits, \u 4, \U 8; \0 to \7
 * begin 3 octal digits, this one the first. False for any other rune (the quote's own
 * escape is the caller's).
 */
static bool escape_kind(int32_t c, char *ret_byte, int *ret_base, int *ret_digits)
{
	static const char letter[] = "abfnrtv\\", byte[] = "\a\b\f\n\r\t\v\\";
	const char *l = c > 0 && c < 0x80 ? strchr(letter, (int)c) : NULL;

	*ret_byte = 0;
	*ret_base = 16;
	*ret_digits = 0;
	if (l) {
		*ret_byte = byte[l - letter];
	} else if (c == 'x') {
		*ret_digits = 2;
	} else if (c == 'u') {
		*ret_digits = 4;
	} else if (c == 'U') {
		*ret_digits = 8;
	} else if (c >= '0' && c <= '7') {
		*ret_base = 8;
		*ret_digits = 3;
	} else {
		return false;
	}
	return true;
}

/* After a backslash; returns the rune after the escape. */
static int32_t scan_escape(struct scanner *s, int32_t quote, bool *legal)
{
	int32_t ch = next(s);
	int base, digits;
	char byte;

	*legal = false;
	if (escape_kind(ch, &byte, &base, &digits)) {
		if (digits == 0) {
			*legal = true;
			return next(s);
		}
		/* an octal escape's first digit is ch itself */
		return scan_digits(s, base == 8 ? ch : next(s), base, digits, legal);
	}
	if (ch == quote) {
		*legal = true;
		return next(s);
	}
	scan_error(s, "illegal escape sequence");
	return ch;
}

static bool scan_quoted(struct scanner *s, int32_t quote)
{
	bool illegal = false;
	int32_t ch = next(s);

	while (ch != quote) {
		if (ch == '\n' || ch < 0) {
			scan_error(s, "quoted literal not terminated");
			return false;
		}
		if (ch == '\\') {
			bool legal = false;
			ch = scan_escape(s, quote, &legal);
			if (!legal)
				illegal = true;
		} else {
			ch = next(s);
		}
	}
	return !illegal;
}

static struct token scan(struct scanner *s)
{
	int32_t ch = next(s);
	size_t pos = s->pos;

	while (ch >= 0 && is_space(ch)) {
		ch = next(s);
		pos = s->pos;
	}
	if (ch < 0) /* EOF, or an illegal rune (s->err says which) */
		return (struct token){ ch, s->pos, s->pos };
	if (is_quote_rune(ch)) {
		bool ok = scan_quoted(s, ch);
		return (struct token){ ok ? TOK_QUOTED : TOK_ILLEGAL, pos, s->ppos };
	}
	if (is_separator_rune(ch)) {
		s->value = false;
		return (struct token){ TOK_SEPARATOR, pos, s->ppos };
	}
	if (is_operator_rune(ch)) {
		while (is_operator_rune(peek(s)))
			(void)next(s);
		s->value = true;
		return (struct token){ TOK_OPERATOR, pos, s->ppos };
	}
	if (s->value) {
		while (is_value_rune(peek(s)))
			(void)next(s);
		s->value = false;
		return (struct token){ TOK_VALUE, pos, s->ppos };
	}
	if (is_field_rune(ch)) {
		while (is_field_rune(peek(s)))
			(void)next(s);
		return (struct token){ TOK_FIELD, pos, s->ppos };
	}
	return (struct token){ ch, s->pos, s->pos };
}

/* Appends rune r as UTF-8 (surrogates become U+FFFD, as Go's utf8.EncodeRune does). */
static size_t encode_rune(char *out, uint32_t r)
{
	if (r >= 0xd800 && r <= 0xdfff)
		r = 0xfffd;
	if (r < 0x80) {
		out[0] = (char)r;
		return 1;
	}
	if (r < 0x800) {
		out[0] = (char)(0xc0 | (r >> 6));
		out[1] = (char)(0x80 | (r & 0x3f));
		return 2;
	}
	if (r < 0x10000) {
		out[0] = (char)(0xe0 | (r >> 12));
		out[1] = (char)(0x80 | ((r >> 6) & 0x3f));
		out[2] = (char)(0x80 | (r & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (r >> 18));
	out[1] = (char)(0x80 | ((r >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((r >> 6) & 0x3f));
	out[3] = (char)(0x80 | (r & 0x3f));
	return 4;
}

/*
 * Go's strconv.Unquote extended to / and | delimiters (containerd's quote.go). The result
 * can't hold NUL (a C string): \0-style escapes that give one are refused too.
 */
static int unquote(const char *s, size_t n, char **ret)
{
	CLEANUP_FREE char *buf = NULL;
	char quote;
	size_t o = 0;

	if (n < 2 || s[0] != s[n - 1])
		return -EINVAL;
	quote = s[0];
	if (quote != '"' && quote != '/' && quote != '|')
		return -EINVAL;
	s++;
	n -= 2;
	if (memchr(s, '\n', n))
		return -EINVAL;
	buf = malloc(n + 1); /* escapes never grow: \u (6) encodes in at most 3, \U (10) in 4 */
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		int base, digits;
		uint32_t v = 0;
		char byte;

		if (c == (unsigned char)quote)
			return -EINVAL;
		if (c != '\\') {
			buf[o++] = (char)c;
			i++;
			continue;
		}
		if (i + 1 >= n)
			return -EINVAL;
		c = (unsigned char)s[i + 1];
		i += 2;
		if (!escape_kind(c, &byte, &base, &digits)) {
			if (c != (unsigned char)quote) /* \" in "...", \/ in /.../, \| in |...| */
				return -EINVAL;
			buf[o++] = (char)c;
			continue;
		}
		if (digits == 0) {
			buf[o++] = byte;
			continue;
		}
		if (base == 8) { /* c is the first of its digits */
			v = c - '0';
			digits--;
		}
		if (i + (size_t)digits > n)
			return -EINVAL;
		for (int j = 0; j < digits; j++) {
			int d = digit_val((unsigned char)s[i + (size_t)j]);
			if (d >= base)
				return -EINVAL;
			v = v * (uint32_t)base + (uint32_t)d;
		}
		i += (size_t)digits;
		if (v == 0 || v > (base == 8 ? 255 : 0x10ffff))
			return -EINVAL;
		if (c == 'x' || base == 8)
			buf[o++] = (char)v; /* one byte, maybe not UTF-8 */
		else
			o += encode_rune(buf + o, v);
	}
	buf[o] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

struct parser {
	const char *input;
	struct scanner sc;
	struct thinsnap_error *reterr;
};

static int mkerr(struct parser *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int mkerr(struct parser *p, size_t pos, const char *fmt, ...)
{
	char msg[160];
	size_t len = strlen(p->input);
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pos < len)
		return thinsnap_error_setf(p->reterr, -EINVAL,
					   "filters: parse error: [%.*s >|%c|< %s]: %s", (int)pos,
					   p->input, p->input[pos], p->input + pos + 1, msg);
	return thinsnap_error_setf(p->reterr, -EINVAL, "filters: parse error: [%s]: %s", p->input,
				   msg);
}

static int unquote_at(struct parser *p, struct token t, bool allow_alts, char **ret)
{
	int r;

	if (!allow_alts && p->input[t.pos] != '"')
		return mkerr(p, t.pos, "invalid quote encountered");
	r = unquote(p->input + t.pos, t.end - t.pos, ret);
	if (r == -ENOMEM)
		return thinsnap_error_setf(p->reterr, r, "out of memory");
	if (r < 0)
		return mkerr(p, t.pos, "unquoting failed: quote syntax error");
	return 0;
}

static int field(struct parser *p, char **ret)
{
	struct token t = scan(&p->sc);

	switch (t.tok) {
	case TOK_FIELD:
		*ret = strndup(p->input + t.pos, t.end - t.pos);
		return *ret ? 0 : thinsnap_error_setf(p->reterr, -ENOMEM, "out of memory");
	case TOK_QUOTED:
		return unquote_at(p, t, false, ret);
	case TOK_ILLEGAL:
		return mkerr(p, t.pos, "%s", p->sc.err ? p->sc.err : "illegal input");
	}
	return mkerr(p, t.pos, "expected field or quoted");
}

static void selector_clear(struct selector *s)
{
	for (size_t i = 0; i < s->depth; i++)
		free(s->path[i]);
	free(s->path);
	free(s->value);
	if (s->has_re)
		regfree(&s->re);
	*s = (struct selector){ 0 };
}

static int fieldpath(struct parser *p, struct selector *sel)
{
	for (;;) {
		char *f = NULL;
		char **np;
		int r = field(p, &f);

		if (r < 0)
			return r;
		np = realloc(sel->path, (sel->depth + 1) * sizeof(*np));
		if (!np) {
			free(f);
			return thinsnap_error_setf(p->reterr, -ENOMEM, "out of memory");
		}
		sel->path = np;
		sel->path[sel->depth++] = f;
		if (peek(&p->sc) != '.')
			return 0;
		(void)scan(&p->sc); /* the '.' separator */
	}
}

/*
 * glibc's regcomp copies a repeated subexpression once per '+' and per count of {n,m}, so
 * a++++ or (a{99}){99} take exponential time and memory. Refuses stacked quantifiers, as RE2
 * does, and bounds length times the product of all repetition factors (as if all nested).
 * Returns NULL or why the pattern is refused.
 */
static const char *regexp_too_complex(const char *re)
{
	double product = 1;
	bool after_quantifier = false;
	size_t len = strlen(re);

	for (const char *c = re; *c; c++) {
		double factor = 0;

		if (*c == '\\' && c[1]) {
			c++;
		} else if (*c == '[') { /* a bracket expression: ']' first is literal */
			c++;
			if (*c == '^')
				c++;
			if (*c == ']')
				c++;
			while (*c && *c != ']') {
				if (*c == '[' && (c[1] == ':' || c[1] == '.' || c[1] == '=')) {
					const char *e = strchr(c + 2, c[1]);
					c = e && e[1] == ']' ? e + 1 : c;
				}
				c++;
			}
			if (!*c)
				break; /* unterminated: regcomp will say so */
		} else if (*c == '*' || *c == '?') {
			factor = 1;
		} else if (*c == '+') {
			factor = 2;
		} else if (*c == '{' && c[1] >= '0' && c[1] <= '9') {
			char *end = NULL;
			unsigned long n = strtoul(c + 1, &end, 10);

			if (*end == ',' && end[1] >= '0' && end[1] <= '9')
				n = strtoul(end + 1, &end, 10);
			factor = n > 1 ? (double)n : 1;
			c = *end == '}' ? end : c;
		}
		if (factor > 0) {
			if (after_quantifier)
				return "invalid nested repetition operator";
			product *= factor;
		}
		after_quantifier = factor > 0;
	}
	if (len > 4096 || product * (double)(len ? len : 1) > 262144)
		return "too complex";
	return NULL;
}

static int selector(struct parser *p, struct selector *sel)
{
	struct token t;
	int32_t ch;
	int r;

	r = fieldpath(p, sel);
	if (r < 0)
		return r;
	ch = peek(&p->sc);
	if (ch == ',' || ch == TOK_EOF) {
		sel->op = OP_PRESENT;
		return 0;
	}
	t = scan(&p->sc);
	if (t.tok != TOK_OPERATOR)
		return mkerr(p, t.pos, "expected an operator (\"==\"|\"!=\"|\"~=\")");
	if (t.end - t.pos == 2 && strncmp(p->input + t.pos, "==", 2) == 0)
		sel->op = OP_EQUAL;
	else if (t.end - t.pos == 2 && strncmp(p->input + t.pos, "!=", 2) == 0)
		sel->op = OP_NOT_EQUAL;
	else if (t.end - t.pos == 2 && strncmp(p->input + t.pos, "~=", 2) == 0)
		sel->op = OP_MATCHES;
	else
		return mkerr(p, t.pos, "unsupported operator \"%.*s\"", (int)(t.end - t.pos),
			     p->input + t.pos);

	t = scan(&p->sc);
	switch (t.tok) {
	case TOK_VALUE:
	case TOK_FIELD:
		sel->value = strndup(p->input + t.pos, t.end - t.pos);
		if (!sel->value)
			return thinsnap_error_setf(p->reterr, -ENOMEM, "out of memory");
		break;
	case TOK_QUOTED:
		r = unquote_at(p, t, sel->op == OP_MATCHES, &sel->value);
		if (r < 0)
			return r;
		break;
	case TOK_ILLEGAL:
		return mkerr(p, t.pos, "%s", p->sc.err ? p->sc.err : "illegal input");
	default:
		return mkerr(p, t.pos, "expected value or quoted");
	}
	if (sel->op == OP_MATCHES) {
		const char *why = regexp_too_complex(sel->value);
		if (why)
			return mkerr(p, t.pos, "compile regexp: %s", why);
		r = regcomp(&sel->re, sel->value, REG_EXTENDED | REG_NOSUB);
		if (r != 0) {
			char buf[96];
			(void)regerror(r, &sel->re, buf, sizeof(buf));
			return mkerr(p, t.pos, "compile regexp: %s", buf);
		}
		sel->has_re = true;
	}
	return 0;
}

static void conjunction_clear(struct conjunction *c)
{
	for (size_t i = 0; i < c->n; i++)
		selector_clear(&c->sel[i]);
	free(c->sel);
	*c = (struct conjunction){ 0 };
}

static int add_selector(struct parser *p, struct conjunction *c)
{
	struct selector *ns = realloc(c->sel, (c->n + 1) * sizeof(*ns));
	int r;

	if (!ns)
		return thinsnap_error_setf(p->reterr, -ENOMEM, "out of memory");
	c->sel = ns;
	c->sel[c->n] = (struct selector){ 0 };
	r = selector(p, &c->sel[c->n]);
	if (r < 0) {
		selector_clear(&c->sel[c->n]);
		return r;
	}
	c->n++;
	return 0;
}

/* Parses one filter string into c ("" gives no selectors: matches everything). */
static int parse_one(const char *input, struct conjunction *c, struct thinsnap_error *reterr)
{
	struct parser p = { .input = input, .reterr = reterr };
	int r;

	p.sc = (struct scanner){ .in = input, .len = strlen(input) };
	if (!*input)
		return 0;
	r = add_selector(&p, c);
	while (r == 0) {
		int32_t ch = peek(&p.sc);

		if (ch == TOK_EOF)
			return 0;
		if (ch != ',') {
			size_t at = p.sc.ppos;
			char buf[8] = "";

			if (ch >= 0)
				buf[encode_rune(buf, (uint32_t)ch)] = '\0';
			else
				strcpy(buf,
				       "\xef\xbf\xbd"); /* Go prints an illegal rune as U+FFFD */
			return mkerr(&p, at, "unexpected input: %s", buf);
		}
		(void)scan(&p.sc); /* the ',' */
		r = add_selector(&p, c);
	}
	return r;
}

void thinsnap_filter_free(struct thinsnap_filter *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++)
		conjunction_clear(&f->any[i]);
	free(f->any);
	free(f);
}

DEFINE_CLEANUP(struct thinsnap_filter *, thinsnap_filter_free)

int thinsnap_filter_parse(const char *const *filters, size_t n, struct thinsnap_filter **ret,
			  struct thinsnap_error *reterr)
{
	CLEANUP(thinsnap_filter_freep) struct thinsnap_filter *f = NULL;

	if (!ret || (n && !filters))
		return thinsnap_error_setf(reterr, -EINVAL, "filters: no filter or result");
	f = calloc(1, sizeof(*f));
	if (!f)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (n == 0)
		f->all = true;
	else if (!(f->any = calloc(n, sizeof(*f->any))))
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		int r;

		if (!filters[i])
			return thinsnap_error_setf(reterr, -EINVAL, "filters: filter %zu is NULL",
						   i);
		r = parse_one(filters[i], &f->any[i], reterr);
		f->n = i + 1; /* so that free() sees what was parsed */
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(f);
	return 0;
}

static bool selector_match(const struct selector *s, thinsnap_filter_get_fn get, void *userdata)
{
	const char *value = NULL;
	bool present = get(userdata, (const char *const *)s->path, s->depth, &value);

	if (!present || !value)
		value = "";
	switch (s->op) {
	case OP_PRESENT:
		return present;
	case OP_EQUAL:
		return present && strcmp(value, s->value) == 0;
	case OP_NOT_EQUAL:
		return strcmp(value, s->value) != 0;
	case OP_MATCHES:
		return present && regexec(&s->re, value, 0, NULL, 0) == 0;
	}
	return false;
}

bool thinsnap_filter_match(const struct thinsnap_filter *f, thinsnap_filter_get_fn get,
			   void *userdata)
{
	if (!f)
		return false;
	if (f->all)
		return true;
	for (size_t i = 0; i < f->n; i++) {
		bool all = true;

		for (size_t j = 0; j < f->any[i].n && all; j++)
			all = selector_match(&f->any[i].sel[j], get, userdata);
		if (all)
			return true;
	}
	return false;
}

bool thinsnap_filter_label_key(const char *const *fieldpath, size_t depth, char *buf, size_t size)
{
	size_t off = 0;

	if (depth < 2 || strcmp(fieldpath[0], "labels") != 0 || size == 0)
		return false;
	for (size_t i = 1; i < depth; i++) {
		int n = snprintf(buf + off, size - off, "%s%s", i > 1 ? "." : "", fieldpath[i]);
		if (n < 0 || (size_t)n >= size - off)
			return false;
		off += (size_t)n;
	}
	return true;
}

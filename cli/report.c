/*
 * How the thinsnap command reports a failure: one line on stderr naming the verb (and the
 * key), and the exit code that goes with it (1, EXIT_USAGE, EXIT_UNAVAILABLE, EXIT_BUSY).
 * Also the options and option errors that the verbs' getopt loops share.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "cli/cli.h"
#include "cli/format.h"

static int vfail(const struct thinsnap_cli *c, const char *key, const char *fmt, va_list ap)
{
	char msg[1024];
	CLEANUP_FREE char *ekey = NULL, *emsg = NULL;

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	/* keys are arbitrary strings: a newline or an escape sequence must not reach the
	 * terminal as such (thinsnap(1), OUTPUT) */
	emsg = thinsnap_cli_escape(msg);
	if (key) {
		ekey = thinsnap_cli_escape(key);
		fprintf(stderr, "thinsnap: %s %s: %s\n", c->verb, ekey ? ekey : "?",
			emsg ? emsg : msg);
	} else {
		fprintf(stderr, "thinsnap: %s: %s\n", c->verb, emsg ? emsg : msg);
	}
	return 1;
}

int thinsnap_cli_fail(const struct thinsnap_cli *c, const char *key, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vfail(c, key, fmt, ap);
	va_end(ap);
	return 1;
}

int thinsnap_cli_fail_err(const struct thinsnap_cli *c, const char *key, int r,
			  const struct thinsnap_error *e)
{
	if (e && e->msg[0])
		(void)thinsnap_cli_fail(c, key, "%s", e->msg);
	else
		(void)thinsnap_cli_fail(c, key, "%s", strerror(r < 0 ? -r : r));
	/* the pool needs repair or is read-only: not this command's fault (a held lock is
	 * refused earlier, at open, as busy) */
	return thinsnap_code_from_errno(r) == THINSNAP_CODE_UNAVAILABLE ? EXIT_UNAVAILABLE : 1;
}

int thinsnap_cli_usage_error(const struct thinsnap_cli *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vfail(c, NULL, fmt, ap);
	va_end(ap);
	fprintf(stderr, "try 'thinsnap %s --help'\n", c->verb);
	return EXIT_USAGE;
}

int thinsnap_cli_busy(const struct thinsnap_cli *c, const char *key, const struct thinsnap_error *e)
{
	(void)thinsnap_cli_fail(c, key, "busy: %s; %s", e->msg,
				c->wait_ms ? "gave up waiting (--wait)"
					   : "try again, or wait with --wait SECONDS");
	return EXIT_BUSY;
}

void thinsnap_cli_getopt_reset(void)
{
	optind = 0;
	opterr = 0;
}

int thinsnap_cli_bad_option(const struct thinsnap_cli *c, char **argv, int opt)
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		return thinsnap_cli_usage_error(c, "option '%s' needs a value", arg);
	if (optopt && arg[0] == '-' && arg[1] != '-')
		return thinsnap_cli_usage_error(c, "unknown option '-%c'", optopt);
	return thinsnap_cli_usage_error(c, "unknown option '%s'", arg);
}

int thinsnap_cli_output_option(struct thinsnap_cli *c, char **argv, int opt)
{
	switch (opt) {
	case 'j':
		c->json = true;
		return 0;
	case 'q':
		c->quiet = true;
		return 0;
	default:
		return thinsnap_cli_bad_option(c, argv, opt);
	}
}

/*
 * Argument logic of the thinsnap command that needs no library: global options, --help,
 * labels, the embedded pool's sizes. Unit-tested in tests/unit/test-cli-args.c.
 */
#include "cli/args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

/* Matches --NAME VALUE and --NAME=VALUE; advances *i past the value. */
static int take_value(int argc, char **argv, int *i, const char *name, const char **ret,
		      bool *matched, char *err, size_t errlen)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	*matched = false;
	if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '='))
		return 0;
	*matched = true;
	if (a[n] == '=') {
		*ret = a + n + 1;
	} else {
		if (*i + 1 >= argc) {
			(void)snprintf(err, errlen, "option '%s' needs a value", name);
			return -EINVAL;
		}
		*ret = argv[++*i];
	}
	if (!**ret) {
		(void)snprintf(err, errlen, "option '%s' needs a non-empty value", name);
		return -EINVAL;
	}
	return 0;
}

/* "1.5" -> 1500; -EINVAL unless a plain decimal number of seconds from 0 to a day. */
static int parse_wait(const char *s, unsigned *ret_ms)
{
	char *end = NULL;
	double v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0 && v <= 86400))
		return -EINVAL;
	*ret_ms = (unsigned)(v * 1000 + 0.5);
	return 0;
}

int thinsnap_cli_parse_globals(int argc, char **argv, struct thinsnap_cli_globals *ret, char *err,
			       size_t errlen)
{
	struct thinsnap_cli_globals g = { .verb = argc };
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool m = false;
		int r;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == '\0')
			break;
		r = take_value(argc, argv, &i, "--state-dir", &g.state_dir, &m, err, errlen);
		if (r == 0 && !m)
			r = take_value(argc, argv, &i, "--pool", &g.pool, &m, err, errlen);
		if (r == 0 && !m)
			r = take_value(argc, argv, &i, "--config", &g.config, &m, err, errlen);
		if (r == 0 && !m) {
			const char *w = NULL;

			r = take_value(argc, argv, &i, "--wait", &w, &m, err, errlen);
			if (r == 0 && m && parse_wait(w, &g.wait_ms) < 0) {
				(void)snprintf(
					err, errlen,
					"option '--wait' wants seconds (0 to 86400), not '%s'", w);
				r = -EINVAL;
			}
		}
		if (r < 0)
			return r;
		if (m)
			continue;
		if (strcmp(a, "--json") == 0)
			g.json = true;
		else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
			g.quiet = true;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			g.help = true;
		else if (strcmp(a, "--version") == 0)
			g.version = true;
		else {
			(void)snprintf(err, errlen, "unknown option '%s'", a);
			return -EINVAL;
		}
	}
	g.verb = i;
	*ret = g;
	return 0;
}

bool thinsnap_cli_wants_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return false;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	}
	return false;
}

int thinsnap_cli_parse_label(const char *arg, char **ret_key, char **ret_value)
{
	const char *eq = strchr(arg, '=');
	CLEANUP_FREE char *k = NULL;
	CLEANUP_FREE char *v = NULL;

	if (!eq || eq == arg)
		return -EINVAL;
	k = strndup(arg, (size_t)(eq - arg));
	v = strdup(eq + 1);
	if (!k || !v)
		return -ENOMEM;
	*ret_key = TAKE_PTR(k);
	*ret_value = TAKE_PTR(v);
	return 0;
}

int thinsnap_cli_default_pool_sizes(uint64_t free_bytes, uint64_t *ret_data_bytes,
				    uint64_t *ret_metadata_bytes)
{
	const uint64_t MiB = 1ull << 20, GiB = 1ull << 30;
	uint64_t data = free_bytes / 2, meta;

	if (data > 100 * GiB)
		data = 100 * GiB;
	data &= ~(uint64_t)(64 * 1024 - 1);
	if (data < 256 * MiB)
		return -ENOSPC;
	meta = (data / 1024 + MiB - 1) & ~(MiB - 1);
	if (meta < 16 * MiB)
		meta = 16 * MiB;
	if (meta > 16 * GiB)
		meta = 16 * GiB;
	*ret_data_bytes = data;
	*ret_metadata_bytes = meta;
	return 0;
}

/*
 * thinsnapd's log: one line per message on stderr, "thinsnapd[<level>]: <text>", filtered by
 * level. One fprintf per line, so lines from worker threads never interleave.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "daemon/daemon.h"

static enum thinsnap_log_level max_level = THINSNAP_LOG_INFO;

static const char *level_name(enum thinsnap_log_level level)
{
	switch (level) {
	case THINSNAP_LOG_ERROR:
		return "error";
	case THINSNAP_LOG_WARNING:
		return "warning";
	case THINSNAP_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void thinsnap_daemon_log_set_level(enum thinsnap_log_level level)
{
	max_level = level;
}

int thinsnap_daemon_log_parse_level(const char *s, enum thinsnap_log_level *ret)
{
	static const enum thinsnap_log_level all[] = { THINSNAP_LOG_ERROR, THINSNAP_LOG_WARNING,
						       THINSNAP_LOG_INFO, THINSNAP_LOG_DEBUG };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, level_name(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	return -EINVAL;
}

void thinsnap_daemon_log(enum thinsnap_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "thinsnapd[%s]: %s\n", level_name(level), line);
}

void thinsnap_daemon_log_lib(void *userdata, enum thinsnap_log_level level, const char *msg)
{
	(void)userdata;
	thinsnap_daemon_log(level, "%s", msg);
}

/*
 * The thinsnap command: parses global options and dispatches to a verb.
 * Verbs live in cli/<area>.c and register in the table below.
 */
#include <stdio.h>
#include <string.h>

#include <thinsnap/common.h>

#include "cli/cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *help;
} verbs[] = {
	{ "pool", thinsnap_cli_pool, "pool create|status|destroy|grow|transaction-id|list-ids" },
	{ "thin", thinsnap_cli_thin, "thin create|snap|activate|deactivate|delete|info" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: thinsnap [--version] [--help] VERB [ARG...]\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %s\n", verbs[i].help);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("thinsnap %s\n", thinsnap_version());
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].run(argc - 1, argv + 1);
	fprintf(stderr, "thinsnap: unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

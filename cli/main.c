/*
 * The thinsnap command: parses global options and dispatches to a verb.
 * Verbs live in cli/<area>.c and register in the table below.
 */
#include <thinsnap/common.h>

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: thinsnap [--version] [--help] VERB [ARG...]\n");
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
	fprintf(stderr, "thinsnap: unknown verb '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}

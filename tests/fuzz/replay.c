/*
 * Replays a libFuzzer corpus through LLVMFuzzerTestOneInput without libFuzzer, so that
 * `make check` runs every fuzz target's corpus under gcc + ASan + UBSan.
 * Usage: fuzz-X-replay DIR|FILE...; prints one line per input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf;
	long n;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		fclose(f);
		return -1;
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	(void)LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	printf("%s\n", path);
	return 0;
}

int main(int argc, char **argv)
{
	int count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: cannot stat '%s'\n", argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) < 0)
				return 1;
			count++;
			continue;
		}
		struct dirent **names = NULL;
		int n = scandir(argv[i], &names, NULL, alphasort);
		for (int k = 0; k < n; k++) {
			char p[4096];
			if (names[k]->d_name[0] != '.') {
				snprintf(p, sizeof(p), "%s/%s", argv[i], names[k]->d_name);
				if (run_file(p) < 0)
					return 1;
				count++;
			}
			free(names[k]);
		}
		free(names);
	}
	/* LLVMFuzzerTestOneInput on an empty input too */
	(void)LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	fprintf(stderr, "replay: %d inputs\n", count);
	return 0;
}

/* Test helpers: temporary state directories and whole-file copies. */
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tu_mkdtemp(void)
{
	const char *t = getenv("TMPDIR");
	char *p = NULL;

	/* tmpfs when there is one: fsync is free there, and durability is simulated (crashio) */
	if (!t || !*t)
		t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	if (asprintf(&p, "%s/thinsnap-test-XXXXXX", t) < 0)
		abort();
	if (!mkdtemp(p))
		abort();
	return p;
}

static int rm1(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

void tu_rmrf(char *path)
{
	if (!path)
		return;
	(void)nftw(path, rm1, 16, FTW_DEPTH | FTW_PHYS);
	free(path);
}

uint8_t *tu_read(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0) {
		rewind(f);
		p = malloc((size_t)n + 1);
		if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
			free(p);
			p = NULL;
		}
		*ret_len = (size_t)n;
	}
	fclose(f);
	return p;
}

int tu_write(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int r = 0;

	if (fd < 0)
		return -1;
	if (len && write(fd, p, len) != (ssize_t)len)
		r = -1;
	close(fd);
	return r;
}

const char *tu_path(const char *dir, const char *name)
{
	static char buf[4][4096];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
	return buf[k];
}

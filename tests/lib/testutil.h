/* Test helpers: temporary state directories and whole-file copies. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A fresh directory under $TMPDIR, else /dev/shm, else /tmp; a malloc'd path. */
char *tu_mkdtemp(void);
/* rm -rf path (best effort), then frees it. */
void tu_rmrf(char *path);
/* Reads / writes a whole file; tu_read returns malloc'd bytes or NULL. */
uint8_t *tu_read(const char *path, size_t *ret_len);
int tu_write(const char *path, const void *p, size_t len);
/* "<dir>/<name>" in a static buffer per call site use */
const char *tu_path(const char *dir, const char *name);

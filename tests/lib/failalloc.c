/*
 * Allocation failure injection: __wrap_malloc & co. count allocations and fail the armed one.
 * Kept in its own file: gcc assumes malloc never touches the caller's globals. Linked into
 * every test; the __real_* symbols are weak so tests without --wrap still link.
 */
#include "failalloc.h"

#include <errno.h>
#include <stddef.h>

void *__real_malloc(size_t n) __attribute__((weak));
void *__real_calloc(size_t n, size_t m) __attribute__((weak));
void *__real_realloc(void *p, size_t n) __attribute__((weak));
char *__real_strdup(const char *s) __attribute__((weak));
char *__real_strndup(const char *s, size_t n) __attribute__((weak));
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);

static volatile long countdown = -1;
static volatile bool fired;

void failalloc_arm(long n)
{
	fired = false;
	countdown = n;
}

bool failalloc_fired(void)
{
	return fired;
}

void failalloc_disarm(void)
{
	countdown = -1;
}

static bool fail_now(void)
{
	if (countdown < 0)
		return false;
	if (countdown-- == 0) {
		fired = true;
		errno = ENOMEM;
		return true;
	}
	return false;
}

void *__wrap_malloc(size_t n)
{
	return fail_now() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t m)
{
	return fail_now() ? NULL : __real_calloc(n, m);
}

void *__wrap_realloc(void *p, size_t n)
{
	return fail_now() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
	return fail_now() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
	return fail_now() ? NULL : __real_strndup(s, n);
}

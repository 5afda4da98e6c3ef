/*
 * Scope-bound cleanup (GNU C __attribute__((cleanup))) and ownership hand-off macros.
 * Every CLEANUP variable gets an initializer; TAKE_PTR/TAKE_FD make a transfer visible.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CLEANUP(fn) __attribute__((cleanup(fn)))

static inline void freep(void *p)
{
	free(*(void **)p);
}

static inline void closep(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
}

static inline void fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f);
}

#define CLEANUP_FREE   CLEANUP(freep)
#define CLEANUP_CLOSE  CLEANUP(closep)
#define CLEANUP_FCLOSE CLEANUP(fclosep)

#define TAKE_PTR(p)                      \
	({                               \
		__typeof__(p) _tp = (p); \
		(p) = NULL;              \
		_tp;                     \
	})
#define TAKE_FD(fd)             \
	({                      \
		int _tf = (fd); \
		(fd) = -EBADF;  \
		_tf;            \
	})

#define DEFINE_CLEANUP(type, fn)          \
	static inline void fn##p(type *p) \
	{                                 \
		if (*p)                   \
			fn(*p);           \
	}

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

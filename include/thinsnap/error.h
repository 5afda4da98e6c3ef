/*
 * Errors: functions return >= 0 on success and -errno on failure; those that take a
 * struct thinsnap_error fill it with the errno and a one-line message on failure.
 * thinsnap_code_from_errno() maps an errno to containerd's error code (errdefs / gRPC).
 */
#pragma once

#include <thinsnap/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct thinsnap_error {
	int err;       /* negative errno, 0 when unset */
	char msg[256]; /* lowercase, no final period; truncated, never allocated */
};

/* containerd's error codes, numbered as gRPC status codes. */
enum thinsnap_code {
	THINSNAP_CODE_OK = 0,
	THINSNAP_CODE_UNKNOWN = 2,
	THINSNAP_CODE_INVALID_ARGUMENT = 3,
	THINSNAP_CODE_NOT_FOUND = 5,
	THINSNAP_CODE_ALREADY_EXISTS = 6,
	THINSNAP_CODE_FAILED_PRECONDITION = 9,
	THINSNAP_CODE_UNIMPLEMENTED = 12,
	THINSNAP_CODE_UNAVAILABLE = 14,
};

/*
 * Fills *e (if not NULL) with err and the formatted message; returns err, so that
 * `return thinsnap_error_setf(reterr, -ENOENT, "key '%s' not found", key);` reads as one step.
 * err must be negative.
 */
THINSNAP_API int thinsnap_error_setf(struct thinsnap_error *e, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Resets *e to "no error". NULL is fine. */
THINSNAP_API void thinsnap_error_clear(struct thinsnap_error *e);

/* Maps a negative (or positive) errno to containerd's code; 0 gives THINSNAP_CODE_OK. */
THINSNAP_API enum thinsnap_code thinsnap_code_from_errno(int err);

/* containerd's name of a code: "not found", "already exists", ...; a static string. */
THINSNAP_API const char *thinsnap_code_name(enum thinsnap_code code);

#ifdef __cplusplus
}
#endif

/*
 * struct thinsnap_error helpers and the errno -> containerd code table
 * (the table is in STYLE.md section 3 and tested by tests/unit/test-base-error.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <thinsnap/error.h>

int thinsnap_error_setf(struct thinsnap_error *e, int err, const char *fmt, ...)
{
	va_list ap;

	if (!e)
		return err;
	e->err = err;
	va_start(ap, fmt);
	(void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return err;
}

void thinsnap_error_clear(struct thinsnap_error *e)
{
	if (!e)
		return;
	e->err = 0;
	e->msg[0] = '\0';
}

enum thinsnap_code thinsnap_code_from_errno(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return THINSNAP_CODE_OK;
	case ENOENT:
	case ENXIO:
		return THINSNAP_CODE_NOT_FOUND;
	case EEXIST:
		return THINSNAP_CODE_ALREADY_EXISTS;
	case EINVAL:
	case ERANGE:
	case ENAMETOOLONG:
		return THINSNAP_CODE_INVALID_ARGUMENT;
	case EBUSY:
	case ENOTEMPTY:
	case ENOSPC:
	case EROFS:
	case EUCLEAN:
		return THINSNAP_CODE_FAILED_PRECONDITION;
	case EAGAIN:
	case ETIMEDOUT:
	case ENODEV:
		return THINSNAP_CODE_UNAVAILABLE;
	case ENOSYS:
	case EOPNOTSUPP:
		return THINSNAP_CODE_UNIMPLEMENTED;
	default:
		return THINSNAP_CODE_UNKNOWN;
	}
}

const char *thinsnap_code_name(enum thinsnap_code code)
{
	switch (code) {
	case THINSNAP_CODE_OK:
		return "ok";
	case THINSNAP_CODE_INVALID_ARGUMENT:
		return "invalid argument";
	case THINSNAP_CODE_NOT_FOUND:
		return "not found";
	case THINSNAP_CODE_ALREADY_EXISTS:
		return "already exists";
	case THINSNAP_CODE_FAILED_PRECONDITION:
		return "failed precondition";
	case THINSNAP_CODE_UNIMPLEMENTED:
		return "not implemented";
	case THINSNAP_CODE_UNAVAILABLE:
		return "unavailable";
	case THINSNAP_CODE_UNKNOWN:
		break;
	}
	return "unknown";
}

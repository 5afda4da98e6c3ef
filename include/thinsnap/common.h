/*
 * Common definitions of the public thinsnap API: the export marker and the version.
 * Every public header includes this one.
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define THINSNAP_API __attribute__((visibility("default")))
#else
#define THINSNAP_API
#endif

/* The library's version, "MAJOR.MINOR.PATCH"; a static string. */
THINSNAP_API const char *thinsnap_version(void);

#ifdef __cplusplus
}
#endif

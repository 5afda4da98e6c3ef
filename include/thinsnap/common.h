/*
 * Common definitions of the public thinsnap API: the export marker, the version, and the
 * initializer of the versioned options structs. Every public header includes this one.
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

/*
 * Options structs that the caller fills (struct thinsnap_options, ...) start with
 * `unsigned int version`, so that they can grow without breaking callers built against an
 * older header. Each has THINSNAP_<NAME>_VERSION, the version this header describes, and
 * THINSNAP_<NAME>_INIT, an initializer that sets it and zeroes the rest (every field's
 * default); start from it and set what you need:
 *
 *	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
 *	o.state_dir = "/var/lib/thinsnap";
 *
 * A function given version 0 (a struct zeroed by hand) or a version newer than the library
 * knows fails with -EINVAL, changing nothing. THINSNAP_VERSIONED_INIT is what the _INIT
 * macros expand to (C++ before C++20 has no designated initializers).
 */
/* clang-format off */
#ifdef __cplusplus
#define THINSNAP_VERSIONED_INIT(v) { (v) }
#else
#define THINSNAP_VERSIONED_INIT(v) { .version = (v) }
#endif
/* clang-format on */

/*
 * Memory the library hands over (a **ret result) belongs to the caller, who frees it with
 * that type's thinsnap_<type>_free(), never with free(); every _free accepts NULL.
 */

#ifdef __cplusplus
}
#endif

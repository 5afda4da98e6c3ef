/*
 * unpack/: opens libarchive and libcrypto with dlopen() on the first unpack call and resolves
 * the functions unpack/ uses (libs.h), so that programs which never unpack start without them.
 * The sonames are the ones the build found (THINSNAP_ARCHIVE_SONAME, THINSNAP_CRYPTO_SONAME).
 */
#define THINSNAP_UNPACK_LIBS_TABLE
#include "unpack/libs.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#ifndef THINSNAP_ARCHIVE_SONAME
#error "THINSNAP_ARCHIVE_SONAME (libarchive's soname) is set by the Makefile"
#endif
#ifndef THINSNAP_CRYPTO_SONAME
#error "THINSNAP_CRYPTO_SONAME (libcrypto's soname) is set by the Makefile"
#endif

struct thinsnap_unpack_libs thinsnap_unpack_libs;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[256]; /* empty: loaded */

/* Resolves name from handle into *slot; false (and failure written) when it is missing. */
static bool resolve(void *handle, const char *lib, const char *name, void **slot)
{
	*slot = dlsym(handle, name);
	if (*slot)
		return true;
	(void)snprintf(failure, sizeof(failure), "%s has no '%s'", lib, name);
	return false;
}

static void load_once(void)
{
	struct thinsnap_unpack_libs t = { 0 };
	void *archive, *crypto;
	bool ok = true;

	archive = dlopen(THINSNAP_ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!archive) {
		(void)snprintf(failure, sizeof(failure), "%s", dlerror());
		return;
	}
	crypto = dlopen(THINSNAP_CRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!crypto) {
		(void)snprintf(failure, sizeof(failure), "%s", dlerror());
		(void)dlclose(archive);
		return;
	}
#define RESOLVE_ARCHIVE(name) \
	ok = ok && resolve(archive, THINSNAP_ARCHIVE_SONAME, #name, (void **)&t.name);
#define RESOLVE_CRYPTO(name) \
	ok = ok && resolve(crypto, THINSNAP_CRYPTO_SONAME, #name, (void **)&t.name);
	THINSNAP_UNPACK_ARCHIVE_FNS(RESOLVE_ARCHIVE)
	THINSNAP_UNPACK_CRYPTO_FNS(RESOLVE_CRYPTO)
	if (!ok) {
		(void)dlclose(crypto);
		(void)dlclose(archive);
		return;
	}
	/* Both stay open for the life of the process: the table points into them. */
	thinsnap_unpack_libs = t;
}

int thinsnap_unpack_libs_load(struct thinsnap_error *reterr)
{
	int r = pthread_once(&once, load_once);

	if (r != 0)
		return thinsnap_error_setf(reterr, -r, "loading the unpack libraries: %s",
					   strerror(r));
	if (failure[0])
		return thinsnap_error_setf(reterr, -ELIBACC, "unpack needs %s", failure);
	return 0;
}

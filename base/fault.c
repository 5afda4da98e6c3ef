/*
 * The test-only fault registry behind THINSNAP_FAULT(). Compiled empty unless
 * THINSNAP_FAULT_INJECTION is defined (build/check and build/fault).
 */
#include "base/fault.h"

#ifdef THINSNAP_FAULT_INJECTION
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_FAULTS 32

struct fault {
	char name[96];
	int err;      /* 0 = abort (SIGKILL) */
	unsigned nth; /* 0 = every hit */
	unsigned hits;
};

static struct fault faults[MAX_FAULTS];
static unsigned n_faults;
static bool env_loaded;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const struct {
	const char *name;
	int err;
} errnames[] = {
	{ "EIO", EIO },       { "ENOSPC", ENOSPC }, { "ENOMEM", ENOMEM }, { "EBUSY", EBUSY },
	{ "EAGAIN", EAGAIN }, { "EROFS", EROFS },   { "EINTR", EINTR },
};

static int parse_one(const char *item)
{
	char buf[160];
	char *colon, *at, *action;
	struct fault f = { 0 };

	if (strlen(item) >= sizeof(buf) || n_faults >= MAX_FAULTS)
		return -EINVAL;
	strcpy(buf, item);
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	action = colon + 1;
	at = strchr(buf, '@');
	if (at) {
		*at = '\0';
		f.nth = (unsigned)strtoul(at + 1, NULL, 10);
	}
	if (strlen(buf) >= sizeof(f.name))
		return -EINVAL;
	strcpy(f.name, buf);
	if (strcmp(action, "abort") == 0) {
		f.err = 0;
	} else {
		const char *a = action[0] == '-' ? action + 1 : action;
		f.err = -EIO;
		for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
			if (strcmp(a, errnames[i].name) == 0)
				f.err = -errnames[i].err;
		if (a[0] >= '0' && a[0] <= '9')
			f.err = -atoi(a);
	}
	faults[n_faults++] = f;
	return 0;
}

static int parse_spec(const char *spec)
{
	char *dup = strdup(spec), *save = NULL;
	int r = 0;

	if (!dup)
		return -ENOMEM;
	for (char *t = strtok_r(dup, ",", &save); t && r == 0; t = strtok_r(NULL, ",", &save))
		r = parse_one(t);
	free(dup);
	return r;
}

static void load_env_locked(void)
{
	const char *s;

	if (env_loaded)
		return;
	env_loaded = true;
	s = getenv("THINSNAP_FAULTS");
	if (s && *s)
		(void)parse_spec(s);
}

int thinsnap_fault_arm(const char *spec)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	env_loaded = true;
	n_faults = 0;
	if (spec)
		r = parse_spec(spec);
	pthread_mutex_unlock(&lock);
	return r;
}

unsigned thinsnap_fault_hits(const char *name)
{
	unsigned h = 0;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < n_faults; i++)
		if (strcmp(faults[i].name, name) == 0)
			h = faults[i].hits;
	pthread_mutex_unlock(&lock);
	return h;
}

int thinsnap_fault_hit(const char *name)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	load_env_locked();
	for (unsigned i = 0; i < n_faults; i++) {
		struct fault *f = &faults[i];
		if (strcmp(f->name, name) != 0)
			continue;
		f->hits++;
		if (f->nth && f->hits != f->nth)
			continue;
		if (f->err == 0) {
			(void)kill(getpid(), SIGKILL);
			pause();
		}
		r = f->err;
	}
	pthread_mutex_unlock(&lock);
	return r;
}
#endif

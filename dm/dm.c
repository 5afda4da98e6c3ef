/*
 * libdevmapper glue: intents on dm devices through dm_task ioctls, one libdm call at a time
 * (a process-wide mutex), errors as -errno plus the last libdm log line, no output, node
 * creation by libdm itself when udev is absent and bounded udev cookie waits when present.
 */
#include "dm/dm.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libdevmapper.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

#define UDEV_WAIT_MS    10000
#define REMOVE_RETRIES  20
#define REMOVE_RETRY_MS 50

DEFINE_CLEANUP(struct dm_task *, dm_task_destroy)
DEFINE_CLEANUP(DIR *, closedir)

static pthread_mutex_t dm_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t dm_once = PTHREAD_ONCE_INIT;
static int init_result;
static bool udev_sync;
static char last_msg[200]; /* the last libdm error line, guarded by dm_lock */
static int last_errno;     /* its errno, when libdm gave one */

static void unlockp(pthread_mutex_t **m)
{
	if (*m)
		(void)pthread_mutex_unlock(*m);
}
#define LOCKED CLEANUP(unlockp) pthread_mutex_t *_held = lock_dm()

static pthread_mutex_t *lock_dm(void)
{
	(void)pthread_mutex_lock(&dm_lock);
	last_msg[0] = '\0';
	last_errno = 0;
	return &dm_lock;
}

__attribute__((format(printf, 5, 6))) static void
log_hook(int level, const char *file, int line, int dm_errno_or_class, const char *f, ...)
{
	va_list ap;

	(void)file;
	(void)line;
	if ((level & 7) > 4) /* keep fatal, error and warning lines only */
		return;
	if ((level & 7) <= 3 && dm_errno_or_class > 0)
		last_errno = dm_errno_or_class;
	va_start(ap, f);
	(void)vsnprintf(last_msg, sizeof(last_msg), f, ap);
	va_end(ap);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* libdm opens /dev/mapper/control without O_CLOEXEC; find it and set the flag. */
static void cloexec_control_fd(void)
{
	CLEANUP(closedirp) DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[300], target[64];
		ssize_t n;
		if (de->d_name[0] == '.')
			continue;
		(void)snprintf(path, sizeof(path), "/proc/self/fd/%s", de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, "/dev/mapper/control") == 0) {
			int fd = atoi(de->d_name);
			int fl = fcntl(fd, F_GETFD);
			if (fl >= 0)
				(void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
		}
	}
}

static void init_once(void)
{
	char version[64];

	dm_log_with_errno_init(log_hook);
	udev_sync = access("/run/udev/control", F_OK) == 0;
	dm_udev_set_sync_support(udev_sync);
	dm_udev_set_checking(udev_sync);
	if (!dm_driver_version(version, sizeof(version))) { /* opens the control fd */
		init_result = -ENODEV;
		return;
	}
	cloexec_control_fd();
	init_result = 0;
}

int thinsnap_dm_init(struct thinsnap_error *reterr)
{
	(void)pthread_once(&dm_once, init_once);
	if (init_result < 0)
		return thinsnap_error_setf(
			reterr, init_result,
			"device-mapper is not available (no /dev/mapper/control)");
	return 0;
}

bool thinsnap_dm_udev_sync(void)
{
	return udev_sync;
}

static int check_name(const char *name, struct thinsnap_error *reterr)
{
	if (!name || !*name)
		return thinsnap_error_setf(reterr, -EINVAL, "empty dm device name");
	if (strlen(name) > THINSNAP_DM_NAME_MAX)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "dm name '%.40s...' is too long",
					   name);
	if (strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "invalid dm device name '%s'", name);
	return 0;
}

static int check_uuid(const char *uuid, const char *what, struct thinsnap_error *reterr)
{
	if (!uuid || !*uuid || strlen(uuid) > THINSNAP_DM_UUID_MAX)
		return thinsnap_error_setf(reterr, -EINVAL, "dm %s: invalid uuid", what);
	return 0;
}

/* Prologue of every intent: init, validate the name. */
static int begin(const char *name, struct thinsnap_error *reterr)
{
	int r = thinsnap_dm_init(reterr);
	if (r < 0)
		return r;
	return name ? check_name(name, reterr) : 0;
}

/*
 * libdm's create runs sub-tasks whose errno the outer task does not keep; their log line
 * ends with strerror(errno), so take the errno back from it.
 */
static int errno_from_msg(void)
{
	size_t n = strlen(last_msg);

	for (int e = 1; e < 134; e++) {
		const char *d = strerror(e);
		size_t k = strlen(d);
		if (k + 2 <= n && strcmp(last_msg + n - k, d) == 0 && last_msg[n - k - 2] == ':')
			return e;
	}
	return 0;
}

static int task_failed(struct dm_task *dmt, const char *what, const char *name,
		       struct thinsnap_error *reterr)
{
	int e = dmt ? dm_task_get_errno(dmt) : ENOMEM;
	char desc[64];

	if (e <= 0)
		e = last_errno;
	if (e <= 0)
		e = errno_from_msg();
	if (e <= 0)
		e = EIO;
	(void)snprintf(desc, sizeof(desc), "%s", strerror(e));
	desc[0] = (char)tolower((unsigned char)desc[0]);
	if (last_msg[0])
		return thinsnap_error_setf(reterr, -e, "dm %s '%s': %s (%s)", what, name, desc,
					   last_msg);
	return thinsnap_error_setf(reterr, -e, "dm %s '%s': %s", what, name, desc);
}

static struct dm_task *new_task(int type, const char *name)
{
	struct dm_task *dmt = dm_task_create(type);

	if (!dmt)
		return NULL;
	if (name && !dm_task_set_name(dmt, name)) {
		dm_task_destroy(dmt);
		return NULL;
	}
	return dmt;
}

/* Waits for udev to finish the cookie's events, at most UDEV_WAIT_MS; without udev sync it
 * only makes libdm apply its node operations (/dev/mapper). Call with dm_lock held. */
static int wait_cookie(uint32_t cookie, const char *what, const char *name,
		       struct thinsnap_error *reterr)
{
	uint64_t deadline;
	int ready = 0;

	if (!udev_sync) {
		(void)dm_udev_wait(cookie);
		return 0;
	}
	deadline = now_ms() + UDEV_WAIT_MS;
	for (;;) {
		if (!dm_udev_wait_immediate(cookie, &ready))
			return thinsnap_error_setf(reterr, -EIO, "dm %s '%s': udev wait failed",
						   what, name);
		if (ready)
			return 0;
		if (now_ms() > deadline)
			break;
		sleep_ms(5);
	}
	/* udev did not answer: release the cookie so that nothing waits on it forever */
	(void)dm_udev_complete(cookie);
	(void)dm_udev_wait_immediate(cookie, &ready);
	return thinsnap_error_setf(reterr, -ETIMEDOUT, "dm %s '%s': udev did not settle in %d ms",
				   what, name, UDEV_WAIT_MS);
}

static int add_table(struct dm_task *dmt, const struct thinsnap_dm_table *table)
{
	return dm_task_add_target(dmt, 0, table->length_sectors, table->target, table->params);
}

static void fill_info(const struct dm_info *di, struct dm_task *dmt, struct thinsnap_dm_info *ret)
{
	const char *uuid;

	memset(ret, 0, sizeof(*ret));
	ret->exists = di->exists;
	if (!di->exists)
		return;
	uuid = dmt ? dm_task_get_uuid(dmt) : NULL;
	if (uuid)
		(void)snprintf(ret->uuid, sizeof(ret->uuid), "%s", uuid);
	ret->suspended = di->suspended;
	ret->read_only = di->read_only;
	ret->live_table = di->live_table;
	ret->open_count = di->open_count;
	ret->major = di->major;
	ret->minor = di->minor;
	ret->event_nr = di->event_nr;
}

int thinsnap_dm_create(const char *name, const char *uuid, const struct thinsnap_dm_table *table,
		       bool read_only, struct thinsnap_dm_info *ret_info,
		       struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	struct dm_info di;
	uint32_t cookie = 0;
	int r;

	r = begin(name, reterr);
	if (r < 0)
		return r;
	if (!table || !table->target || !table->params || table->length_sectors == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "dm create '%s': empty table", name);
	if (uuid && strlen(uuid) > THINSNAP_DM_UUID_MAX)
		return thinsnap_error_setf(reterr, -ENAMETOOLONG, "dm uuid is too long");

	LOCKED;
	dmt = new_task(DM_DEVICE_CREATE, name);
	if (!dmt || (uuid && !dm_task_set_uuid(dmt, uuid)) || !add_table(dmt, table) ||
	    (read_only && !dm_task_set_ro(dmt)) || !dm_task_set_cookie(dmt, &cookie, 0))
		return thinsnap_error_setf(reterr, -ENOMEM, "dm create '%s': out of memory", name);
	if (!dm_task_run(dmt)) {
		r = task_failed(dmt, "create", name, reterr);
		(void)wait_cookie(cookie, "create", name, NULL);
		return r;
	}
	if (!dm_task_get_info(dmt, &di))
		memset(&di, 0, sizeof(di));
	r = wait_cookie(cookie, "create", name, reterr);
	if (r < 0)
		return r;
	if (ret_info)
		fill_info(&di, dmt, ret_info);
	return 0;
}

int thinsnap_dm_reload(const char *name, const struct thinsnap_dm_table *table,
		       struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	int r = begin(name, reterr);

	if (r < 0)
		return r;
	if (!table || !table->target || !table->params || table->length_sectors == 0)
		return thinsnap_error_setf(reterr, -EINVAL, "dm reload '%s': empty table", name);
	LOCKED;
	dmt = new_task(DM_DEVICE_RELOAD, name);
	if (!dmt || !add_table(dmt, table))
		return thinsnap_error_setf(reterr, -ENOMEM, "dm reload '%s': out of memory", name);
	if (!dm_task_run(dmt))
		return task_failed(dmt, "reload", name, reterr);
	return 0;
}

int thinsnap_dm_suspend(const char *name, bool noflush, struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	int r = begin(name, reterr);

	if (r < 0)
		return r;
	LOCKED;
	dmt = new_task(DM_DEVICE_SUSPEND, name);
	if (!dmt || (noflush && !dm_task_no_flush(dmt)))
		return thinsnap_error_setf(reterr, -ENOMEM, "dm suspend '%s': out of memory", name);
	if (!dm_task_run(dmt))
		return task_failed(dmt, "suspend", name, reterr);
	return 0;
}

int thinsnap_dm_resume(const char *name, struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	uint32_t cookie = 0;
	int r = begin(name, reterr);

	if (r < 0)
		return r;
	LOCKED;
	dmt = new_task(DM_DEVICE_RESUME, name);
	if (!dmt || !dm_task_set_cookie(dmt, &cookie, 0))
		return thinsnap_error_setf(reterr, -ENOMEM, "dm resume '%s': out of memory", name);
	if (!dm_task_run(dmt)) {
		r = task_failed(dmt, "resume", name, reterr);
		(void)wait_cookie(cookie, "resume", name, NULL);
		return r;
	}
	return wait_cookie(cookie, "resume", name, reterr);
}

/*
 * One DM_DEVICE_REMOVE of name, or of uuid when name is NULL. libdm removes the /dev/mapper
 * node of a device it was given by name; one given by uuid loses its node here (the kernel
 * says its name), unless udev manages the nodes.
 */
static int remove_once(const char *name, const char *uuid, bool deferred,
		       struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	const char *what = name ? name : uuid;
	uint32_t cookie = 0;
	int r;

	LOCKED;
	dmt = new_task(DM_DEVICE_REMOVE, name);
	if (!dmt || (!name && !dm_task_set_uuid(dmt, uuid)) ||
	    (deferred && !dm_task_deferred_remove(dmt)) || !dm_task_set_cookie(dmt, &cookie, 0))
		return thinsnap_error_setf(reterr, -ENOMEM, "dm remove '%s': out of memory", what);
	if (!dm_task_run(dmt)) {
		r = task_failed(dmt, "remove", what, reterr);
		(void)wait_cookie(cookie, "remove", what, NULL);
		return r;
	}
	r = wait_cookie(cookie, "remove", what, reterr);
	if (r == 0 && !name && !udev_sync) {
		const char *gone = dm_task_get_name(dmt);
		char node[THINSNAP_DM_NAME_MAX + 16];

		if (gone && *gone && check_name(gone, NULL) == 0) {
			(void)snprintf(node, sizeof(node), "%s/%s", dm_dir(), gone);
			(void)unlink(node);
		}
	}
	return r;
}

static int remove_retrying(const char *name, const char *uuid, bool deferred,
			   struct thinsnap_error *reterr)
{
	int r;

	for (int i = 0;; i++) {
		r = remove_once(name, uuid, deferred, reterr);
		if (r != -EBUSY || deferred || i == REMOVE_RETRIES)
			break;
		sleep_ms(REMOVE_RETRY_MS);
	}
	if (r == -EBUSY)
		return thinsnap_error_setf(reterr, -EBUSY,
					   "dm device '%s' is in use (open or mounted)",
					   name ? name : uuid);
	return r;
}

int thinsnap_dm_remove(const char *name, bool deferred, struct thinsnap_error *reterr)
{
	int r = begin(name, reterr);

	if (r < 0)
		return r;
	return remove_retrying(name, NULL, deferred, reterr);
}

int thinsnap_dm_remove_by_uuid(const char *uuid, struct thinsnap_error *reterr)
{
	int r = begin(NULL, reterr);

	if (r < 0)
		return r;
	r = check_uuid(uuid, "remove", reterr);
	if (r < 0)
		return r;
	return remove_retrying(NULL, uuid, false, reterr);
}

static int info_task(struct dm_task *dmt, const char *what, struct thinsnap_dm_info *ret_info,
		     char **ret_name, struct thinsnap_error *reterr)
{
	struct dm_info di;

	if (!dm_task_run(dmt))
		return task_failed(dmt, "info", what, reterr);
	if (!dm_task_get_info(dmt, &di))
		return thinsnap_error_setf(reterr, -EIO, "dm info '%s': no info", what);
	if (ret_name && di.exists) {
		const char *n = dm_task_get_name(dmt);
		char *copy = strdup(n ? n : "");
		if (!copy)
			return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		*ret_name = copy;
	}
	fill_info(&di, dmt, ret_info);
	return 0;
}

int thinsnap_dm_info(const char *name, struct thinsnap_dm_info *ret_info,
		     struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	int r = begin(name, reterr);

	if (r < 0)
		return r;
	if (!ret_info)
		return thinsnap_error_setf(reterr, -EINVAL, "dm info: no result pointer");
	LOCKED;
	dmt = new_task(DM_DEVICE_INFO, name);
	if (!dmt)
		return thinsnap_error_setf(reterr, -ENOMEM, "dm info '%s': out of memory", name);
	return info_task(dmt, name, ret_info, NULL, reterr);
}

int thinsnap_dm_info_by_uuid(const char *uuid, struct thinsnap_dm_info *ret_info, char **ret_name,
			     struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	int r = begin(NULL, reterr);

	if (r < 0)
		return r;
	if (!ret_info)
		return thinsnap_error_setf(reterr, -EINVAL, "dm info: no result");
	r = check_uuid(uuid, "info", reterr);
	if (r < 0)
		return r;
	LOCKED;
	dmt = new_task(DM_DEVICE_INFO, NULL);
	if (!dmt || !dm_task_set_uuid(dmt, uuid))
		return thinsnap_error_setf(reterr, -ENOMEM, "dm info: out of memory");
	return info_task(dmt, uuid, ret_info, ret_name, reterr);
}

static int table_task(const char *name, bool status, bool noflush, uint64_t *ret_length_sectors,
		      char **ret_target, char **ret_params, struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	CLEANUP_FREE char *target = NULL;
	CLEANUP_FREE char *params = NULL;
	const char *what = status ? "status" : "table";
	uint64_t start = 0, length = 0;
	char *ttype = NULL, *tparams = NULL;
	struct dm_info di;
	void *next;
	int r = begin(name, reterr);

	if (r < 0)
		return r;
	LOCKED;
	dmt = new_task(status ? DM_DEVICE_STATUS : DM_DEVICE_TABLE, name);
	if (!dmt || (noflush && !dm_task_no_flush(dmt)))
		return thinsnap_error_setf(reterr, -ENOMEM, "dm %s '%s': out of memory", what,
					   name);
	if (!dm_task_run(dmt))
		return task_failed(dmt, what, name, reterr);
	if (!dm_task_get_info(dmt, &di) || !di.exists)
		return thinsnap_error_setf(reterr, -ENXIO, "dm device '%s' does not exist", name);
	next = dm_get_next_target(dmt, NULL, &start, &length, &ttype, &tparams);
	if (!ttype || next)
		return thinsnap_error_setf(reterr, -ENODATA, "dm %s '%s': not a one-target device",
					   what, name);
	target = strdup(ttype);
	params = strdup(tparams ? tparams : "");
	if (!target || !params)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	if (ret_length_sectors)
		*ret_length_sectors = length;
	if (ret_target)
		*ret_target = TAKE_PTR(target);
	if (ret_params)
		*ret_params = TAKE_PTR(params);
	return 0;
}

int thinsnap_dm_table(const char *name, bool status, uint64_t *ret_length_sectors,
		      char **ret_target, char **ret_params, struct thinsnap_error *reterr)
{
	return table_task(name, status, false, ret_length_sectors, ret_target, ret_params, reterr);
}

int thinsnap_dm_status_noflush(const char *name, char **ret_target, char **ret_params,
			       struct thinsnap_error *reterr)
{
	return table_task(name, true, true, NULL, ret_target, ret_params, reterr);
}

int thinsnap_dm_message(const char *name, const char *message, char **ret_response,
			struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	const char *resp;
	int r = begin(name, reterr);

	if (r < 0)
		return r;
	if (!message || !*message)
		return thinsnap_error_setf(reterr, -EINVAL, "dm message '%s': empty message", name);
	LOCKED;
	dmt = new_task(DM_DEVICE_TARGET_MSG, name);
	if (!dmt || !dm_task_set_sector(dmt, 0) || !dm_task_set_message(dmt, message))
		return thinsnap_error_setf(reterr, -ENOMEM, "dm message '%s': out of memory", name);
	if (!dm_task_run(dmt)) {
		int e = dm_task_get_errno(dmt);
		char desc[64];
		if (e <= 0)
			e = last_errno;
		if (e <= 0)
			e = EIO;
		(void)snprintf(desc, sizeof(desc), "%s", strerror(e));
		desc[0] = (char)tolower((unsigned char)desc[0]);
		return thinsnap_error_setf(reterr, -e, "dm message '%s' to '%s': %s", message, name,
					   desc);
	}
	if (ret_response) {
		resp = dm_task_get_message_response(dmt);
		*ret_response = NULL;
		if (resp && *resp) {
			*ret_response = strdup(resp);
			if (!*ret_response)
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
		}
	}
	return 0;
}

void thinsnap_dm_list_free(char **names)
{
	if (!names)
		return;
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

DEFINE_CLEANUP(char **, thinsnap_dm_list_free)

int thinsnap_dm_list(char ***ret_names, size_t *ret_n, struct thinsnap_error *reterr)
{
	CLEANUP(dm_task_destroyp) struct dm_task *dmt = NULL;
	CLEANUP(thinsnap_dm_list_freep) char **names = NULL;
	struct dm_names *dn;
	size_t n = 0, cap = 0;
	int r = begin(NULL, reterr);

	if (r < 0)
		return r;
	LOCKED;
	dmt = new_task(DM_DEVICE_LIST, NULL);
	if (!dmt)
		return thinsnap_error_setf(reterr, -ENOMEM, "dm list: out of memory");
	if (!dm_task_run(dmt))
		return task_failed(dmt, "list", "*", reterr);
	names = calloc(1, sizeof(char *));
	if (!names)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	cap = 1;
	dn = dm_task_get_names(dmt);
	if (dn && dn->dev) {
		for (;;) {
			if (n + 1 >= cap) {
				char **nn = realloc(names, 2 * cap * sizeof(char *));
				if (!nn)
					return thinsnap_error_setf(reterr, -ENOMEM,
								   "out of memory");
				names = nn;
				cap *= 2;
			}
			names[n] = strdup(dn->name);
			if (!names[n])
				return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
			names[++n] = NULL;
			if (!dn->next)
				break;
			dn = (struct dm_names *)((char *)dn + dn->next);
		}
	}
	if (ret_n)
		*ret_n = n;
	*ret_names = TAKE_PTR(names);
	return 0;
}

int thinsnap_dm_wait_event(const char *name, uint32_t event_nr, int timeout_ms,
			   uint32_t *ret_event_nr, struct thinsnap_error *reterr)
{
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
	CLEANUP_CLOSE int fd = -EBADF;
	struct thinsnap_dm_info info;
	int r = begin(name, reterr); /* libdm makes the control node if it is missing */

	if (r < 0)
		return r;
	fd = thinsnap_dm_event_fd_open(); /* < 0: poll the event number instead */
	for (;;) {
		r = thinsnap_dm_info(name, &info, reterr);
		if (r < 0)
			return r;
		if (!info.exists)
			return thinsnap_error_setf(reterr, -ENXIO, "dm device '%s' does not exist",
						   name);
		if (info.event_nr != event_nr) {
			if (ret_event_nr)
				*ret_event_nr = info.event_nr;
			return 0;
		}
		uint64_t now = now_ms();
		if (now >= deadline)
			return thinsnap_error_setf(reterr, -ETIMEDOUT,
						   "dm device '%s': no event in %d ms", name,
						   timeout_ms);
		if (fd < 0) {
			sleep_ms(deadline - now < 10 ? (long)(deadline - now) : 10);
			continue;
		}
		/* armed before the info above, so an event in between still wakes us */
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)(deadline - now)) > 0 && thinsnap_dm_event_fd_arm(fd) < 0)
			(void)close(TAKE_FD(fd));
	}
}

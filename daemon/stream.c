/*
 * thinsnapd's stream socket: <state_dir>/stream.sock (0600), where the thinsnap command
 * hands over send and receive while the daemon holds the pool (thinsnap_stream_serve: the
 * stream's descriptor comes with the request). One thread, one request at a time; the
 * snapshotter's own locks order them with containerd's calls.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <thinsnap/stream.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"

struct thinsnap_daemon_streams {
	struct thinsnap_snapshotter *snap;
	int listen_fd;
	int stop_fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_t thread;
};

static void *streams_main(void *userdata)
{
	struct thinsnap_daemon_streams *d = userdata;

	for (;;) {
		struct pollfd p[2] = { { d->listen_fd, POLLIN, 0 }, { d->stop_fd, POLLIN, 0 } };
		struct thinsnap_error e = { 0 };
		int conn;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("stream socket: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[1].revents)
			return NULL;
		conn = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		if (thinsnap_stream_serve(d->snap, conn, &e) < 0)
			log_warning("stream request: %s", e.msg);
		close(conn);
	}
}

int thinsnap_daemon_streams_start(struct thinsnap_snapshotter *snap, const char *state_dir,
				  struct thinsnap_daemon_streams **ret)
{
	struct thinsnap_daemon_streams *d = calloc(1, sizeof(*d));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	if (!d)
		return -ENOMEM;
	d->snap = snap;
	d->listen_fd = d->stop_fd = -1;
	if (snprintf(d->path, sizeof(d->path), "%s/%s", state_dir, THINSNAP_STREAM_SOCKET) >=
	    (int)sizeof(d->path)) {
		free(d);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, d->path);
	(void)unlink(d->path); /* a stale one: only a writer of this state directory gets here */
	d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	mode_t old = umask(0177);
	r = d->listen_fd < 0 || d->stop_fd < 0 ||
			    bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
			    listen(d->listen_fd, 16) < 0
		    ? -errno
		    : 0;
	umask(old);
	if (r == 0)
		r = -pthread_create(&d->thread, NULL, streams_main, d);
	if (r < 0) {
		if (d->listen_fd >= 0) {
			close(d->listen_fd);
			(void)unlink(d->path);
		}
		if (d->stop_fd >= 0)
			close(d->stop_fd);
		free(d);
		return r;
	}
	*ret = d;
	return 0;
}

void thinsnap_daemon_streams_stop(struct thinsnap_daemon_streams *d)
{
	uint64_t one = 1;

	if (!d)
		return;
	if (write(d->stop_fd, &one, sizeof(one)) != sizeof(one))
		log_warning("stream socket: cannot stop its thread");
	pthread_join(d->thread, NULL);
	close(d->listen_fd);
	(void)unlink(d->path);
	close(d->stop_fd);
	free(d);
}

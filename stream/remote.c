/*
 * Streams through the process that holds the pool: one request per connection on a unix
 * socket, the stream's descriptor passed with it (SCM_RIGHTS), the reply a status, a message
 * and the stats. Request: "TSNPRQ01", u8 verb (1 send, 2 receive), u32 + name, u32 + base
 * (0: none). Reply: "TSNPRP01", i32 status (0 or -errno), u32 + message, 4 x u64 stats.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <thinsnap/stream.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "base/fileio.h"
#include "base/le.h"

#define REQ_MAGIC "TSNPRQ01"
#define REP_MAGIC "TSNPRP01"
#define MSG_MAX   (2 * 4096 + 64)

static int put_str(struct thinsnap_buf *b, const char *s)
{
	uint8_t n[4];
	size_t len = s ? strlen(s) : 0;
	int r;

	put_le32(n, (uint32_t)len);
	r = thinsnap_buf_append(b, n, 4);
	return r < 0 ? r : thinsnap_buf_append(b, s ? s : "", len);
}

/* The next string (up to its length, NUL-terminated in place after the u32 is consumed). */
static int get_str(uint8_t *p, size_t len, size_t *pos, char **ret)
{
	uint32_t n;

	if (len - *pos < 4)
		return -EBADMSG;
	n = get_le32(p + *pos);
	if (n > len - *pos - 4 || memchr(p + *pos + 4, 0, n))
		return -EBADMSG;
	memmove(p + *pos, p + *pos + 4, n); /* the string moves over its length */
	p[*pos + n] = '\0';
	*ret = (char *)p + *pos;
	*pos += (size_t)n + 4;
	return 0;
}

static int recv_with_fd(int conn, uint8_t *buf, size_t size, size_t *ret_len, int *ret_fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	ssize_t n;

	*ret_fd = -EBADF;
	do
		n = recvmsg(conn, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	*ret_len = (size_t)n;
	return 0;
}

int thinsnap_stream_serve(struct thinsnap_snapshotter *s, int conn, struct thinsnap_error *reterr)
{
	CLEANUP_CLOSE int fd = -EBADF;
	CLEANUP_FREE uint8_t *buf = malloc(MSG_MAX);
	struct thinsnap_buf rep = { 0 };
	struct thinsnap_stream_stats st = { 0 };
	struct thinsnap_error e = { 0 };
	char *name = NULL, *base = NULL;
	size_t len = 0, pos = 9;
	uint8_t v[8];
	int r;

	if (!buf)
		return thinsnap_error_setf(reterr, -ENOMEM, "out of memory");
	r = recv_with_fd(conn, buf, MSG_MAX, &len, &fd);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "reading a stream request: %s", strerror(-r));
	if (len < 9 || memcmp(buf, REQ_MAGIC, 8) != 0 || (buf[8] != 1 && buf[8] != 2) ||
	    get_str(buf, len, &pos, &name) < 0 || get_str(buf, len, &pos, &base) < 0)
		r = thinsnap_error_setf(&e, -EBADMSG, "bad stream request");
	else if (fd < 0)
		r = thinsnap_error_setf(&e, -EBADF, "stream request without a descriptor");
	else if (buf[8] == 1)
		r = thinsnap_send(
			s, name, fd,
			&(struct thinsnap_send_opts){ .version = THINSNAP_SEND_OPTS_VERSION,
						      .base = *base ? base : NULL },
			&st, &e);
	else
		r = thinsnap_receive(
			s, name, fd,
			&(struct thinsnap_receive_opts){ .version = THINSNAP_RECEIVE_OPTS_VERSION,
							 .parent = *base ? base : NULL },
			&st, &e);
	if (fd >= 0)
		(void)close(TAKE_FD(fd)); /* the client sees the end of the stream now */
	int q = thinsnap_buf_append(&rep, REP_MAGIC, 8);
	put_le32(v, (uint32_t)(r < 0 ? r : 0));
	if (q == 0)
		q = thinsnap_buf_append(&rep, v, 4);
	if (q == 0)
		q = put_str(&rep, r < 0 ? e.msg : "");
	for (int i = 0; q == 0 && i < 4; i++) {
		uint64_t x = i == 0   ? st.stream_bytes
			     : i == 1 ? st.data_bytes
			     : i == 2 ? st.hole_bytes
				      : st.chunks;
		put_le64(v, x);
		q = thinsnap_buf_append(&rep, v, 8);
	}
	if (q == 0)
		q = thinsnap_write_all(conn, rep.p, rep.len);
	thinsnap_buf_free(&rep);
	if (q < 0)
		return thinsnap_error_setf(reterr, q, "writing a stream reply: %s", strerror(-q));
	return 0;
}

int thinsnap_stream_remote(const char *socket_path, bool receive, const char *name,
			   const char *base, int fd, struct thinsnap_stream_stats *ret_stats,
			   struct thinsnap_error *reterr)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	CLEANUP_CLOSE int conn = -EBADF;
	struct thinsnap_buf req = { 0 };
	uint8_t rep[MSG_MAX];
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	size_t len = 0, pos = 12;
	char *msg = NULL;
	uint8_t verb = receive ? 2 : 1;
	int r;

	if (!socket_path || !name || fd < 0 || strlen(socket_path) >= sizeof(sa.sun_path))
		return thinsnap_error_setf(reterr, -EINVAL, "stream request: bad argument");
	strcpy(sa.sun_path, socket_path);
	conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (conn < 0)
		return thinsnap_error_setf(reterr, -errno, "socket: %m");
	if (connect(conn, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return thinsnap_error_setf(reterr, -errno, "connecting to '%s': %m", socket_path);
	r = thinsnap_buf_append(&req, REQ_MAGIC, 8);
	if (r == 0)
		r = thinsnap_buf_append(&req, &verb, 1);
	if (r == 0)
		r = put_str(&req, name);
	if (r == 0)
		r = put_str(&req, base);
	if (r == 0 && req.len > MSG_MAX)
		r = -ENAMETOOLONG;
	if (r < 0) {
		thinsnap_buf_free(&req);
		return thinsnap_error_setf(reterr, r, "stream request: %s", strerror(-r));
	}
	struct iovec iov = { .iov_base = req.p, .iov_len = req.len };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t n = sendmsg(conn, &mh, MSG_NOSIGNAL);
	thinsnap_buf_free(&req);
	if (n < 0)
		return thinsnap_error_setf(reterr, -errno, "sending to '%s': %m", socket_path);
	/* the reply comes when the server is done: read it whole, up to EOF */
	for (;;) {
		ssize_t k = read(conn, rep + len, sizeof(rep) - len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return thinsnap_error_setf(reterr, -errno, "reading the reply: %m");
		if (k == 0 || (len += (size_t)k) == sizeof(rep))
			break;
		if (len >= 16 && len >= 16 + get_le32(rep + 12) + 32)
			break;
	}
	if (len < 12 || memcmp(rep, REP_MAGIC, 8) != 0 || get_str(rep, len, &pos, &msg) < 0 ||
	    len - pos < 32)
		return thinsnap_error_setf(reterr, -EPROTO, "bad reply from '%s'", socket_path);
	r = (int32_t)get_le32(rep + 8);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "%s", msg);
	if (ret_stats)
		*ret_stats = (struct thinsnap_stream_stats){ get_le64(rep + pos),
							     get_le64(rep + pos + 8),
							     get_le64(rep + pos + 16),
							     get_le64(rep + pos + 24) };
	return 0;
}

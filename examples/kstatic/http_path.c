/* kstatic: request-target -> file beneath the root (see http_path.h). */
#include "http_path.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tls/wire.h"

static int hex_digit(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int refuse(const char **why, int status, const char *text)
{
	*why = text;
	return status;
}

int http_path_from_target(const char *target, size_t len, char *out, size_t cap,
			  const char **why)
{
	tls_reader r = tls_reader_init((const uint8_t *)target, len);
	*why = NULL;
	if (cap < 2)
		return refuse(why, 414, "no room for the path");
	if (len == 0 || tls_read_u8(&r) != '/')
		return refuse(why, 400, "the path does not start with '/'");
	/* the path ends at the query string */
	size_t plen = 0;
	for (tls_reader probe = r;; plen++) {
		uint8_t c = tls_read_u8(&probe);
		if (probe.err || c == '?')
			break;
	}
	tls_reader path = tls_read_sub(&r, plen);
	size_t n = 0;    /* bytes in out; every kept segment is followed by '/' */
	bool dir = true; /* the last segment names a directory ("/", "/a/", "/a/.") */
	while (path.left) {
		size_t seg = n;
		bool slash = false;
		while (path.left) {
			int c = tls_read_u8(&path);
			if (c == '/') {
				slash = true;
				break;
			}
			if (c <= 0x20 || c >= 0x7f) /* the parser lets none through; still */
				return refuse(why, 400, c ? "bad octet in the path" : "NUL in the path");
			if (c == '%') {
				int hi = hex_digit(tls_read_u8(&path)), lo = hex_digit(tls_read_u8(&path));
				if (path.err || hi < 0 || lo < 0)
					return refuse(why, 400, "bad percent-encoding");
				c = hi << 4 | lo;
				if (c == 0)
					return refuse(why, 400, "encoded NUL in the path");
				if (c == '/')
					return refuse(why, 400, "encoded '/' in the path");
			}
			if (n + 2 >= cap) /* room for the '/' after it and the NUL */
				return refuse(why, 414, "path too long");
			out[n++] = (char)c;
		}
		size_t slen = n - seg;
		bool dot = slen == 1 && out[seg] == '.';
		bool dotdot = slen == 2 && out[seg] == '.' && out[seg + 1] == '.';
		if (dotdot) {
			if (seg == 0)
				return refuse(why, 400, "path climbs above the root");
			n = seg - 1; /* back over the previous segment's '/' and name */
			while (n > 0 && out[n - 1] != '/')
				n--;
			dir = true;
		} else if (slen == 0 || dot) {
			n = seg; /* "//" and "/./" */
			dir = true;
		} else {
			out[n++] = '/';
			dir = slash;
		}
	}
	if (n > 0 && !dir)
		n--; /* a file: no trailing '/' */
	if (n == 0)
		out[n++] = '.';
	out[n] = '\0';
	return 0;
}

static int open_beneath(int dirfd, const char *path)
{
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK; /* a FIFO must not block us */
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int http_root_open(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "document root %s: %s", dir, strerror(errno));
		return -1;
	}
	int probe = open_beneath(fd, ".");
	if (probe < 0) {
		int e = errno;
		close(fd);
		if (e == ENOSYS)
			snprintf(err, errlen,
				 "openat2() is not available (Linux >= 5.6 needed): refusing to serve "
				 "without RESOLVE_BENEATH, which keeps paths inside the root");
		else
			snprintf(err, errlen, "document root %s: %s", dir, strerror(e));
		return -1;
	}
	close(probe);
	return fd;
}

static int status_of(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
	case EXDEV:       /* RESOLVE_BENEATH: the path leaves the root */
	case ELOOP:       /* a magic link, or a symlink loop */
	case ENAMETOOLONG:
	case ENXIO:       /* a socket or a FIFO without a writer */
		return 404;
	case EACCES:
	case EPERM:
		return 403;
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return 503;
	default:
		return 500;
	}
}

int http_file_open(int root_fd, const char *rel, struct http_file *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	int fd = open_beneath(root_fd, rel);
	if (fd < 0)
		return status_of(errno);
	if (fstat(fd, &f->st) != 0) {
		int e = errno;
		close(fd);
		return status_of(e);
	}
	if (S_ISDIR(f->st.st_mode)) {
		int idx = open_beneath(fd, HTTP_INDEX_FILE);
		int e = errno;
		close(fd);
		if (idx < 0)
			return status_of(e);
		fd = idx;
		f->is_index = true;
		if (fstat(fd, &f->st) != 0) {
			e = errno;
			close(fd);
			return status_of(e);
		}
	}
	if (!S_ISREG(f->st.st_mode)) {
		close(fd);
		return 404;
	}
	f->fd = fd;
	return 0;
}

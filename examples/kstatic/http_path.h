/* kstatic: request-target -> an open regular file beneath the document root.
 *
 * Two fences, either enough on its own:
 *  1. http_path_from_target decodes and normalises the path in user space:
 *     percent-decoding first (so "%2e%2e" is ".."), %00 and an encoded '/'
 *     refused, empty and "." segments dropped, ".." removing the segment
 *     before it, a ".." above the root refused (400: no benign client sends
 *     one; browsers normalise before sending).
 *  2. http_file_open resolves the result with openat2(RESOLVE_BENEATH |
 *     RESOLVE_NO_MAGICLINKS) from the root's fd, so the kernel refuses any
 *     path (through a symlink too) that would leave the root, and any
 *     /proc-style magic link. Symlinks that stay inside the root work.
 * openat2 is Linux >= 5.6; without it kstatic refuses to start
 * (http_root_open says so) rather than serve without the second fence.
 */
#ifndef KSTATIC_HTTP_PATH_H
#define KSTATIC_HTTP_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#define HTTP_PATH_MAX 4096
#define HTTP_INDEX_FILE "index.html"

/* The path part of an origin-form target (up to '?') decoded and normalised
 * into out: relative to the root, no leading '/', "." for the root itself,
 * a trailing '/' kept (only a directory matches it). Returns 0, or the status
 * to answer (400 bad encoding or a climb above the root, 414 too long) with
 * *why set. */
int http_path_from_target(const char *target, size_t len, char *out, size_t cap,
			  const char **why);

/* Opens the document root (a directory) for http_file_open and checks that
 * openat2 works. The fd, or -1 with err set (no such directory, no openat2). */
int http_root_open(const char *dir, char *err, size_t errlen);

struct http_file {
	int fd;           /* O_RDONLY, close-on-exec; the caller closes it */
	struct stat st;   /* a regular file */
	bool is_index;    /* the target was a directory: this is its index.html */
};

/* Opens rel (from http_path_from_target) beneath root_fd: a regular file,
 * or a directory's index.html. Returns 0, or the status to answer: 404 (no
 * such file, not a regular file, a directory without index.html, a path
 * leaving the root), 403 (permission), 503 (out of fds or memory), 500. */
int http_file_open(int root_fd, const char *rel, struct http_file *f);

#endif

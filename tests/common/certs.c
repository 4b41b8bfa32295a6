#include "certs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char certs_dir[PATH_MAX + 16];

/* Strips the last n path components of p in place; false if it runs out. */
static int strip_components(char *p, int n)
{
	while (n-- > 0) {
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			return 0;
		*slash = '\0';
	}
	return 1;
}

const char *test_certs_dir(void)
{
	char exe[PATH_MAX], root[PATH_MAX], cmd[3 * PATH_MAX + 64];
	const char *env = getenv("TEST_CERTS");

	if (certs_dir[0])
		return certs_dir;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		perror("test_certs_dir: /proc/self/exe");
		return NULL;
	}
	exe[n] = '\0';
	/* $ROOT/$BUILD/tests/unit/NAME or $ROOT/$BUILD/tests/peer */
	int depth = strstr(exe, "/tests/unit/") ? 3 : 2;
	if (!strip_components(exe, depth)) {
		fprintf(stderr, "test_certs_dir: cannot find the build directory from %s\n", exe);
		return NULL;
	}
	snprintf(root, sizeof(root), "%s", exe);
	strip_components(root, 1);
	if (env && *env)
		snprintf(certs_dir, sizeof(certs_dir), "%s", env);
	else
		snprintf(certs_dir, sizeof(certs_dir), "%s/certs", exe);
	snprintf(cmd, sizeof(cmd), "sh '%s/tests/certs/mk' '%s'", root, certs_dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "test_certs_dir: '%s' failed\n", cmd);
		certs_dir[0] = '\0';
		return NULL;
	}
	return certs_dir;
}

const char *test_cert(const char *file)
{
	static char bufs[32][PATH_MAX + 64];
	static unsigned next;
	const char *dir = test_certs_dir();

	if (!dir) {
		fprintf(stderr, "test_cert: no test certificates\n");
		abort();
	}
	char *b = bufs[next++ % 32];
	snprintf(b, sizeof(bufs[0]), "%.*s/%s", PATH_MAX, dir, file);
	return b;
}

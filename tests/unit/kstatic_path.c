/* kstatic's paths: decoding and normalisation of the target, then openat2
 * beneath a real temporary root with symlinks inside and outside it. */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"
#include "../../examples/kstatic/http_path.h"

/* The relative path for target, or "<status>". */
static const char *rel(const char *target)
{
	static char out[HTTP_PATH_MAX], st[16];
	const char *why;
	int rc = http_path_from_target(target, strlen(target), out, sizeof(out), &why);
	if (rc) {
		snprintf(st, sizeof(st), "<%d>", rc);
		return st;
	}
	return out;
}

static void check_rel(const char *target, const char *want)
{
	const char *got = rel(target);
	test_ok(strcmp(got, want) == 0, "path %s -> %s (got %s)", target, want, got);
}

static void normalisation(void)
{
	check_rel("/", ".");
	check_rel("/a/b", "a/b");
	check_rel("/a/b/", "a/b/");
	check_rel("/a//b", "a/b");
	check_rel("/a/./b", "a/b");
	check_rel("/a/.", "a/");
	check_rel("/a/../b", "b");
	check_rel("/a/..", ".");
	check_rel("/a/b/../../c", "c");
	check_rel("/a%20b", "a b");
	check_rel("/%41%62", "Ab");
	check_rel("/a?x=../../etc", "a");
	check_rel("/?x", ".");
	check_rel("/.hidden", ".hidden");
	check_rel("/a/...", "a/...");
	/* escapes and encodings */
	check_rel("/..", "<400>");
	check_rel("/../etc/passwd", "<400>");
	check_rel("/a/../../etc", "<400>");
	check_rel("/%2e%2e/etc", "<400>");
	check_rel("/%2E%2E/etc", "<400>");
	check_rel("/.%2e/etc", "<400>");
	check_rel("/a/%2e%2e/%2e%2e/x", "<400>");
	check_rel("/a/%2e%2e", ".");
	check_rel("/a%2fb", "<400>");
	check_rel("/a%2Fb", "<400>");
	check_rel("/..%2f..%2fetc", "<400>");
	check_rel("/a%00.html", "<400>");
	check_rel("/a%zz", "<400>");
	check_rel("/a%4", "<400>");
	check_rel("/a%", "<400>");
	check_rel("a", "<400>");
	check_rel("", "<400>");
	const char nul[] = "/a\0b";
	char out[64];
	const char *why;
	test_ok(http_path_from_target(nul, 4, out, sizeof(out), &why) == 400 && why,
		"a raw NUL in the path: 400 (%s)", why);
	test_ok(http_path_from_target("/a b", 4, out, sizeof(out), &why) == 400,
		"a raw space in the path: 400");
	test_ok(http_path_from_target("/abcdef", 7, out, 5, &why) == 414 && why,
		"a path longer than the buffer: 414");
}

static char outside[256], root[300];

static void mkfile(const char *dir, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void in_root(const char *what, int (*fn)(const char *, const char *), const char *a,
		    const char *b)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, b);
	if (fn(a, path) != 0) {
		fprintf(stderr, "%s %s: %s\n", what, path, strerror(errno));
		exit(1);
	}
}

static int mkdir_(const char *unused, const char *path)
{
	(void)unused;
	return mkdir(path, 0755);
}

static int mkfifo_(const char *unused, const char *path)
{
	(void)unused;
	return mkfifo(path, 0644);
}

static void make_tree(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(outside, sizeof(outside), "%s/kstatic-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(outside)) {
		perror("mkdtemp");
		exit(1);
	}
	snprintf(root, sizeof(root), "%s/root", outside);
	mkdir(root, 0755);
	mkfile(outside, "secret.txt", "outside the root\n");
	mkfile(root, "index.html", "<p>home</p>\n");
	mkfile(root, "a.txt", "hello\n");
	in_root("mkdir", mkdir_, NULL, "sub");
	in_root("mkdir", mkdir_, NULL, "noindex");
	mkfile(root, "sub/b.css", "b{}\n");
	mkfile(root, "sub/index.html", "<p>sub</p>\n");
	in_root("symlink", symlink, "a.txt", "link-in");
	in_root("symlink", symlink, "../sub/b.css", "sub/link-up-inside");
	in_root("symlink", symlink, "../secret.txt", "link-out");
	in_root("symlink", symlink, outside, "link-abs-dir");
	in_root("symlink", symlink, "/etc/passwd", "link-abs");
	in_root("symlink", symlink, "..", "link-parent");
	in_root("symlink", symlink, "/proc/self/root", "link-proc");
	in_root("symlink", symlink, "loop", "loop");
	in_root("mkfifo", mkfifo_, NULL, "fifo");
}

static void remove_tree(void)
{
	static const char *names[] = { "root/sub/b.css", "root/sub/index.html", "root/sub/link-up-inside",
				       "root/index.html", "root/a.txt", "root/link-in", "root/link-out",
				       "root/link-abs-dir", "root/link-abs", "root/link-parent",
				       "root/link-proc", "root/loop", "root/fifo", "root/unreadable",
				       "secret.txt" };
	char path[512];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", outside, names[i]);
		unlink(path);
	}
	static const char *dirs[] = { "root/sub", "root/noindex", "root" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", outside, dirs[i]);
		rmdir(path);
	}
	rmdir(outside);
}

static int open_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Serves target from root_fd: the status, and the file's first bytes in got. */
static int serve(int root_fd, const char *target, char *got, size_t cap, bool *is_index)
{
	char path[HTTP_PATH_MAX];
	const char *why;
	int rc = http_path_from_target(target, strlen(target), path, sizeof(path), &why);
	if (rc)
		return rc;
	struct http_file f;
	rc = http_file_open(root_fd, path, &f);
	if (rc)
		return rc;
	ssize_t n = read(f.fd, got, cap - 1);
	got[n > 0 ? n : 0] = '\0';
	if (is_index)
		*is_index = f.is_index;
	close(f.fd);
	return S_ISREG(f.st.st_mode) ? 200 : -1;
}

static void check_serve(int root_fd, const char *target, int want, const char *body)
{
	char got[256] = "";
	int rc = serve(root_fd, target, got, sizeof(got), NULL);
	test_ok(rc == want && (!body || strcmp(got, body) == 0), "GET %s: %d (got %d%s%s)", target,
		want, rc, rc == 200 ? ", " : "", rc == 200 ? "body matches" : "");
}

static void tree(void)
{
	char err[256];
	make_tree();
	int fds = open_count();
	int root_fd = http_root_open(root, err, sizeof(err));
	test_ok(root_fd >= 0, "the root opens and openat2 works (%s)", root_fd < 0 ? err : "ok");
	if (root_fd < 0)
		return;
	bool idx = false;
	char got[64];
	test_ok(serve(root_fd, "/", got, sizeof(got), &idx) == 200 && idx &&
			strcmp(got, "<p>home</p>\n") == 0,
		"GET / serves the root's index.html");
	check_serve(root_fd, "/a.txt", 200, "hello\n");
	check_serve(root_fd, "/sub/b.css", 200, "b{}\n");
	check_serve(root_fd, "/sub/", 200, "<p>sub</p>\n");
	check_serve(root_fd, "/sub", 200, "<p>sub</p>\n");
	check_serve(root_fd, "/sub/../a.txt", 200, "hello\n");
	check_serve(root_fd, "/sub/%2e%2e/a.txt", 200, "hello\n");
	check_serve(root_fd, "/link-in", 200, "hello\n");
	check_serve(root_fd, "/sub/link-up-inside", 200, "b{}\n");
	check_serve(root_fd, "/a.txt?v=2", 200, "hello\n");
	/* what must not be served */
	check_serve(root_fd, "/missing", 404, NULL);
	check_serve(root_fd, "/a.txt/", 404, NULL);
	check_serve(root_fd, "/noindex", 404, NULL);
	check_serve(root_fd, "/noindex/", 404, NULL);
	check_serve(root_fd, "/fifo", 404, NULL);
	check_serve(root_fd, "/link-out", 404, NULL);
	check_serve(root_fd, "/link-abs", 404, NULL);
	check_serve(root_fd, "/link-abs-dir/secret.txt", 404, NULL);
	check_serve(root_fd, "/link-parent/secret.txt", 404, NULL);
	check_serve(root_fd, "/link-proc/etc/passwd", 404, NULL);
	check_serve(root_fd, "/loop", 404, NULL);
	check_serve(root_fd, "/../secret.txt", 400, NULL);
	check_serve(root_fd, "/%2e%2e/secret.txt", 400, NULL);
	check_serve(root_fd, "/sub/..%2f..%2fsecret.txt", 400, NULL);
	check_serve(root_fd, "/a.txt%00.html", 400, NULL);

	/* the kernel fence alone: a path that skipped normalisation */
	struct http_file f;
	test_ok(http_file_open(root_fd, "../secret.txt", &f) == 404 && f.fd == -1,
		"openat2 itself refuses ../ (RESOLVE_BENEATH)");
	test_ok(http_file_open(root_fd, "/etc/passwd", &f) == 404,
		"openat2 itself refuses an absolute path");

	mkfile(root, "unreadable", "x");
	char path[512];
	snprintf(path, sizeof(path), "%s/unreadable", root);
	chmod(path, 0);
	if (geteuid() != 0) {
		check_serve(root_fd, "/unreadable", 403, NULL);
	} else {
		/* root reads any file: the open runs as nobody in a child (the
		 * root directory searchable, so it is the file that refuses) */
		int ws = 0;
		chmod(root, 0755);
		pid_t pid = fork();
		if (pid == 0) {
			struct http_file cf;
			if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 ||
			    setresuid(65534, 65534, 65534) != 0)
				_exit(2);
			_exit(http_file_open(root_fd, "unreadable", &cf) == 403 ? 0 : 1);
		}
		test_ok(pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
			"an unreadable file: 403 (opened as uid 65534; status %d)", WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
	}
	close(root_fd);
	test_ok(open_count() == fds, "no fd left open (%d before, %d after)", fds, open_count());

	test_ok(http_root_open("/nonexistent/kstatic", err, sizeof(err)) == -1 &&
			strstr(err, "/nonexistent/kstatic"),
		"a missing root is refused with its name: %s", err);
	char file[512];
	snprintf(file, sizeof(file), "%s/a.txt", root);
	test_ok(http_root_open(file, err, sizeof(err)) == -1, "a file as root is refused: %s", err);
	remove_tree();
}

int main(void)
{
	normalisation();
	tree();
	return test_done();
}

/* handshakectl: operator commands.
 *
 *   handshakectl status|stats [--prometheus]|reload|rotate-tickets [--socket PATH]
 *   handshakectl ticket-keys new FILE [--count N] [--force]
 *   handshakectl ticket-keys show FILE
 *   handshakectl ticket-keys rotate FILE [--keep N]
 *
 * The first group talks to the running daemon over its control socket
 * (docs/handshakectl.md); ticket-keys works on files alone.
 * Session ticket key files are described in lib/tls/stek.h and
 * docs/ticket-keys.md. `show` never prints key material.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tls/stek.h"

#define EXIT_USAGE 2
#define DEFAULT_CONTROL "/run/handshaked/handoff.sock.ctl"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: handshakectl status|stats [--prometheus]|reload|rotate-tickets [--socket PATH]\n"
		"       handshakectl ticket-keys new FILE [--count N] [--force]\n"
		"       handshakectl ticket-keys show FILE\n"
		"       handshakectl ticket-keys rotate FILE [--keep N]\n"
		"\n"
		"The running daemon, over its control socket (default " DEFAULT_CONTROL ",\n"
		"[control] path in handshaked.conf):\n"
		"  status          state, loops, in-flight handshakes, configuration\n"
		"  stats           counters as a table; --prometheus: Prometheus text format\n"
		"  reload          reload the configuration (as SIGHUP, but reports errors)\n"
		"  rotate-tickets  a fresh session ticket key (in-memory keys only)\n"
		"\n"
		"Session ticket encryption keys shared by handshaked instances.\n"
		"  new     write a file of N (default 1, at most %d) fresh random keys, mode 0600;\n"
		"          refuses to replace an existing file unless --force\n"
		"  show    list key ids, creation times and ages (never the keys)\n"
		"  rotate  put a fresh current key first and keep N previous keys (default %d);\n"
		"          the file is replaced atomically\n",
		TLS_STEK_MAX_KEYS, TLS_STEK_DEFAULT_KEEP);
}

__attribute__((format(printf, 1, 2)))
static int usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "handshakectl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	usage(stderr);
	return EXIT_USAGE;
}

/* Strict decimal in [min, max]; -1 if not. */
static long parse_count(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	if (!s || *s < '0' || *s > '9')
		return -1;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	return v;
}

static void print_id(const uint8_t *id)
{
	for (size_t i = 0; i < TLS_STEK_ID_LEN; i++)
		printf("%02x", id[i]);
}

static void print_age(uint64_t created, uint64_t now)
{
	if (created > now) {
		printf("created in the future (clock skew?)");
		return;
	}
	uint64_t a = now - created;
	if (a >= 86400)
		printf("age %llud%02lluh", (unsigned long long)(a / 86400),
		       (unsigned long long)(a % 86400 / 3600));
	else
		printf("age %lluh%02llum", (unsigned long long)(a / 3600),
		       (unsigned long long)(a % 3600 / 60));
}

static int cmd_new(const char *path, long count, bool force)
{
	char err[512];
	uint64_t now = (uint64_t)time(NULL);
	tls_stek_ring *ring = tls_stek_ring_new((size_t)count - 1, 0);
	int rc = 1;
	if (!ring) {
		fprintf(stderr, "handshakectl: out of memory\n");
		return 1;
	}
	for (long i = 0; i < count; i++) {
		if (tls_stek_ring_rotate(ring, now) != 0) {
			fprintf(stderr, "handshakectl: the random generator failed\n");
			goto out;
		}
	}
	if (tls_stek_ring_save(ring, path, force ? 0 : TLS_STEK_SAVE_EXCL, err, sizeof(err)) != 0) {
		fprintf(stderr, "handshakectl: %s%s\n", err,
			force ? "" : " (use --force to replace it)");
		goto out;
	}
	printf("%s: wrote %ld key%s, current key id ", path, count, count == 1 ? "" : "s");
	print_id(tls_stek_ring_current(ring)->id);
	printf("\n");
	rc = 0;
out:
	tls_stek_ring_free(ring);
	return rc;
}

static int cmd_show(const char *path)
{
	char err[512];
	uint64_t now = (uint64_t)time(NULL);
	tls_stek_ring *ring = tls_stek_ring_new(TLS_STEK_MAX_KEYS - 1, 0);
	if (!ring) {
		fprintf(stderr, "handshakectl: out of memory\n");
		return 1;
	}
	if (tls_stek_ring_load(ring, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "handshakectl: %s\n", err);
		tls_stek_ring_free(ring);
		return 1;
	}
	size_t n = tls_stek_ring_count(ring);
	printf("%s: %zu key%s (format v1)\n", path, n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		const tls_stek *k = tls_stek_ring_key(ring, i);
		char when[64] = "?";
		time_t t = (time_t)k->created;
		struct tm tm;
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		printf("  %-8s  id ", i == 0 ? "current" : "previous");
		print_id(k->id);
		printf("  created %s  ", when);
		print_age(k->created, now);
		printf("\n");
	}
	tls_stek_ring_free(ring);
	return 0;
}

static int cmd_rotate(const char *path, long keep)
{
	char err[512];
	uint64_t now = (uint64_t)time(NULL);
	tls_stek_ring *ring = tls_stek_ring_new((size_t)keep, 0);
	int rc = 1;
	if (!ring) {
		fprintf(stderr, "handshakectl: out of memory\n");
		return 1;
	}
	if (tls_stek_ring_load(ring, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "handshakectl: %s\n", err);
		goto out;
	}
	size_t before = tls_stek_ring_count(ring);
	if (tls_stek_ring_rotate(ring, now) != 0) {
		fprintf(stderr, "handshakectl: the random generator failed\n");
		goto out;
	}
	if (tls_stek_ring_save(ring, path, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "handshakectl: %s\n", err);
		goto out;
	}
	size_t after = tls_stek_ring_count(ring);
	printf("%s: new current key id ", path);
	print_id(tls_stek_ring_current(ring)->id);
	printf(", %zu previous kept, %zu dropped\n", after - 1, before + 1 - after);
	printf("reload every daemon that shares this file\n");
	rc = 0;
out:
	tls_stek_ring_free(ring);
	return rc;
}

static int ticket_keys(int argc, char **argv)
{
	if (argc < 1)
		return usage_error("ticket-keys needs a command");
	const char *cmd = argv[0], *path = NULL;
	long count = 1, keep = TLS_STEK_DEFAULT_KEEP;
	bool force = false, is_new = strcmp(cmd, "new") == 0, is_show = strcmp(cmd, "show") == 0,
	     is_rotate = strcmp(cmd, "rotate") == 0;
	if (!is_new && !is_show && !is_rotate)
		return usage_error("unknown ticket-keys command \"%s\"", cmd);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (is_new && strcmp(a, "--count") == 0) {
			count = parse_count(i + 1 < argc ? argv[i + 1] : NULL, 1, TLS_STEK_MAX_KEYS);
			if (count < 0)
				return usage_error("--count takes a number from 1 to %d", TLS_STEK_MAX_KEYS);
			i++;
		} else if (is_new && strcmp(a, "--force") == 0) {
			force = true;
		} else if (is_rotate && strcmp(a, "--keep") == 0) {
			keep = parse_count(i + 1 < argc ? argv[i + 1] : NULL, 0, TLS_STEK_MAX_KEYS - 1);
			if (keep < 0)
				return usage_error("--keep takes a number from 0 to %d", TLS_STEK_MAX_KEYS - 1);
			i++;
		} else if (a[0] == '-' && a[1] != '\0') {
			return usage_error("unknown option \"%s\"", a);
		} else if (path) {
			return usage_error("more than one FILE (\"%s\")", a);
		} else {
			path = a;
		}
	}
	if (!path)
		return usage_error("ticket-keys %s needs a FILE", cmd);
	if (is_new)
		return cmd_new(path, count, force);
	if (is_show)
		return cmd_show(path);
	return cmd_rotate(path, keep);
}

/* One command line to the control socket; the answer's first line is
 * "ok" or "error: why", the rest goes to stdout. */
static int control(const char *cmd, int argc, char **argv)
{
	const char *path = DEFAULT_CONTROL;
	bool prom = false;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char line[64], buf[4096], head[512];
	size_t hlen = 0;
	bool in_head = true;
	int fd;
	ssize_t n;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strncmp(argv[i], "--socket=", 9) == 0)
			path = argv[i] + 9;
		else if (strcmp(argv[i], "--prometheus") == 0 && strcmp(cmd, "stats") == 0)
			prom = true;
		else
			return usage_error("%s: unexpected argument \"%s\"", cmd, argv[i]);
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return usage_error("--socket: path too long");
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(line, sizeof(line), "%s%s\n", cmd, prom ? " prometheus" : "");
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "handshakectl: %s: %s (is handshaked running? --socket PATH)\n", path,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	if (write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		fprintf(stderr, "handshakectl: %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		char *p = buf;
		size_t len = (size_t)n;
		if (in_head) {             /* collect the status line */
			char *nl = memchr(p, '\n', len);
			size_t take = nl ? (size_t)(nl - p) + 1 : len;
			if (hlen + take < sizeof(head)) {
				memcpy(head + hlen, p, take);
				hlen += take;
			}
			p += take;
			len -= take;
			if (nl)
				in_head = false;
		}
		fwrite(p, 1, len, stdout);
	}
	close(fd);
	head[hlen] = 0;
	if (strcmp(head, "ok\n") == 0)
		return 0;
	fprintf(stderr, "handshakectl: %s", hlen ? head : "no answer from the daemon\n");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
			  strcmp(argv[1], "help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2)
		return usage_error("no command");
	if (strcmp(argv[1], "ticket-keys") == 0)
		return ticket_keys(argc - 2, argv + 2);
	if (strcmp(argv[1], "status") == 0 || strcmp(argv[1], "stats") == 0 || strcmp(argv[1], "reload") == 0 ||
	    strcmp(argv[1], "rotate-tickets") == 0)
		return control(argv[1], argc - 2, argv + 2);
	return usage_error("unknown command \"%s\"", argv[1]);
}

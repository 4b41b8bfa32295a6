/* Configuration: defaults, then the INI file (Debian's libinih), then the
 * flags. Every error names where it came from: "FILE:LINE: reason" for
 * the file, "--flag: reason" for the command line. */
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "log.h"
#include "metrics.h"
#include "tls/names.h"

#define LINE_MAX_LEN 4096

/* State of one file parse: libinih calls the reader once per line, so
 * counting there gives the handler its line number. */
struct parse {
	struct dconfig *c;
	FILE *f;
	const char *file;
	int line;
	int err_line;              /* first line our handler refused, 0: none */
	char err[512];
	bool have_key_for_last;    /* [server] key pairs with the cert before it */
};

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);
	if (!s)
		return -1;
	free(*dst);
	*dst = s;
	return 0;
}

/* Unsigned decimal (or octal with base 8) in [min, max]. */
static int parse_uint(const char *v, int base, unsigned long long min, unsigned long long max,
		      unsigned long long *out)
{
	char *end;
	unsigned long long n;

	if (!*v || *v == '-' || *v == '+')
		return -1;
	errno = 0;
	n = strtoull(v, &end, base);
	if (errno || *end || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

static int parse_uid(const char *v, uid_t *out)
{
	unsigned long long n;
	struct passwd *pw;

	if (parse_uint(v, 10, 0, UINT32_MAX - 1, &n) == 0) {
		*out = (uid_t)n;
		return 0;
	}
	if (!(pw = getpwnam(v)))
		return -1;
	*out = pw->pw_uid;
	return 0;
}

static int parse_gid(const char *v, gid_t *out)
{
	unsigned long long n;
	struct group *gr;

	if (parse_uint(v, 10, 0, UINT32_MAX - 1, &n) == 0) {
		*out = (gid_t)n;
		return 0;
	}
	if (!(gr = getgrnam(v)))
		return -1;
	*out = gr->gr_gid;
	return 0;
}

static int parse_client_auth(const char *v, enum tls_client_auth *out)
{
	if (strcmp(v, "none") == 0)
		*out = TLS_CLIENT_AUTH_NONE;
	else if (strcmp(v, "optional") == 0)
		*out = TLS_CLIENT_AUTH_OPTIONAL;
	else if (strcmp(v, "require") == 0)
		*out = TLS_CLIENT_AUTH_REQUIRE;
	else
		return -1;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

int config_add_keyring(struct dconfig *c, const char *name, size_t len, char *err, size_t errlen)
{
	if (!len) {
		seterr(err, errlen, "keyrings: empty keyring name");
		return -1;
	}
	for (size_t i = 0; i < c->n_keyrings; i++)
		if (strlen(c->keyrings[i]) == len && memcmp(c->keyrings[i], name, len) == 0)
			return 0;      /* linked once is enough */
	if (c->n_keyrings == CFG_MAX_KEYRINGS) {
		seterr(err, errlen, "keyrings: more than %d keyrings", CFG_MAX_KEYRINGS);
		return -1;
	}
	if (!(c->keyrings[c->n_keyrings] = strndup(name, len))) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	c->n_keyrings++;
	return 0;
}

/* "a;b;c": each name trimmed and non-empty (a ';' after a blank starts a
 * libinih comment, so "a ; b" never gets here whole). */
static int add_keyrings(struct dconfig *c, const char *v, char *err, size_t len)
{
	for (;;) {
		const char *end = strchr(v, ';');
		size_t n = end ? (size_t)(end - v) : strlen(v);
		while (n && (*v == ' ' || *v == '\t'))
			v++, n--;
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (config_add_keyring(c, v, n, err, len) != 0)
			return -1;
		if (!end)
			return 0;
		v = end + 1;
	}
}

static void clear_certs(struct dconfig *c)
{
	for (size_t i = 0; i < c->n_certs; i++) {
		free(c->certs[i].cert);
		free(c->certs[i].key);
	}
	memset(c->certs, 0, sizeof(c->certs));
	c->n_certs = 0;
}

static int add_cert(struct dconfig *c, const char *path, const char *where, char *err, size_t len)
{
	struct cfg_cert *ct;

	if (c->n_certs == CFG_MAX_CERTS) {
		seterr(err, len, "more than %d certificates", CFG_MAX_CERTS);
		return -1;
	}
	ct = &c->certs[c->n_certs];
	if (!(ct->cert = strdup(path))) {
		seterr(err, len, "out of memory");
		return -1;
	}
	snprintf(ct->where, sizeof(ct->where), "%s", where);
	c->n_certs++;
	return 0;
}

static int add_key(struct dconfig *c, const char *path, const char *what, char *err, size_t len)
{
	struct cfg_cert *ct = c->n_certs ? &c->certs[c->n_certs - 1] : NULL;

	if (!ct || ct->key) {
		seterr(err, len, "%s without a certificate before it", what);
		return -1;
	}
	if (!(ct->key = strdup(path))) {
		seterr(err, len, "out of memory");
		return -1;
	}
	return 0;
}

/* A preference list replaces the one before it (file, then flag); the
 * reason names the kind ("unknown group 'foo'"). */
static int set_prefs(uint16_t *ids, size_t *n, enum tls_name_kind kind, const char *v, char *err,
		     size_t len)
{
	int r = tls_parse_name_list(kind, v, ids, CFG_MAX_PREFS, err, len);

	if (r < 0)
		return -1;
	*n = (size_t)r;
	return 0;
}

static int apply_prefs(struct cfg_prefs *p, const char *name, const char *v, char *err, size_t len)
{
	if (strcmp(name, "ciphers") == 0)
		return set_prefs(p->ciphers, &p->n_ciphers, TLS_NAMES_CIPHER, v, err, len);
	if (strcmp(name, "groups") == 0)
		return set_prefs(p->groups, &p->n_groups, TLS_NAMES_GROUP, v, err, len);
	return set_prefs(p->sigalgs, &p->n_sigalgs, TLS_NAMES_SIGALG, v, err, len);
}

/* One setting, from the file or a flag: the shared part of both. 0, or
 * -1 with err set (without the location). */
static int apply(struct dconfig *c, const char *section, const char *name, const char *v,
		 const char *where, char *err, size_t len)
{
	unsigned long long n;

#define IS(s, k) (strcmp(section, s) == 0 && strcmp(name, k) == 0)
#define NUM(base, lo, hi, dst, what)                                                   \
	do {                                                                           \
		if (parse_uint(v, base, lo, hi, &n) != 0) {                            \
			seterr(err, len, "%s: '%s' is not a number in %llu..%llu", what, v, \
			       (unsigned long long)(lo), (unsigned long long)(hi));    \
			return -1;                                                     \
		}                                                                      \
		dst = n;                                                               \
		return 0;                                                              \
	} while (0)

	if (IS("handoff", "path")) {
		if (!*v || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			seterr(err, len, "handoff path: empty or longer than %zu bytes",
			       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
			return -1;
		}
		return set_str(&c->handoff_path, v);
	}
	if (IS("handoff", "mode"))
		NUM(8, 0, 07777, c->handoff_mode, "mode (octal)");
	if (IS("handoff", "enabled") || IS("upcall", "enabled")) {
		bool on;
		if (parse_bool(v, &on) != 0) {
			seterr(err, len, "enabled: '%s' is not yes or no", v);
			return -1;
		}
		if (strcmp(section, "handoff") == 0)
			c->handoff_off = !on;
		else
			c->upcall = on;
		return 0;
	}
	if (IS("handoff", "allow_uid")) {
		if (c->n_uid == CFG_MAX_IDS) {
			seterr(err, len, "more than %d allowed uids", CFG_MAX_IDS);
			return -1;
		}
		if (parse_uid(v, &c->allow_uid[c->n_uid]) != 0) {
			seterr(err, len, "allow_uid: no user '%s'", v);
			return -1;
		}
		c->n_uid++;
		return 0;
	}
	if (IS("handoff", "allow_gid")) {
		if (c->n_gid == CFG_MAX_IDS) {
			seterr(err, len, "more than %d allowed gids", CFG_MAX_IDS);
			return -1;
		}
		if (parse_gid(v, &c->allow_gid[c->n_gid]) != 0) {
			seterr(err, len, "allow_gid: no group '%s'", v);
			return -1;
		}
		c->n_gid++;
		return 0;
	}
	if (IS("server", "cert"))
		return add_cert(c, v, where, err, len);
	if (IS("server", "key"))
		return add_key(c, v, "key", err, len);
	if (IS("server", "alpn"))
		return set_str(&c->alpn, v);
	if (IS("server", "client_ca"))
		return set_str(&c->client_ca, v);
	if (IS("server", "client_auth")) {
		if (parse_client_auth(v, &c->client_auth) != 0) {
			seterr(err, len, "client_auth: '%s' is not none, optional or require", v);
			return -1;
		}
		return 0;
	}
	if (IS("server", "ciphers") || IS("server", "groups") || IS("server", "signature_algorithms"))
		return apply_prefs(&c->server_prefs, name, v, err, len);
	if (IS("client", "ciphers") || IS("client", "groups") || IS("client", "signature_algorithms"))
		return apply_prefs(&c->client_prefs, name, v, err, len);
	if (IS("tickets", "count"))
		NUM(10, 0, 16, c->tickets, "tickets count");
	if (IS("tickets", "lifetime"))
		NUM(10, 1, 604800, c->ticket_lifetime, "tickets lifetime (seconds)");
	if (IS("tickets", "key_file"))
		return set_str(&c->ticket_key_file, v);
	if (IS("early_data", "max"))
		NUM(10, 0, UINT32_MAX, c->early_max, "early_data max (bytes)");
	if (IS("limits", "deadline_ms"))
		NUM(10, 100, 3600 * 1000, c->deadline_ms, "deadline_ms");
	if (IS("limits", "max_inflight"))
		NUM(10, 1, 1000000, c->max_inflight, "max_inflight");
	if (IS("limits", "max_per_app"))
		NUM(10, 1, 1000000, c->max_per_app, "max_per_app");
	if (IS("limits", "loops"))
		NUM(10, 1, CFG_MAX_LOOPS, c->loops, "loops");
	if (IS("control", "path")) {
		if (!*v || strlen(v) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			seterr(err, len, "control path: empty or longer than %zu bytes",
			       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
			return -1;
		}
		return set_str(&c->control_path, v);
	}
	if (IS("metrics", "listen")) {
		struct sockaddr_storage ss;
		socklen_t sl;
		if (metrics_addr_parse(v, &ss, &sl, err, len) != 0)
			return -1;
		return set_str(&c->metrics_listen, v);
	}
	if (IS("client", "ca_file"))
		return set_str(&c->server_ca, v);
	if (IS("client", "ticket_cache"))
		NUM(10, 1, 1000000, c->ticket_cache, "client ticket_cache (entries)");
	if (IS("limits", "max_handshake"))
		NUM(10, 1024, 16777215, c->max_handshake, "max_handshake (bytes)");
	if (IS("upcall", "tlshd_config")) {
		if (!*v) {
			seterr(err, len, "tlshd_config: empty (a file, or default)");
			return -1;
		}
		return set_str(&c->tlshd_config, v);
	}
	if (IS("upcall", "keyrings"))
		return add_keyrings(c, v, err, len);
	if (IS("upcall", "ca_file"))
		return set_str(&c->upcall_ca, v);
	if (IS("upcall", "cert"))
		return set_str(&c->upcall_cert, v);
	if (IS("upcall", "key"))
		return set_str(&c->upcall_key, v);
	if (IS("daemon", "user") || IS("daemon", "group")) {
		bool user = strcmp(name, "user") == 0;
		if (user ? !getpwnam(v) : !getgrnam(v)) {
			seterr(err, len, "%s: no %s '%s'", name, user ? "user" : "group", v);
			return -1;
		}
		return set_str(user ? &c->user : &c->group, v);
	}
	if (IS("daemon", "seccomp")) {
		bool on;
		if (parse_bool(v, &on) != 0) {
			seterr(err, len, "seccomp: '%s' is not yes or no", v);
			return -1;
		}
		c->seccomp_off = !on;
		return 0;
	}
	if (IS("log", "level")) {
		int l = log_level_parse(v);
		if (l < 0) {
			seterr(err, len, "log level: '%s' is not error, warn, info or debug", v);
			return -1;
		}
		c->log_level = l;
		return 0;
	}
#undef NUM
#undef IS
	seterr(err, len, "unknown setting '%s' in [%s]", name, section);
	return -1;
}

/* fgets that counts lines and refuses lines libinih would cut. */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char *r = fgets(str, num, p->f);
	size_t n;

	if (!r)
		return NULL;
	p->line++;
	n = strlen(r);
	if (n + 1 == (size_t)num && r[n - 1] != '\n' && !p->err_line) {
		p->err_line = p->line;
		snprintf(p->err, sizeof(p->err), "line longer than %d bytes", num - 2);
		/* swallow the rest of the line so counting stays right */
		int ch;
		while ((ch = fgetc(p->f)) != EOF && ch != '\n')
			;
	}
	return r;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char where[CFG_WHERE], why[512];

	snprintf(where, sizeof(where), "%s:%d", p->file, p->line);
	if (apply(p->c, section, name, value, where, why, sizeof(why)) != 0) {
		if (!p->err_line) {   /* the first error is the one reported */
			p->err_line = p->line;
			snprintf(p->err, sizeof(p->err), "%s", why);
		}
		return 0;
	}
	return 1;
}

static int load_file(struct dconfig *c, const char *file, char *err, size_t errlen)
{
	struct parse p = { .c = c, .file = file };
	int r;

	if (!(p.f = fopen(file, "re"))) {
		seterr(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	r = ini_parse_stream(reader, &p, handler, &p);
	fclose(p.f);
	if (r == 0 && !p.err_line)
		return 0;
	if (r < 0) {
		seterr(err, errlen, "%s: cannot parse (%s)", file, r == -2 ? "out of memory" : "read error");
		return -1;
	}
	/* libinih reports its first error line; ours may be later or earlier */
	if (p.err_line && (r == 0 || p.err_line <= r))
		seterr(err, errlen, "%s:%d: %s", file, p.err_line, p.err);
	else
		seterr(err, errlen, "%s:%d: syntax error (expected [section] or name = value)", file, r);
	return -1;
}

/* The flags: --name VALUE or --name=VALUE. */
static const struct flag {
	const char *name;
	const char *section, *key;   /* the file setting it maps to, if any */
	bool list;                   /* replaces the file's list on first use */
} flags[] = {
	{ "handoff", "handoff", "path", false },
	{ "mode", "handoff", "mode", false },
	{ "allow-uid", "handoff", "allow_uid", true },
	{ "allow-gid", "handoff", "allow_gid", true },
	{ "cert", "server", "cert", true },
	{ "key", "server", "key", false },
	{ "alpn", "server", "alpn", false },
	{ "client-ca", "server", "client_ca", false },
	{ "client-auth", "server", "client_auth", false },
	{ "ciphers", "server", "ciphers", false },
	{ "groups", "server", "groups", false },
	{ "sigalgs", "server", "signature_algorithms", false },
	{ "tickets", "tickets", "count", false },
	{ "ticket-lifetime", "tickets", "lifetime", false },
	{ "ticket-keys", "tickets", "key_file", false },
	{ "early-data", "early_data", "max", false },
	{ "deadline-ms", "limits", "deadline_ms", false },
	{ "max-inflight", "limits", "max_inflight", false },
	{ "max-handshake", "limits", "max_handshake", false },
	{ "max-per-app", "limits", "max_per_app", false },
	{ "loops", "limits", "loops", false },
	{ "control", "control", "path", false },
	{ "metrics", "metrics", "listen", false },
	{ "client-ca-file", "client", "ca_file", false },
	{ "ticket-cache", "client", "ticket_cache", false },
	{ "client-ciphers", "client", "ciphers", false },
	{ "client-groups", "client", "groups", false },
	{ "client-sigalgs", "client", "signature_algorithms", false },
	{ "log-level", "log", "level", false },
	{ "tlshd-config", "upcall", "tlshd_config", false },
	{ "user", "daemon", "user", false },
	{ "group", "daemon", "group", false },
	{ "seccomp", "daemon", "seccomp", false },
};
#define NFLAGS (sizeof(flags) / sizeof(flags[0]))

void config_usage(FILE *f)
{
	fprintf(f,
		"usage: handshaked [-c FILE] [-t] [--handoff PATH] [--cert F --key F]...\n"
		"                  [--alpn LIST] [--client-ca F --client-auth none|optional|require]\n"
		"                  [--ciphers LIST] [--groups LIST] [--sigalgs LIST]\n"
		"                  [--tickets N] [--ticket-lifetime S] [--ticket-keys FILE]\n"
		"                  [--early-data BYTES] [--deadline-ms N] [--max-inflight N]\n"
		"                  [--max-handshake BYTES] [--max-per-app N] [--loops N]\n"
		"                  [--control PATH] [--metrics ADDR:PORT|unix:PATH]\n"
		"                  [--allow-uid UID]... [--allow-gid GID]...\n"
		"                  [--client-ca-file F] [--ticket-cache N] [--client-ciphers LIST]\n"
		"                  [--client-groups LIST] [--client-sigalgs LIST]\n"
		"                  [--mode OCTAL] [--log-level error|warn|info|debug]\n"
		"                  [--no-handoff] [--upcall] [--tlshd-config FILE|default]\n"
		"                  [--user NAME [--group NAME]] [--seccomp yes|no]\n"
		"  -c, --config FILE  INI configuration (handshaked.conf(5)); flags override it\n"
		"  -t, --test         check the configuration (and load the certificates), then exit\n"
		"  -h, --help         this text; every option: handshaked(8)\n");
}

static void defaults(struct dconfig *c)
{
	memset(c, 0, sizeof(*c));
	c->handoff_mode = CFG_DEFAULT_MODE;
	c->client_auth = TLS_CLIENT_AUTH_NONE;
	c->tickets = CFG_DEFAULT_TICKETS;
	c->ticket_lifetime = CFG_DEFAULT_LIFETIME;
	c->deadline_ms = CFG_DEFAULT_DEADLINE_MS;
	c->max_inflight = CFG_DEFAULT_MAX_INFLIGHT;
	c->max_per_app = CFG_DEFAULT_MAX_PER_APP;
	c->ticket_cache = CFG_DEFAULT_TICKET_CACHE;
	c->loops = 1;
	c->log_level = LOG_INFO;
}

/* Checks what only the whole configuration can tell. */
static int validate(const struct dconfig *c, char *err, size_t errlen)
{
	const char *src = c->file ? c->file : "handshaked";

	if (c->handoff_off && !c->upcall) {
		seterr(err, errlen, "%s: nothing to serve: the handoff socket is off ([handoff] enabled = no, "
		       "--no-handoff) and so is the kernel upcall ([upcall] enabled = yes or --upcall)", src);
		return -1;
	}
	if (!c->handoff_off && !c->handoff_path) {
		seterr(err, errlen, "%s: no handoff socket: set [handoff] path or --handoff", src);
		return -1;
	}
	/* the upcall alone may serve clients only (NFS mounts, NVMe PSK) */
	if (!c->handoff_off && !c->n_certs) {
		seterr(err, errlen, "%s: no certificate: set [server] cert and key, or --cert and --key", src);
		return -1;
	}
	for (size_t i = 0; i < c->n_certs; i++)
		if (!c->certs[i].key) {
			seterr(err, errlen, "%s: certificate %s has no key after it", c->certs[i].where,
			       c->certs[i].cert);
			return -1;
		}
	if (c->control_path && c->handoff_path && strcmp(c->control_path, c->handoff_path) == 0) {
		seterr(err, errlen, "%s: the control socket cannot be the handoff socket", src);
		return -1;
	}
	if (c->client_auth != TLS_CLIENT_AUTH_NONE && !c->client_ca) {
		seterr(err, errlen, "%s: client_auth %s needs client_ca", src,
		       c->client_auth == TLS_CLIENT_AUTH_REQUIRE ? "require" : "optional");
		return -1;
	}
	if (c->group && !c->user) {
		seterr(err, errlen, "%s: [daemon] group (--group) needs [daemon] user (--user)", src);
		return -1;
	}
	if (!c->upcall_cert != !c->upcall_key) {
		seterr(err, errlen, "%s: [upcall] cert and key go together", src);
		return -1;
	}
	return 0;
}

int config_load(struct dconfig *c, int argc, char **argv, char *err, size_t errlen)
{
	bool list_started[NFLAGS] = { 0 };
	char why[512];
	int i;

	defaults(c);
	/* -c first, wherever it is: flags override the file */
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				seterr(err, errlen, "%s: needs a file", argv[i]);
				return -1;
			}
			if (set_str(&c->file, argv[++i]) != 0) {
				seterr(err, errlen, "out of memory");
				return -1;
			}
		} else if (strncmp(argv[i], "--config=", 9) == 0 && set_str(&c->file, argv[i] + 9) != 0) {
			seterr(err, errlen, "out of memory");
			return -1;
		}
	}
	if (c->file && load_file(c, c->file, err, errlen) != 0)
		return -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v, *eq;
		size_t k, nlen;

		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0)
			continue;
		if (strcmp(a, "-t") == 0 || strcmp(a, "--test") == 0) {
			c->check_only = true;
			continue;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			c->help = true;
			continue;
		}
		if (strcmp(a, "--upcall") == 0) {
			c->upcall = true;
			continue;
		}
		if (strcmp(a, "--no-handoff") == 0) {
			c->handoff_off = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0) {
			seterr(err, errlen, "%s: unexpected argument (see --help)", a);
			return -1;
		}
		eq = strchr(a, '=');
		nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		for (k = 0; k < NFLAGS; k++)
			if (strlen(flags[k].name) == nlen && strncmp(a + 2, flags[k].name, nlen) == 0)
				break;
		if (k == NFLAGS) {
			seterr(err, errlen, "%.*s: unknown option (see --help)", (int)(nlen + 2), a);
			return -1;
		}
		if (eq)
			v = eq + 1;
		else if (i + 1 < argc)
			v = argv[++i];
		else {
			seterr(err, errlen, "--%s: needs a value", flags[k].name);
			return -1;
		}
		if (flags[k].list && !list_started[k]) {
			list_started[k] = true;
			if (strcmp(flags[k].key, "cert") == 0)
				clear_certs(c);
			else if (strcmp(flags[k].key, "allow_uid") == 0)
				c->n_uid = 0;
			else
				c->n_gid = 0;
		}
		char where[CFG_WHERE];
		snprintf(where, sizeof(where), "--cert %s", v);
		if (strcmp(flags[k].key, "key") == 0) {
			if (add_key(c, v, "--key", why, sizeof(why)) != 0) {
				seterr(err, errlen, "%s", why);
				return -1;
			}
		} else if (apply(c, flags[k].section, flags[k].key, v, where, why, sizeof(why)) != 0) {
			seterr(err, errlen, "--%s: %s", flags[k].name, why);
			return -1;
		}
		if (strcmp(flags[k].key, "tlshd_config") == 0)
			c->upcall = true;      /* naming tlshd's file means serving the kernel */
	}
	if (c->help)
		return 0;
	/* tlshd's file last: it fills only what ours and the flags left unset */
	if (c->tlshd_config && config_load_tlshd(c, c->tlshd_config, err, errlen) != 0)
		return -1;
	if (validate(c, err, errlen) != 0)
		return -1;
	/* the control socket defaults to a name next to the handoff socket */
	if (!c->control_path && !c->handoff_path) {
		seterr(err, errlen, "%s: no control socket: with the handoff off, set [control] path or --control",
		       c->file ? c->file : "handshaked");
		return -1;
	}
	if (!c->control_path) {
		size_t n = strlen(c->handoff_path) + sizeof(".ctl");
		if (n > sizeof(((struct sockaddr_un *)0)->sun_path)) {
			seterr(err, errlen, "%s: handoff path too long to name the control socket after it; "
			       "set [control] path", c->file ? c->file : "handshaked");
			return -1;
		}
		if (!(c->control_path = malloc(n))) {
			seterr(err, errlen, "out of memory");
			return -1;
		}
		snprintf(c->control_path, n, "%s.ctl", c->handoff_path);
	}
	return 0;
}

void config_free(struct dconfig *c)
{
	clear_certs(c);
	free(c->file);
	free(c->handoff_path);
	free(c->control_path);
	free(c->metrics_listen);
	free(c->alpn);
	free(c->client_ca);
	free(c->server_ca);
	free(c->ticket_key_file);
	free(c->tlshd_config);
	for (size_t i = 0; i < c->n_keyrings; i++)
		free(c->keyrings[i]);
	free(c->upcall_ca);
	free(c->upcall_cert);
	free(c->upcall_key);
	free(c->user);
	free(c->group);
	memset(c, 0, sizeof(*c));
}

int config_apply_prefs(tls_config *t, const struct cfg_prefs *p, char *err, size_t errlen)
{
	/* the lists were checked against the engine when read */
	if (p->n_ciphers && tls_config_set_ciphers(t, p->ciphers, p->n_ciphers) != 0) {
		seterr(err, errlen, "ciphers refused by the engine");
		return -1;
	}
	if (p->n_groups && tls_config_set_groups(t, p->groups, p->n_groups) != 0) {
		seterr(err, errlen, "groups refused by the engine");
		return -1;
	}
	if (p->n_sigalgs && tls_config_set_sigalgs(t, p->sigalgs, p->n_sigalgs) != 0) {
		seterr(err, errlen, "signature_algorithms refused by the engine");
		return -1;
	}
	return 0;
}

tls_config *config_build_tls(const struct dconfig *c, tls_stek_ring *ring,
			     const struct tls_antireplay_ops *ops, void *ctx, char *err, size_t errlen)
{
	tls_config *t = tls_config_new(TLS_SERVER);
	char why[512];
	const char *src = c->file ? c->file : "handshaked";

	if (!t) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < c->n_certs; i++) {
		if (tls_config_add_cert_files(t, c->certs[i].cert, c->certs[i].key, why, sizeof(why)) != 0) {
			seterr(err, errlen, "%s: certificate %s / key %s: %s", c->certs[i].where,
			       c->certs[i].cert, c->certs[i].key, why);
			goto fail;
		}
	}
	if (config_apply_prefs(t, &c->server_prefs, why, sizeof(why)) != 0) {
		seterr(err, errlen, "%s: [server] %s", src, why);
		goto fail;
	}
	if (c->alpn && tls_config_set_alpn(t, c->alpn) != 0) {
		seterr(err, errlen, "%s: alpn '%s': not a valid comma-separated list", src, c->alpn);
		goto fail;
	}
	if (c->client_ca) {
		if (tls_config_load_ca(t, c->client_ca, why, sizeof(why)) != 0) {
			seterr(err, errlen, "%s: client_ca %s: %s", src, c->client_ca, why);
			goto fail;
		}
	}
	if (tls_config_set_client_auth(t, c->client_auth) != 0 ||
	    tls_config_set_tickets(t, c->tickets, c->ticket_lifetime) != 0) {
		seterr(err, errlen, "%s: tickets/client_auth refused by the engine", src);
		goto fail;
	}
	if (ring && tls_config_set_ticket_keys(t, ring) != 0) {
		seterr(err, errlen, "%s: ticket keys refused by the engine", src);
		goto fail;
	}
	if (ops && tls_config_set_antireplay(t, ops, ctx) != 0) {
		seterr(err, errlen, "%s: anti-replay recorder refused by the engine", src);
		goto fail;
	}
	if (c->early_max && tls_config_set_early_data(t, c->early_max) != 0) {
		seterr(err, errlen, "%s: early_data max %u refused by the engine", src, c->early_max);
		goto fail;
	}
	if (c->max_handshake && tls_config_set_max_handshake(t, c->max_handshake) != 0) {
		seterr(err, errlen, "%s: max_handshake refused by the engine", src);
		goto fail;
	}
	tls_config_freeze(t);
	return t;
fail:
	tls_config_free(t);
	return NULL;
}

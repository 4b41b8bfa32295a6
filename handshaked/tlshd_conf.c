/* tlshd's configuration file (ktls-utils' tlshd.conf(5)), read so that
 * handshaked can take tlshd's place on the kernel upcall with the file the
 * machine already has. It is a GLib keyfile, parsed here rather than with
 * libinih: GLib has no inline comments (';' separates list items), no
 * continuation lines (an indented line is a key of its own) and no line
 * length limit, and libinih differs on all three. What handshaked's own
 * file or flags set wins; tlshd's file only fills what they left unset. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define TLSHD_LINE_MAX 16384       /* GLib has none; a path is far shorter */

static const char *const default_files[] = { "/etc/tlshd/config", "/etc/tlshd.conf" };

/* The values kept until the whole file is read (GLib: the last one wins). */
enum slot {
	S_LOGLEVEL,
	S_KEYRINGS,
	S_CLIENT_TRUST,
	S_CLIENT_CERT,
	S_CLIENT_KEY,
	S_SERVER_TRUST,
	S_SERVER_CERT,
	S_SERVER_KEY,
	S_N
};

enum kind { K_SLOT, K_IGNORE, K_CRL, K_PQ };

static const struct known {
	const char *group, *key;
	enum kind kind;
	enum slot slot;
} known[] = {
	{ "debug", "loglevel", K_SLOT, S_LOGLEVEL },
	{ "debug", "tls", K_IGNORE, 0 },
	{ "debug", "nl", K_IGNORE, 0 },
	{ "debug", "delay_done", K_IGNORE, 0 },
	{ "authenticate", "keyrings", K_SLOT, S_KEYRINGS },
	{ "authenticate.client", "x509.truststore", K_SLOT, S_CLIENT_TRUST },
	{ "authenticate.client", "x509.certificate", K_SLOT, S_CLIENT_CERT },
	{ "authenticate.client", "x509.private_key", K_SLOT, S_CLIENT_KEY },
	{ "authenticate.client", "x509.crl", K_CRL, 0 },
	{ "authenticate.client", "x509.pq.certificate", K_PQ, 0 },
	{ "authenticate.client", "x509.pq.private_key", K_PQ, 0 },
	{ "authenticate.server", "x509.truststore", K_SLOT, S_SERVER_TRUST },
	{ "authenticate.server", "x509.certificate", K_SLOT, S_SERVER_CERT },
	{ "authenticate.server", "x509.private_key", K_SLOT, S_SERVER_KEY },
	{ "authenticate.server", "x509.crl", K_CRL, 0 },
	{ "authenticate.server", "x509.pq.certificate", K_PQ, 0 },
	{ "authenticate.server", "x509.pq.private_key", K_PQ, 0 },
};
#define NKNOWN (sizeof(known) / sizeof(known[0]))

struct tfile {
	const char *file;
	char *val[S_N];            /* raw (still escaped), NULL: not given */
	int line[S_N];
};

__attribute__((format(printf, 3, 4))) static void seterr(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
}

/* GLib's escapes: \s \t \n \r \\, and \; inside a list item. Writes at
 * most n bytes plus a NUL to out; -1 on any other escape. */
static int unescape(const char *s, size_t n, char *out)
{
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\') {
			out[j++] = s[i];
			continue;
		}
		if (++i == n)
			return -1;
		switch (s[i]) {
		case 's': out[j++] = ' '; break;
		case 't': out[j++] = '\t'; break;
		case 'n': out[j++] = '\n'; break;
		case 'r': out[j++] = '\r'; break;
		case '\\': out[j++] = '\\'; break;
		case ';': out[j++] = ';'; break;
		default: return -1;
		}
	}
	out[j] = 0;
	return 0;
}

/* A GnuTLS URL where tlshd would call gnutls_privkey_import_url: a scheme
 * ("pkcs11:", "tpmkey:") or anything with "://". */
static bool is_url(const char *v)
{
	if (strncmp(v, "pkcs11:", 7) == 0 || strstr(v, "://"))
		return true;
	if (!isalpha((unsigned char)*v))
		return false;
	for (v++; *v; v++) {
		if (*v == ':')
			return true;
		if (!isalnum((unsigned char)*v) && *v != '+' && *v != '-' && *v != '.')
			return false;
	}
	return false;
}

/* slot's value unescaped into *out (NULL when unset or empty: tlshd then
 * has nothing usable either). 0, or -1 with err set. */
static int get_path(const struct tfile *t, enum slot s, const char *key, char **out, char *err, size_t len)
{
	const char *v = t->val[s];
	char *p;

	*out = NULL;
	if (!v || !*v)
		return 0;
	if (!(p = malloc(strlen(v) + 1))) {
		seterr(err, len, "out of memory");
		return -1;
	}
	if (unescape(v, strlen(v), p) != 0) {
		free(p);
		seterr(err, len, "%s:%d: %s: invalid escape sequence", t->file, t->line[s], key);
		return -1;
	}
	if (is_url(p)) {
		/* only the scheme: a PKCS #11 URL may carry a PIN */
		size_t k = strcspn(p, ":");
		seterr(err, len, "%s:%d: %s: a '%.*s:' URL; handshaked reads PEM files only "
		       "(no PKCS #11 tokens or other GnuTLS URLs)", t->file, t->line[s], key, (int)(k < 32 ? k : 32), p);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

static void take(char **dst, char **src)
{
	if (!*dst) {
		*dst = *src;
		*src = NULL;
	}
}

/* [authenticate] keyrings = a;b;c; (GLib string list: ';' ends each item,
 * a last ';' is optional, "\;" is a ';' in a name). */
static int map_keyrings(struct dconfig *c, const struct tfile *t, char *err, size_t len)
{
	static const char *const tlshd_always[] = { ".nvme", ".nfs", ".nfsd" };
	const char *v = t->val[S_KEYRINGS];
	char why[300], *name;
	bool seeded = c->n_keyrings > 0;
	int r = 0;

	if (!v || !*v)
		return 0;
	if (!(name = malloc(strlen(v) + 1))) {
		seterr(err, len, "out of memory");
		return -1;
	}
	while (*v) {
		size_t n = 0;
		while (v[n] && v[n] != ';')
			n += v[n] == '\\' && v[n + 1] ? 2 : 1;
		if (unescape(v, n, name) != 0) {
			seterr(err, len, "%s:%d: keyrings: invalid escape sequence", t->file, t->line[S_KEYRINGS]);
			r = -1;
			break;
		}
		/* GLib keeps blanks around an item; no keyring name has them */
		char *nm = name, *e = name + strlen(name);
		while (is_space(*nm))
			nm++;
		while (e > nm && is_space(e[-1]))
			*--e = 0;
		if (!*nm) {
			log_ev(LOG_WARN, "config_ignored", "file=%s line=%d text=\"keyrings: empty name ignored\"",
			       log_q(t->file), t->line[S_KEYRINGS]);
		} else {
			/* tlshd links these three whatever the list says: an empty list
			 * of ours means the same, a list from here must name them */
			for (size_t i = 0; !seeded && i < sizeof(tlshd_always) / sizeof(tlshd_always[0]); i++)
				if (config_add_keyring(c, tlshd_always[i], strlen(tlshd_always[i]), why,
						       sizeof(why)) != 0) {
					seterr(err, len, "%s:%d: %s", t->file, t->line[S_KEYRINGS], why);
					r = -1;
					goto out;
				}
			seeded = true;
			if (config_add_keyring(c, nm, strlen(nm), why, sizeof(why)) != 0) {
				seterr(err, len, "%s:%d: %s", t->file, t->line[S_KEYRINGS], why);
				r = -1;
				break;
			}
		}
		v += n;
		if (*v == ';')
			v++;
	}
out:
	free(name);
	return r;
}

/* The file's values onto c, where c has nothing yet. */
static int map(struct dconfig *c, const struct tfile *t, char *err, size_t len)
{
	char *ctrust = NULL, *ccert = NULL, *ckey = NULL, *strust = NULL, *scert = NULL, *skey = NULL;
	int r = -1;

	if (t->val[S_LOGLEVEL]) {
		char *end;
		errno = 0;
		long n = strtol(t->val[S_LOGLEVEL], &end, 10);
		if (errno || end == t->val[S_LOGLEVEL] || *end)
			log_ev(LOG_WARN, "config_ignored", "file=%s line=%d value=%s "
			       "text=\"loglevel is not a number; taken as 0, as tlshd does\"", log_q(t->file),
			       t->line[S_LOGLEVEL], log_q(t->val[S_LOGLEVEL]));
		/* tlshd's loglevel > 0 adds a line per handshake, which our
		 * default level (info) logs already; a level set in our file or
		 * flags wins. So the value changes nothing: it is only checked. */
		(void)n;
	}
	if (map_keyrings(c, t, err, len) != 0)
		return -1;
	if (get_path(t, S_CLIENT_TRUST, "x509.truststore", &ctrust, err, len) != 0 ||
	    get_path(t, S_CLIENT_CERT, "x509.certificate", &ccert, err, len) != 0 ||
	    get_path(t, S_CLIENT_KEY, "x509.private_key", &ckey, err, len) != 0 ||
	    get_path(t, S_SERVER_TRUST, "x509.truststore", &strust, err, len) != 0 ||
	    get_path(t, S_SERVER_CERT, "x509.certificate", &scert, err, len) != 0 ||
	    get_path(t, S_SERVER_KEY, "x509.private_key", &skey, err, len) != 0)
		goto out;
	if (!ccert != !ckey || !scert != !skey) {
		bool client = !ccert != !ckey;
		enum slot s = client ? (ccert ? S_CLIENT_CERT : S_CLIENT_KEY) : (scert ? S_SERVER_CERT : S_SERVER_KEY);
		seterr(err, len, "%s:%d: [authenticate.%s] needs both x509.certificate and x509.private_key",
		       t->file, t->line[s], client ? "client" : "server");
		goto out;
	}

	/* client role of the upcall: NFS mounts (tls, mtls) */
	take(&c->upcall_ca, &ctrust);
	if (ccert && !c->upcall_cert && !c->upcall_key) {
		take(&c->upcall_cert, &ccert);
		take(&c->upcall_key, &ckey);
	}
	/* server role: one more certificate, unless ours name any */
	if (scert && !c->n_certs) {
		struct cfg_cert *ct = &c->certs[0];
		ct->cert = scert;
		ct->key = skey;
		scert = skey = NULL;
		snprintf(ct->where, sizeof(ct->where), "%s:%d", t->file, t->line[S_SERVER_CERT]);
		c->n_certs = 1;
	}
	/* tlshd's server asks for a client certificate but does not need one */
	if (strust) {
		take(&c->client_ca, &strust);
		if (c->client_auth == TLS_CLIENT_AUTH_NONE)
			c->client_auth = TLS_CLIENT_AUTH_OPTIONAL;
	}
	r = 0;
out:
	free(ctrust);
	free(ccert);
	free(ckey);
	free(strust);
	free(scert);
	free(skey);
	return r;
}

/* One "key = value" line of group (known_group: one tlshd reads). */
static int key_line(struct tfile *t, const char *group, bool known_group, char *key, char *value, int line,
		    char *err, size_t len)
{
	size_t i;

	if (!known_group)
		return 0;  /* the group's header line was warned about */
	for (i = 0; i < NKNOWN; i++)
		if (strcmp(known[i].group, group) == 0 && strcmp(known[i].key, key) == 0)
			break;
	if (i == NKNOWN) {
		log_ev(LOG_WARN, "config_ignored", "file=%s line=%d section=%s key=%s text=\"unknown key ignored\"",
		       log_q(t->file), line, log_q(group), log_q(key));
		return 0;
	}
	switch (known[i].kind) {
	case K_IGNORE:
		return 0;
	case K_CRL:
		if (!*value)
			return 0;  /* no file: no list, as for tlshd */
		seterr(err, len, "%s:%d: x509.crl: certificate revocation lists are not supported by handshaked",
		       t->file, line);
		return -1;
	case K_PQ:
		log_ev(LOG_WARN, "config_ignored", "file=%s line=%d key=%s "
		       "text=\"ignored: handshaked has no ML-DSA certificates\"", log_q(t->file), line, log_q(key));
		return 0;
	case K_SLOT:
		break;
	}
	char *v = strdup(value);
	if (!v) {
		seterr(err, len, "out of memory");
		return -1;
	}
	free(t->val[known[i].slot]);
	t->val[known[i].slot] = v;
	t->line[known[i].slot] = line;
	return 0;
}

static int parse(struct tfile *t, FILE *f, char *err, size_t len)
{
	char *buf = NULL, group[256] = "";
	size_t cap = 0;
	ssize_t n;
	int line = 0, r = -1;
	bool have_group = false, known_group = false;

	while ((n = getline(&buf, &cap, f)) >= 0) {
		char *p = buf, *eq, *k_end, *v_end;

		line++;
		if (n > TLSHD_LINE_MAX) {
			seterr(err, len, "%s:%d: line longer than %d bytes", t->file, line, TLSHD_LINE_MAX);
			goto out;
		}
		if (memchr(buf, 0, (size_t)n)) {
			seterr(err, len, "%s:%d: NUL byte", t->file, line);
			goto out;
		}
		while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
			buf[--n] = 0;
		while (is_space(*p))
			p++;
		if (!*p || *p == '#')
			continue;
		if (*p == '[') {
			char *end = strchr(p, ']'), *q;
			if (!end) {
				seterr(err, len, "%s:%d: syntax error: '[' without ']'", t->file, line);
				goto out;
			}
			for (q = end + 1; *q == ' ' || *q == '\t'; q++)
				;
			if (*q) {
				seterr(err, len, "%s:%d: syntax error: text after the group's ']'", t->file, line);
				goto out;
			}
			*end = 0;
			if (!p[1] || (size_t)(end - p) >= sizeof(group) || strchr(p + 1, '[')) {
				seterr(err, len, "%s:%d: syntax error: invalid group name", t->file, line);
				goto out;
			}
			for (q = p + 1; *q; q++)
				if (iscntrl((unsigned char)*q)) {
					seterr(err, len, "%s:%d: syntax error: invalid group name", t->file, line);
					goto out;
				}
			snprintf(group, sizeof(group), "%s", p + 1);
			have_group = true;
			known_group = false;
			for (size_t i = 0; i < NKNOWN; i++)
				known_group |= strcmp(known[i].group, group) == 0;
			if (!known_group)
				log_ev(LOG_WARN, "config_ignored", "file=%s line=%d section=%s "
				       "text=\"unknown group ignored\"", log_q(t->file), line, log_q(group));
			continue;
		}
		eq = strchr(p, '=');
		if (!eq || eq == p) {
			seterr(err, len, "%s:%d: syntax error: not a [group], key = value or # comment", t->file, line);
			goto out;
		}
		if (!have_group) {
			seterr(err, len, "%s:%d: syntax error: key before the first [group]", t->file, line);
			goto out;
		}
		for (k_end = eq; k_end > p && is_space(k_end[-1]); k_end--)
			;
		*k_end = 0;
		for (eq++; is_space(*eq); eq++)
			;
		for (v_end = eq + strlen(eq); v_end > eq && is_space(v_end[-1]); v_end--)
			;
		*v_end = 0;
		if (key_line(t, group, known_group, p, eq, line, err, len) != 0)
			goto out;
	}
	if (ferror(f)) {
		seterr(err, len, "%s: read error", t->file);
		goto out;
	}
	r = 0;
out:
	free(buf);
	return r;
}

int config_load_tlshd(struct dconfig *c, const char *file, char *err, size_t errlen)
{
	struct tfile t = { .file = file };
	FILE *f;
	int r;

	if (strcmp(file, "default") == 0) {
		t.file = NULL;
		for (size_t i = 0; !t.file && i < sizeof(default_files) / sizeof(default_files[0]); i++)
			if (access(default_files[i], F_OK) == 0)
				t.file = default_files[i];
		if (!t.file) {
			seterr(err, errlen, "tlshd_config default: neither %s nor %s exists", default_files[0],
			       default_files[1]);
			return -1;
		}
	}
	if (!(f = fopen(t.file, "re"))) {
		seterr(err, errlen, "%s: %s", t.file, strerror(errno));
		return -1;
	}
	r = parse(&t, f, err, errlen);
	fclose(f);
	if (r == 0)
		r = map(c, &t, err, errlen);
	for (size_t i = 0; i < S_N; i++)
		free(t.val[i]);
	return r;
}

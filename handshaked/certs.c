/* Certificate names and expiry (certs.h). The files are read again here,
 * after the engine loaded them: a renewal (certbot replaces the files,
 * then reloads) shows in `handshakectl status` as soon as it is served. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs.h"
#include "log.h"

#define NAMES_MAX 1024             /* longer SAN lists end in ",..." */

/* "a,b,c" from the subjectAltName's DNS names and IP addresses. */
static char *alt_names(X509 *x)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char buf[NAMES_MAX] = "", one[256];
	size_t len = 0;

	for (int i = 0; gens && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *d;
		int n;

		one[0] = '\0';
		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			n = ASN1_STRING_length(g->d.dNSName);
			if (n > 0 && (size_t)n < sizeof(one) && !memchr(d, 0, (size_t)n))
				snprintf(one, sizeof(one), "%.*s", n, (const char *)d);
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			n = ASN1_STRING_length(g->d.iPAddress);
			if (n == 4 || n == 16)
				inet_ntop(n == 4 ? AF_INET : AF_INET6, d, one, sizeof(one));
		}
		if (!one[0])
			continue;
		if (len + strlen(one) + 5 >= sizeof(buf)) {
			snprintf(buf + len, sizeof(buf) - len, "%s...", len ? "," : "");
			break;
		}
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? "," : "", one);
	}
	GENERAL_NAMES_free(gens);
	return strdup(buf);
}

static char *subject_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL, *data;
	long n;

	if (b && X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0 &&
	    (n = BIO_get_mem_data(b, &data)) >= 0)
		s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

static void inspect_one(struct cert_info *ci, const char *role, const char *path)
{
	struct tm tm;
	FILE *f;
	X509 *x = NULL;

	ci->role = role;
	ci->path = strdup(path);
	if (!(f = fopen(path, "re"))) {
		ci->error = "cannot open the file";
		return;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		ci->error = "no PEM certificate in the file";
		return;
	}
	if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
		ci->error = "notAfter unreadable";
	} else {
		ci->not_after = (int64_t)timegm(&tm);
		ci->subject = subject_of(x);
		ci->names = alt_names(x);
		if (!ci->subject || !ci->names)
			ci->error = "out of memory";
	}
	X509_free(x);
}

void certs_inspect(const struct dconfig *c, struct cert_list *out)
{
	size_t n = c->n_certs + (c->upcall_cert ? 1 : 0);

	out->n = 0;
	if (!(out->v = calloc(n ? n : 1, sizeof(*out->v))))
		return;
	for (size_t i = 0; i < c->n_certs; i++)
		inspect_one(&out->v[out->n++], "server", c->certs[i].cert);
	if (c->upcall_cert)
		inspect_one(&out->v[out->n++], "upcall", c->upcall_cert);
}

void certs_free(struct cert_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].subject);
		free(l->v[i].names);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void iso8601(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
}

/* Whole days left, rounded down (certbot's count); negative once expired. */
static int64_t days_left(const struct cert_info *ci, int64_t now)
{
	int64_t s = ci->not_after - now;
	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

static int expiring(const struct cert_info *ci, int64_t now)
{
	return !ci->error && ci->not_after - now < (int64_t)CERTS_WARN_DAYS * 86400;
}

void certs_log(const struct cert_list *l, int64_t now)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct cert_info *ci = &l->v[i];
		char when[32];
		int64_t d = days_left(ci, now);

		if (ci->error) {
			log_ev(LOG_WARN, "certificate", "role=%s cert=%s error=%s", ci->role, log_q(ci->path),
			       log_q(ci->error));
			continue;
		}
		iso8601(ci->not_after, when, sizeof(when));
		log_ev(LOG_INFO, "certificate", "role=%s cert=%s subject=%s names=%s not_after=%s days_left=%lld",
		       ci->role, log_q(ci->path), log_q(ci->subject), log_q(ci->names), when, (long long)d);
		if (!expiring(ci, now))
			continue;
		if (ci->not_after <= now)
			log_ev(LOG_ERR, "cert_expired", "role=%s cert=%s names=%s not_after=%s days_ago=%lld "
			       "text=\"renew it, then reload\"", ci->role, log_q(ci->path), log_q(ci->names), when,
			       (long long)-d);
		else
			log_ev(LOG_WARN, "cert_expiring", "role=%s cert=%s names=%s not_after=%s days_left=%lld "
			       "text=\"under %d days: renew it, then reload\"", ci->role, log_q(ci->path),
			       log_q(ci->names), when, (long long)d, CERTS_WARN_DAYS);
	}
}

/* "2 days 23 hours", "5 hours": a 3-day certificate is not "2 days" away */
static void span(int64_t s, char *buf, size_t len)
{
	int64_t d = s / 86400, h = s % 86400 / 3600;

	if (d)
		snprintf(buf, len, "%lld day%s %lld hour%s", (long long)d, d == 1 ? "" : "s", (long long)h,
			 h == 1 ? "" : "s");
	else
		snprintf(buf, len, "%lld hour%s", (long long)h, h == 1 ? "" : "s");
}

void certs_print_status(const struct cert_list *l, int64_t now, FILE *f)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct cert_info *ci = &l->v[i];
		char when[32], left[64];
		int64_t d = days_left(ci, now);

		if (ci->error) {
			fprintf(f, "certificate %s %s error=%s\n", ci->role, log_q(ci->path), log_q(ci->error));
			continue;
		}
		iso8601(ci->not_after, when, sizeof(when));
		fprintf(f, "certificate %s %s subject=%s names=%s not_after=%s days_left=%lld\n", ci->role,
			log_q(ci->path), log_q(ci->subject), log_q(ci->names), when, (long long)d);
		if (!expiring(ci, now))
			continue;
		span(ci->not_after > now ? ci->not_after - now : now - ci->not_after, left, sizeof(left));
		if (ci->not_after <= now)
			fprintf(f, "WARNING: certificate %s (%s) expired %s ago, on %s\n", ci->path,
				*ci->names ? ci->names : ci->subject, left, when);
		else
			fprintf(f, "WARNING: certificate %s (%s) expires in %s, on %s (under %d days)\n", ci->path,
				*ci->names ? ci->names : ci->subject, left, when, CERTS_WARN_DAYS);
	}
}

/* A Prometheus label value: \ " and newline escaped. */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

void certs_print_prometheus(const struct cert_list *l, FILE *f)
{
	fprintf(f, "# HELP handshaked_certificate_expiry_timestamp_seconds When each certificate served "
		   "expires (notAfter), in seconds since the Unix epoch.\n"
		   "# TYPE handshaked_certificate_expiry_timestamp_seconds gauge\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct cert_info *ci = &l->v[i];

		if (ci->error)
			continue;
		fprintf(f, "handshaked_certificate_expiry_timestamp_seconds{role=\"%s\",cert=\"", ci->role);
		label(f, ci->path);
		fprintf(f, "\",names=\"");
		label(f, ci->names);
		fprintf(f, "\"} %lld\n", (long long)ci->not_after);
	}
}

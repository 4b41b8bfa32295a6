/* Interop with OpenSSL libssl, in memory, in both roles.
 *
 * Each case connects our engine (tls_conn) and an OpenSSL SSL object through
 * two memory BIOs and drives both alternately: OpenSSL's output is fed to
 * tls_conn_handshake/recv, ours is written into OpenSSL's read BIO. After the
 * handshake the parameters both sides report are compared (cipher, group,
 * signature scheme, ALPN, SNI, HelloRetryRequest) and so are the traffic
 * secrets (our secret callback against OpenSSL's key log), then application
 * data, KeyUpdate and close_notify go both ways.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certs.h"
#include "test.h"
#include "tls/tls.h"

/* ---- what we test over ---- */

static const struct cipher_case {
	uint16_t id;
	const char *name;
} ciphers[] = {
	{ TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256" },
	{ TLS_AES_256_GCM_SHA384, "TLS_AES_256_GCM_SHA384" },
	{ TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256" },
	{ TLS_AES_128_CCM_SHA256, "TLS_AES_128_CCM_SHA256" },  /* not a default */
};

static const struct group_case {
	uint16_t id;
	const char *ossl;  /* OpenSSL groups list name */
	int nid;           /* SSL_get_negotiated_group */
	const char *name;
	bool opt_in;       /* not in our default list: matrix with one signature */
} groups[] = {
	{ TLS_GROUP_X25519, "X25519", NID_X25519, "x25519", false },
	{ TLS_GROUP_SECP256R1, "P-256", NID_X9_62_prime256v1, "secp256r1", false },
	{ TLS_GROUP_SECP384R1, "P-384", NID_secp384r1, "secp384r1", false },
	{ TLS_GROUP_SECP521R1, "P-521", NID_secp521r1, "secp521r1", true },
	{ TLS_GROUP_X448, "X448", NID_X448, "x448", true },
	{ TLS_GROUP_FFDHE2048, "ffdhe2048", NID_ffdhe2048, "ffdhe2048", true },
	{ TLS_GROUP_FFDHE3072, "ffdhe3072", NID_ffdhe3072, "ffdhe3072", true },
	{ TLS_GROUP_FFDHE4096, "ffdhe4096", NID_ffdhe4096, "ffdhe4096", true },
};

static const struct sig_case {
	uint16_t id;
	const char *name;  /* IANA name, also OpenSSL's sigalgs list name */
	const char *cert;  /* leaf from tests/certs/mk with a fitting key */
	int type_nid;      /* SSL_get_(peer_)signature_type_nid */
	int hash_nid;      /* SSL_get_(peer_)signature_nid, NID_undef: not checked */
} sigs[] = {
	{ TLS_SIG_ECDSA_SECP256R1_SHA256, "ecdsa_secp256r1_sha256", "p256", EVP_PKEY_EC, NID_sha256 },
	{ TLS_SIG_ECDSA_SECP384R1_SHA384, "ecdsa_secp384r1_sha384", "p384", EVP_PKEY_EC, NID_sha384 },
	{ TLS_SIG_RSA_PSS_RSAE_SHA256, "rsa_pss_rsae_sha256", "rsa2048", EVP_PKEY_RSA_PSS, NID_sha256 },
	{ TLS_SIG_RSA_PSS_RSAE_SHA384, "rsa_pss_rsae_sha384", "rsa2048", EVP_PKEY_RSA_PSS, NID_sha384 },
	{ TLS_SIG_RSA_PSS_RSAE_SHA512, "rsa_pss_rsae_sha512", "rsa2048", EVP_PKEY_RSA_PSS, NID_sha512 },
	{ TLS_SIG_ED25519, "ed25519", "ed25519", EVP_PKEY_ED25519, NID_undef },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct group_case *group_by_id(uint16_t id)
{
	for (size_t i = 0; i < N(groups); i++)
		if (groups[i].id == id)
			return &groups[i];
	return NULL;
}

static const struct sig_case *sig_by_id(uint16_t id)
{
	for (size_t i = 0; i < N(sigs); i++)
		if (sigs[i].id == id)
			return &sigs[i];
	return NULL;
}

/* ---- one in-memory connection ---- */

struct secret_log {
	char label[40];
	char hex[2 * TLS_MAX_HASH + 1];
};

struct link {
	bool ours_server;
	tls_conn *c;
	SSL *ssl;
	BIO *to_ssl;            /* OpenSSL's read BIO: our records go here */
	BIO *from_ssl;          /* OpenSSL's write BIO: its records come from here */
	tls_buf in;             /* OpenSSL's bytes our engine has not consumed */
	tls_buf out;            /* our records not yet given to OpenSSL */
	bool started;
	int ours;               /* 0 running, 1 done, -1 failed (rc in ours_rc) */
	int ours_rc;
	int theirs;             /* same for SSL_do_handshake */
	/* seen through OpenSSL's callbacks */
	int ssl_alert_read;     /* last non-close_notify alert OpenSSL received, -1 none */
	int ssl_alert_written;
	bool ssl_close_read;
	int ssl_client_hellos;  /* ClientHellos OpenSSL sent or received */
	char sni_seen[256];     /* OpenSSL server: what the servername callback saw */
	bool sni_called;
	struct secret_log ssl_secrets[8];
	size_t n_ssl_secrets;
	/* seen through our secret callback */
	char our_secret[2][8][2 * TLS_MAX_HASH + 1];  /* [dir][epoch] */
	int our_epoch[2];
};

static void on_secret(void *ctx, enum tls_dir dir, int epoch, const tls_cipher *cs,
		      const uint8_t *secret, size_t len)
{
	struct link *l = ctx;
	(void)cs;
	l->our_epoch[dir] = epoch;
	if (epoch < 0 || epoch >= 8 || len > TLS_MAX_HASH)
		return;
	for (size_t i = 0; i < len; i++)
		sprintf(&l->our_secret[dir][epoch][2 * i], "%02x", secret[i]);
}

static void ssl_info_cb(const SSL *ssl, int where, int ret)
{
	struct link *l = SSL_get_app_data(ssl);
	if (!(where & SSL_CB_ALERT))
		return;
	int desc = ret & 0xff;
	if (where & SSL_CB_READ) {
		if (desc == 0)
			l->ssl_close_read = true;
		else
			l->ssl_alert_read = desc;
	} else if (desc != 0) {
		l->ssl_alert_written = desc;
	}
}

static void ssl_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		       SSL *ssl, void *arg)
{
	struct link *l = SSL_get_app_data(ssl);
	(void)write_p, (void)version, (void)arg;
	if (l && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
	    ((const uint8_t *)buf)[0] == SSL3_MT_CLIENT_HELLO)
		l->ssl_client_hellos++;
}

static void ssl_keylog_cb(const SSL *ssl, const char *line)
{
	struct link *l = SSL_get_app_data(ssl);
	struct secret_log *s;
	char random[80];

	if (!l || l->n_ssl_secrets >= N(l->ssl_secrets))
		return;
	s = &l->ssl_secrets[l->n_ssl_secrets];
	if (sscanf(line, "%39s %79s %96s", s->label, random, s->hex) == 3)
		l->n_ssl_secrets++;
}

static int ssl_servername_cb(SSL *ssl, int *alert, void *arg)
{
	struct link *l = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	(void)alert, (void)arg;
	l->sni_called = true;
	snprintf(l->sni_seen, sizeof(l->sni_seen), "%s", name ? name : "");
	return SSL_TLSEXT_ERR_OK;
}

static int ssl_diag_cb(const char *str, size_t len, void *u)
{
	(void)u;
	test_diag("openssl: %.*s", (int)(len && str[len - 1] == '\n' ? len - 1 : len), str);
	return 1;
}

static void link_free(struct link *l)
{
	if (!l)
		return;
	tls_conn_free(l->c);
	SSL_free(l->ssl);  /* frees both BIOs */
	tls_buf_free(&l->in);
	tls_buf_free(&l->out);
	free(l);
}

/* cfg and ctx stay the caller's. */
static struct link *link_new(const tls_config *cfg, SSL_CTX *ctx, bool ours_server)
{
	static const tls_callbacks cb = { .secret = on_secret };
	struct link *l = calloc(1, sizeof(*l));

	if (!l)
		abort();
	l->ours_server = ours_server;
	l->ssl_alert_read = l->ssl_alert_written = -1;
	tls_buf_init(&l->in, 0);
	tls_buf_init(&l->out, 0);
	l->c = tls_conn_new(cfg);
	l->ssl = SSL_new(ctx);
	l->to_ssl = BIO_new(BIO_s_mem());
	l->from_ssl = BIO_new(BIO_s_mem());
	if (!l->c || !l->ssl || !l->to_ssl || !l->from_ssl) {
		test_diag("link_new: tls_conn_new or SSL_new failed");
		exit(1);  /* a broken fixture, not a finding */
	}
	tls_conn_set_callbacks(l->c, &cb, l);
	SSL_set_bio(l->ssl, l->to_ssl, l->from_ssl);
	SSL_set_app_data(l->ssl, l);
	SSL_set_info_callback(l->ssl, ssl_info_cb);
	SSL_set_msg_callback(l->ssl, ssl_msg_cb);
	if (ours_server)
		SSL_set_connect_state(l->ssl);
	else
		SSL_set_accept_state(l->ssl);
	return l;
}

/* OpenSSL's output -> l->in. */
static size_t pull(struct link *l)
{
	size_t moved = 0;
	int n;
	while ((n = (int)BIO_ctrl_pending(l->from_ssl)) > 0) {
		uint8_t *p = tls_buf_reserve(&l->in, (size_t)n);
		if (!p || BIO_read(l->from_ssl, p, n) != n)
			abort();
		l->in.len += (size_t)n;
		moved += (size_t)n;
	}
	return moved;
}

/* Our output -> OpenSSL's input. */
static size_t push(struct link *l)
{
	size_t n = l->out.len;
	if (l->out.err)
		abort();
	if (n && BIO_write(l->to_ssl, l->out.base, (int)n) != (int)n)
		abort();
	tls_buf_consume(&l->out, n);
	return n;
}

/* Runs both handshakes until neither side can make progress. */
static void handshake(struct link *l)
{
	for (int round = 0; round < 64; round++) {
		size_t moved = 0;

		if (l->theirs == 0) {
			int r = SSL_do_handshake(l->ssl);
			if (r == 1)
				l->theirs = 1;
			else if (SSL_get_error(l->ssl, r) != SSL_ERROR_WANT_READ)
				l->theirs = -1;
		}
		moved += pull(l);
		if (l->ours == 0 && (l->in.len > 0 || !l->started)) {
			size_t n = l->in.len;
			int r = tls_conn_handshake(l->c, &l->out, l->in.base, &n);
			l->started = true;
			if (n > l->in.len) {
				test_diag("engine consumed %zu of %zu bytes", n, l->in.len);
				n = l->in.len;
			}
			tls_buf_consume(&l->in, n);
			moved += n + push(l);
			if (r == 0) {
				l->ours = 1;
			} else if (r != TLS_WANT_INPUT) {
				l->ours = -1;
				l->ours_rc = r;
			}
		}
		if (moved == 0)
			break;
	}
}

/* Feeds everything OpenSSL wrote to our record layer; application data is
 * appended to plain. Returns the last tls_conn_recv result. */
static int ours_recv(struct link *l, tls_buf *plain)
{
	int r = TLS_WANT_INPUT;
	pull(l);
	while (l->in.len > 0) {
		size_t n = l->in.len;
		r = tls_conn_recv(l->c, &l->out, plain, l->in.base, &n);
		if (n > l->in.len)
			n = l->in.len;
		tls_buf_consume(&l->in, n);
		push(l);
		if (r != 0 || n == 0)
			break;
	}
	return r;
}

/* Reads up to want bytes from OpenSSL; returns the count, *err the last
 * SSL_get_error when it stopped short. */
static size_t theirs_read(struct link *l, uint8_t *buf, size_t want, int *err)
{
	size_t got = 0;
	*err = SSL_ERROR_NONE;
	while (got < want) {
		int n = SSL_read(l->ssl, buf + got, (int)(want - got));
		if (n <= 0) {
			*err = SSL_get_error(l->ssl, n);
			break;
		}
		got += (size_t)n;
	}
	pull(l);  /* e.g. OpenSSL's answer to our KeyUpdate */
	return got;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 8));
}

/* Our tls_conn_send -> SSL_read. */
static bool ours_to_theirs(struct link *l, size_t len, unsigned seed)
{
	uint8_t *data = calloc(1, len), *got = calloc(1, len);
	int err;
	bool ok = false;

	if (!data || !got)
		abort();
	fill(data, len, seed);
	int r = tls_conn_send(l->c, &l->out, data, len);
	push(l);
	if (r != 0) {
		test_diag("tls_conn_send(%zu): %d (%s)", len, r, tls_conn_error(l->c));
	} else {
		size_t n = theirs_read(l, got, len, &err);
		ok = n == len && memcmp(data, got, len) == 0;
		if (!ok)
			test_diag("SSL_read got %zu of %zu bytes (ssl error %d)%s", n, len, err,
				  n == len ? ", content differs" : "");
	}
	free(data);
	free(got);
	return ok;
}

/* SSL_write -> our tls_conn_recv. */
static bool theirs_to_ours(struct link *l, size_t len, unsigned seed)
{
	uint8_t *data = calloc(1, len);
	tls_buf plain;
	bool ok = false;
	int r = 0;

	if (!data)
		abort();
	fill(data, len, seed);
	tls_buf_init(&plain, 0);
	if (SSL_write(l->ssl, data, (int)len) != (int)len) {
		test_diag("SSL_write(%zu) failed", len);
		ERR_print_errors_cb(ssl_diag_cb, NULL);
	} else {
		/* One call may stop after a record that needs an answer. */
		for (int i = 0; i < 64 && plain.len < len; i++) {
			r = ours_recv(l, &plain);
			if (r < 0 || r == TLS_CLOSED || (r == TLS_WANT_INPUT && l->in.len == 0 &&
							  BIO_ctrl_pending(l->from_ssl) == 0))
				break;
		}
		ok = plain.len == len && memcmp(plain.base, data, len) == 0;
		if (!ok)
			test_diag("tls_conn_recv got %zu of %zu bytes (last result %d: %s)", plain.len,
				  len, r, r < 0 ? tls_conn_error(l->c) : "");
	}
	free(data);
	tls_buf_free(&plain);
	return ok;
}

/* ---- configurations ---- */

static void cfg_check(int r, const char *what, const char *err)
{
	if (r != 0) {
		test_diag("%s failed: %s", what, err ? err : "");
		exit(1);  /* a broken fixture, not a finding */
	}
}

static void cfg_add_cert(tls_config *cfg, const char *name)
{
	char pem[64], key[64], err[256] = "";
	snprintf(pem, sizeof(pem), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	cfg_check(tls_config_add_cert_files(cfg, test_cert(pem), test_cert(key), err, sizeof(err)),
		  "tls_config_add_cert_files", err);
}

static tls_config *our_server(const char *cert)
{
	tls_config *cfg = tls_config_new(TLS_SERVER);
	if (!cfg)
		abort();
	if (cert)
		cfg_add_cert(cfg, cert);
	return cfg;
}

static tls_config *our_client(const char *ca)
{
	char err[256] = "";
	tls_config *cfg = tls_config_new(TLS_CLIENT);
	if (!cfg)
		abort();
	if (ca)
		cfg_check(tls_config_load_ca(cfg, test_cert(ca), err, sizeof(err)), "tls_config_load_ca",
			  err);
	return cfg;
}

static void ctx_check(int ok, const char *what)
{
	if (ok != 1) {
		test_diag("%s failed", what);
		ERR_print_errors_cb(ssl_diag_cb, NULL);
		exit(1);
	}
}

static void ctx_use_cert(SSL_CTX *ctx, const char *name)
{
	char pem[64], key[64];
	snprintf(pem, sizeof(pem), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	ctx_check(SSL_CTX_use_certificate_file(ctx, test_cert(pem), SSL_FILETYPE_PEM),
		  "SSL_CTX_use_certificate_file");
	ctx_check(SSL_CTX_use_PrivateKey_file(ctx, test_cert(key), SSL_FILETYPE_PEM),
		  "SSL_CTX_use_PrivateKey_file");
}

/* OpenSSL peer, TLS 1.3 only, trusting ca (NULL: no verification). */
static SSL_CTX *their_ctx(bool server, const char *cert, const char *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx)
		abort();
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_keylog_callback(ctx, ssl_keylog_cb);
	if (cert)
		ctx_use_cert(ctx, cert);
	if (ca) {
		ctx_check(SSL_CTX_load_verify_locations(ctx, test_cert(ca), NULL),
			  "SSL_CTX_load_verify_locations");
		if (!server)
			SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	if (server)
		SSL_CTX_set_tlsext_servername_callback(ctx, ssl_servername_cb);
	return ctx;
}

/* OpenSSL client: SNI and the host name to verify. */
static void their_client_name(struct link *l, const char *sni, const char *verify_host)
{
	if (sni)
		SSL_set_tlsext_host_name(l->ssl, sni);
	if (verify_host)
		SSL_set1_host(l->ssl, verify_host);
}

/* ---- checks ---- */

static const char *ours_result(const struct link *l, char *buf, size_t len)
{
	if (l->ours == 1)
		return "done";
	if (l->ours == 0)
		return "stalled";
	snprintf(buf, len, "%s alert %s (%s)", TLS_IS_LOCAL_ERR(l->ours_rc) ? "sent" : "received",
		 tls_alert_name(TLS_ERR_ALERT(l->ours_rc)), tls_conn_error(l->c));
	return buf;
}

/* Both handshakes complete; explains in diagnostics otherwise. */
static bool both_done(struct link *l)
{
	char buf[256];
	if (l->ours == 1 && l->theirs == 1)
		return true;
	test_diag("ours: %s; openssl: %s (alert read %d, written %d)", ours_result(l, buf, sizeof(buf)),
		  l->theirs == 1 ? "done" : l->theirs == 0 ? "stalled" : "failed", l->ssl_alert_read,
		  l->ssl_alert_written);
	ERR_print_errors_cb(ssl_diag_cb, NULL);
	return false;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* What both sides report agrees: version, cipher, group, signature scheme,
 * ALPN, SNI, HRR (from the ClientHellos OpenSSL saw). */
static bool params_agree(struct link *l)
{
	const tls_params *p = tls_conn_params(l->c);
	const SSL_CIPHER *sc = SSL_get_current_cipher(l->ssl);
	const struct group_case *g;
	const struct sig_case *s;
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	char theirs_alpn[256] = "";
	int type_nid = NID_undef, hash_nid = NID_undef;
	bool ok = true;

	if (!p) {
		test_diag("tls_conn_params: NULL");
		return false;
	}
	if (p->version != 0x0304 || SSL_version(l->ssl) != TLS1_3_VERSION) {
		test_diag("version: ours %04x, openssl %04x", p->version, SSL_version(l->ssl));
		ok = false;
	}
	if (!p->cipher || !sc || p->cipher->id != SSL_CIPHER_get_protocol_id(sc)) {
		test_diag("cipher: ours %s, openssl %s", p->cipher ? p->cipher->name : "none",
			  sc ? SSL_CIPHER_standard_name(sc) : "none");
		ok = false;
	}
	g = group_by_id(p->group);
	if (!g || (int)SSL_get_negotiated_group(l->ssl) != g->nid) {
		test_diag("group: ours %04x, openssl nid %ld", p->group, SSL_get_negotiated_group(l->ssl));
		ok = false;
	}
	/* p->sig_scheme is the server's CertificateVerify scheme in both roles. */
	s = sig_by_id(p->sig_scheme);
	if (l->ours_server) {
		SSL_get_peer_signature_type_nid(l->ssl, &type_nid);
		SSL_get_peer_signature_nid(l->ssl, &hash_nid);
	} else {
		SSL_get_signature_type_nid(l->ssl, &type_nid);
		SSL_get_signature_nid(l->ssl, &hash_nid);
	}
	if (!s || s->type_nid != type_nid || (s->hash_nid != NID_undef && s->hash_nid != hash_nid)) {
		test_diag("signature: ours %04x, openssl type %s hash %s", p->sig_scheme,
			  OBJ_nid2sn(type_nid), OBJ_nid2sn(hash_nid));
		ok = false;
	}
	SSL_get0_alpn_selected(l->ssl, &alpn, &alpn_len);
	if (alpn_len)
		snprintf(theirs_alpn, sizeof(theirs_alpn), "%.*s", (int)alpn_len, (const char *)alpn);
	if (!str_eq(p->alpn, alpn_len ? theirs_alpn : NULL)) {
		test_diag("alpn: ours %s, openssl %s", p->alpn ? p->alpn : "(none)",
			  alpn_len ? theirs_alpn : "(none)");
		ok = false;
	}
	const char *their_sni = l->ours_server ? SSL_get_servername(l->ssl, TLSEXT_NAMETYPE_host_name)
					       : (l->sni_seen[0] ? l->sni_seen : NULL);
	if (!str_eq(p->server_name, their_sni)) {
		test_diag("sni: ours %s, openssl %s", p->server_name ? p->server_name : "(none)",
			  their_sni ? their_sni : "(none)");
		ok = false;
	}
	if (p->hrr != (l->ssl_client_hellos == 2)) {
		test_diag("hrr: ours %d, openssl saw %d ClientHellos", p->hrr, l->ssl_client_hellos);
		ok = false;
	}
	return ok;
}

static const char *ssl_secret(const struct link *l, const char *label)
{
	for (size_t i = 0; i < l->n_ssl_secrets; i++)
		if (strcmp(l->ssl_secrets[i].label, label) == 0)
			return l->ssl_secrets[i].hex;
	return NULL;
}

/* Our handshake and first application secrets equal OpenSSL's key log. */
static bool secrets_agree(struct link *l)
{
	static const struct {
		int epoch;
		bool client;
		const char *label;
	} map[] = {
		{ TLS_EPOCH_HANDSHAKE, true, "CLIENT_HANDSHAKE_TRAFFIC_SECRET" },
		{ TLS_EPOCH_HANDSHAKE, false, "SERVER_HANDSHAKE_TRAFFIC_SECRET" },
		{ TLS_EPOCH_APPLICATION, true, "CLIENT_TRAFFIC_SECRET_0" },
		{ TLS_EPOCH_APPLICATION, false, "SERVER_TRAFFIC_SECRET_0" },
	};
	bool ok = true;
	for (size_t i = 0; i < N(map); i++) {
		/* Our client's TX is the client's secret; our server's RX is. */
		int dir = map[i].client != l->ours_server ? TLS_DIR_TX : TLS_DIR_RX;
		const char *ours = l->our_secret[dir][map[i].epoch];
		const char *theirs = ssl_secret(l, map[i].label);
		if (!theirs || strcmp(ours, theirs) != 0) {
			test_diag("%s: ours %s, openssl %s", map[i].label, ours[0] ? ours : "(none)",
				  theirs ? theirs : "(none)");
			ok = false;
		}
	}
	return ok;
}

/* Application data both ways, small, one full record, and many records. */
static bool data_both_ways(struct link *l)
{
	static const size_t sizes[] = { 1, 100, 16384, 16385, 100000 };
	for (size_t i = 0; i < N(sizes); i++) {
		if (!ours_to_theirs(l, sizes[i], (unsigned)i) ||
		    !theirs_to_ours(l, sizes[i], (unsigned)i + 100))
			return false;
	}
	return true;
}

/* ---- the cipher x group x signature matrix ---- */

static void matrix_ours_server(const struct cipher_case *cc, const struct group_case *gc,
			       const struct sig_case *sc)
{
	tls_config *cfg = our_server(sc->cert);
	SSL_CTX *ctx = their_ctx(false, NULL, "ca.pem");
	char list[64];
	bool ok = false;

	/* CCM and the opt-in groups are served only when configured */
	cfg_check(tls_config_set_ciphers(cfg, &cc->id, 1), "tls_config_set_ciphers", NULL);
	cfg_check(tls_config_set_groups(cfg, &gc->id, 1), "tls_config_set_groups", NULL);
	ctx_check(SSL_CTX_set_ciphersuites(ctx, cc->name), "SSL_CTX_set_ciphersuites");
	ctx_check((int)SSL_CTX_set1_groups_list(ctx, gc->ossl), "SSL_CTX_set1_groups_list");
	/* The chain is signed by the CA with ecdsa_secp256r1_sha256; offering it
	 * too leaves the leaf's key the only choice for CertificateVerify. */
	snprintf(list, sizeof(list), "%s%s", sc->name,
		 sc->id == TLS_SIG_ECDSA_SECP256R1_SHA256 ? "" : ":ecdsa_secp256r1_sha256");
	ctx_check((int)SSL_CTX_set1_sigalgs_list(ctx, list), "SSL_CTX_set1_sigalgs_list");
	struct link *l = link_new(cfg, ctx, true);
	if (l) {
		their_client_name(l, "localhost", "localhost");
		handshake(l);
		ok = both_done(l) && params_agree(l) && secrets_agree(l) && data_both_ways(l) &&
		     SSL_get_verify_result(l->ssl) == X509_V_OK;
	}
	test_ok(ok, "our server <- openssl client: %s %s %s", cc->name, gc->name, sc->name);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

static void matrix_ours_client(const struct cipher_case *cc, const struct group_case *gc,
			       const struct sig_case *sc)
{
	tls_config *cfg = our_client("ca.pem");
	SSL_CTX *ctx = their_ctx(true, sc->cert, NULL);
	uint16_t sig_list[2] = { sc->id, TLS_SIG_ECDSA_SECP256R1_SHA256 };
	bool ok = false;

	cfg_check(tls_config_set_ciphers(cfg, &cc->id, 1), "tls_config_set_ciphers", NULL);
	cfg_check(tls_config_set_groups(cfg, &gc->id, 1), "tls_config_set_groups", NULL);
	/* OpenSSL 3.0 serves AES-128-CCM and ffdhe* only when listed */
	ctx_check(SSL_CTX_set_ciphersuites(ctx, cc->name), "SSL_CTX_set_ciphersuites");
	ctx_check((int)SSL_CTX_set1_groups_list(ctx, gc->ossl), "SSL_CTX_set1_groups_list");
	cfg_check(tls_config_set_sigalgs(cfg, sig_list, sc->id == sig_list[1] ? 1 : 2),
		  "tls_config_set_sigalgs", NULL);
	struct link *l = link_new(cfg, ctx, false);
	if (l) {
		tls_conn_set_server_name(l->c, "localhost");
		handshake(l);
		ok = both_done(l) && params_agree(l) && secrets_agree(l) && data_both_ways(l);
	}
	test_ok(ok, "our client -> openssl server: %s %s %s", cc->name, gc->name, sc->name);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* Every cipher x default group x signature; the opt-in groups (slow, and
 * independent of the signature) with every cipher and one signature. */
static void test_matrix(void)
{
	for (size_t c = 0; c < N(ciphers); c++)
		for (size_t g = 0; g < N(groups); g++)
			for (size_t s = 0; s < (groups[g].opt_in ? 1 : N(sigs)); s++) {
				matrix_ours_server(&ciphers[c], &groups[g], &sigs[s]);
				matrix_ours_client(&ciphers[c], &groups[g], &sigs[s]);
			}
}

/* ---- HelloRetryRequest ---- */

/* OpenSSL client: supported groups `offer` (key share for the first only);
 * our server's groups `ours`. */
static void hrr_ours_server(const char *offer, const uint16_t *ours, size_t n_ours, bool want_hrr,
			    uint16_t want_group, const char *name)
{
	tls_config *cfg = our_server("p256");
	SSL_CTX *ctx = their_ctx(false, NULL, "ca.pem");
	bool ok = false;

	cfg_check(tls_config_set_groups(cfg, ours, n_ours), "tls_config_set_groups", NULL);
	ctx_check((int)SSL_CTX_set1_groups_list(ctx, offer), "SSL_CTX_set1_groups_list");
	struct link *l = link_new(cfg, ctx, true);
	if (l) {
		their_client_name(l, "localhost", "localhost");
		handshake(l);
		ok = both_done(l) && params_agree(l) && secrets_agree(l) && data_both_ways(l);
		const tls_params *p = tls_conn_params(l->c);
		if (ok && (p->hrr != want_hrr || (want_group && p->group != want_group))) {
			test_diag("hrr %d group %04x, expected hrr %d group %04x", p->hrr, p->group,
				  want_hrr, want_group);
			ok = false;
		}
		if (ok && !want_group)
			test_diag("%s: server chose %s %s", name, group_by_id(p->group)->name,
				  p->hrr ? "after HRR" : "without HRR");
	}
	test_ok(ok, "%s", name);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* A fixed cookie is enough: the test only checks that our client echoes it. */
static const unsigned char test_cookie[] = "handshaked test cookie";
static bool cookie_verified;

static int cookie_generate(SSL *ssl, unsigned char *cookie, size_t *len)
{
	(void)ssl;
	memcpy(cookie, test_cookie, sizeof(test_cookie));
	*len = sizeof(test_cookie);
	return 1;
}

static int cookie_verify(SSL *ssl, const unsigned char *cookie, size_t len)
{
	(void)ssl;
	cookie_verified = len == sizeof(test_cookie) && memcmp(cookie, test_cookie, len) == 0;
	return cookie_verified;
}

/* Our client: groups `ours`, key share for the first only; OpenSSL server
 * groups `theirs`. */
static void hrr_ours_client(const uint16_t *ours, size_t n_ours, const char *theirs,
			    uint16_t want_group, bool stateless, const char *name)
{
	tls_config *cfg = our_client("ca.pem");
	SSL_CTX *ctx = their_ctx(true, "p256", NULL);
	bool ok = false;

	cfg_check(tls_config_set_groups(cfg, ours, n_ours), "tls_config_set_groups", NULL);
	ctx_check((int)SSL_CTX_set1_groups_list(ctx, theirs), "SSL_CTX_set1_groups_list");
	SSL_CTX_set_stateless_cookie_generate_cb(ctx, cookie_generate);
	SSL_CTX_set_stateless_cookie_verify_cb(ctx, cookie_verify);
	cookie_verified = false;
	/* SSL_stateless() starts from SSL_clear() on every ClientHello and then
	 * cannot take the compatibility-mode CCS in front of the second one
	 * (SSL_ERROR_SYSCALL, nothing queued): an OpenSSL limit, not ours. */
	if (stateless)
		tls_config_set_compat_mode(cfg, false);
	struct link *l = link_new(cfg, ctx, false);
	if (l) {
		tls_conn_set_server_name(l->c, "localhost");
		if (stateless) {
			/* SSL_stateless answers a ClientHello without a cookie with an HRR
			 * carrying one (returns 0) and accepts the retried ClientHello
			 * only if it echoes the cookie (returns 1). */
			size_t n = 0;
			int r1, r2 = -1;
			tls_conn_handshake(l->c, &l->out, NULL, &n);
			l->started = true;
			push(l);
			r1 = SSL_stateless(l->ssl);
			pull(l);
			n = l->in.len;
			if (r1 == 0 && tls_conn_handshake(l->c, &l->out, l->in.base, &n) == TLS_WANT_INPUT) {
				tls_buf_consume(&l->in, n);
				push(l);
				r2 = SSL_stateless(l->ssl);
			}
			if (r1 != 0 || r2 != 1 || !cookie_verified) {
				test_diag("SSL_stateless: %d then %d (want 0 then 1), cookie %s", r1, r2,
					  cookie_verified ? "echoed" : "not echoed");
				ERR_print_errors_cb(ssl_diag_cb, NULL);
				l->theirs = -1;
			}
		}
		handshake(l);
		ok = both_done(l) && params_agree(l) && secrets_agree(l) && data_both_ways(l);
		const tls_params *p = tls_conn_params(l->c);
		if (ok && (!p->hrr || p->group != want_group)) {
			test_diag("hrr %d group %04x, expected an HRR to %04x", p->hrr, p->group, want_group);
			ok = false;
		}
	}
	test_ok(ok, "%s", name);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

static void test_hrr(void)
{
	static const uint16_t x25519[] = { TLS_GROUP_X25519 };
	static const uint16_t p256[] = { TLS_GROUP_SECP256R1 };
	static const uint16_t x_then_p256[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1 };
	static const uint16_t p256_then_x[] = { TLS_GROUP_SECP256R1, TLS_GROUP_X25519 };
	static const uint16_t x_p256_p384[] = { TLS_GROUP_X25519, TLS_GROUP_SECP256R1,
						TLS_GROUP_SECP384R1 };

	hrr_ours_server("P-256:X25519", x25519, 1, true, TLS_GROUP_X25519,
			"hrr: openssl client shares P-256, our server (X25519 only) asks for X25519");
	hrr_ours_server("X25519:P-256", p256, 1, true, TLS_GROUP_SECP256R1,
			"hrr: openssl client shares X25519, our server (P-256 only) asks for P-256");
	hrr_ours_server("P-256:X25519", x_then_p256, 2, false, 0,
			"hrr: openssl client shares P-256, our server prefers X25519: consistent");
	hrr_ours_server("X25519:P-256", p256_then_x, 2, false, 0,
			"hrr: openssl client shares X25519, our server prefers P-256: consistent");
	hrr_ours_server("X25519:P-384", x_p256_p384 + 2, 1, true, TLS_GROUP_SECP384R1,
			"hrr: openssl client shares X25519, our server (P-384 only) asks for P-384");
	hrr_ours_client(x_p256_p384, 3, "P-384:P-256", TLS_GROUP_SECP384R1, false,
			"hrr: our client shares X25519, openssl server (P-384:P-256) asks for P-384");
	hrr_ours_client(x_p256_p384, 3, "P-256", TLS_GROUP_SECP256R1, false,
			"hrr: our client shares X25519, openssl server (P-256 only) asks for P-256");
	hrr_ours_client(x_p256_p384, 3, "X25519", TLS_GROUP_X25519, true,
			"hrr: our client echoes the cookie of a stateless openssl server");

	/* to an opt-in group: the second ClientHello carries a 256..512-byte share */
	static const uint16_t ffdhe2048[] = { TLS_GROUP_FFDHE2048 };
	static const uint16_t x_x448_ffdhe4096[] = { TLS_GROUP_X25519, TLS_GROUP_X448,
						     TLS_GROUP_FFDHE4096 };
	hrr_ours_server("X25519:ffdhe2048", ffdhe2048, 1, true, TLS_GROUP_FFDHE2048,
			"hrr: openssl client shares X25519, our server (ffdhe2048 only) asks for ffdhe2048");
	hrr_ours_client(x_x448_ffdhe4096, 3, "ffdhe4096", TLS_GROUP_FFDHE4096, false,
			"hrr: our client shares X25519, openssl server (ffdhe4096 only) asks for ffdhe4096");
	hrr_ours_client(x_x448_ffdhe4096, 3, "X448:P-521", TLS_GROUP_X448, false,
			"hrr: our client shares X25519, openssl server (X448:P-521) asks for X448");
}

/* ---- negative handshakes: both sides must report the same alert ---- */

/* Checks that the handshake failed with `alert` sent by `sender_ours`
 * (our engine) or by OpenSSL, and received by the other side. */
static bool failed_with(struct link *l, bool sender_ours, int alert)
{
	uint8_t scratch[64];
	int err;
	/* OpenSSL may have finished before our alert arrived: let it read. */
	if (l->theirs == 1)
		theirs_read(l, scratch, sizeof(scratch), &err);
	/* ...and likewise for us. */
	if (l->ours == 1) {
		tls_buf plain;
		tls_buf_init(&plain, 0);
		int r = ours_recv(l, &plain);
		tls_buf_free(&plain);
		if (r < 0) {
			l->ours = -1;
			l->ours_rc = r;
		}
	}
	bool ok;
	if (sender_ours)
		ok = l->ours == -1 && l->ours_rc == TLS_ERR_LOCAL(alert) && l->ssl_alert_read == alert;
	else
		ok = l->ours == -1 && l->ours_rc == TLS_ERR_PEER(alert) && l->ssl_alert_written == alert;
	if (!ok) {
		char buf[256];
		test_diag("expected alert %s from %s; ours: %s; openssl read %d, wrote %d",
			  tls_alert_name(alert), sender_ours ? "us" : "openssl",
			  ours_result(l, buf, sizeof(buf)), l->ssl_alert_read, l->ssl_alert_written);
	}
	return ok;
}

static void test_versions(void)
{
	tls_config *scfg = our_server("p256"), *ccfg = our_client("ca.pem");
	SSL_CTX *cctx = their_ctx(false, NULL, "ca.pem"), *sctx = their_ctx(true, "p256", NULL);
	struct link *l;

	SSL_CTX_set_min_proto_version(cctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(cctx, TLS1_2_VERSION);
	l = link_new(scfg, cctx, true);
	handshake(l);
	test_ok(failed_with(l, true, TLS_ALERT_PROTOCOL_VERSION),
		"version: openssl client with TLS 1.2 only gets protocol_version from our server");
	link_free(l);

	SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION);
	SSL_CTX_set_max_proto_version(sctx, TLS1_2_VERSION);
	l = link_new(ccfg, sctx, false);
	tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	test_ok(failed_with(l, false, TLS_ALERT_PROTOCOL_VERSION),
		"version: openssl server with TLS 1.2 only sends protocol_version to our client");
	link_free(l);

	/* A TLS 1.2+1.3 OpenSSL client still gets TLS 1.3 from us. */
	SSL_CTX_set_max_proto_version(cctx, 0);
	l = link_new(scfg, cctx, true);
	their_client_name(l, "localhost", "localhost");
	handshake(l);
	test_ok(both_done(l) && params_agree(l), "version: openssl client offering 1.2 and 1.3 gets 1.3");
	link_free(l);

	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	tls_config_free(scfg);
	tls_config_free(ccfg);
}

/* Defaults: our server does not serve the opt-in groups or AES-128-CCM
 * unless configured, and TLS_AES_128_CCM_8_SHA256 never. */
static void test_opt_in(void)
{
	static const struct {
		const char *groups, *ciphers, *name;
	} cases[] = {
		{ "ffdhe2048:X448:P-521", NULL, "an openssl client with only ffdhe2048, X448, P-521" },
		{ NULL, "TLS_AES_128_CCM_SHA256", "an openssl client with only TLS_AES_128_CCM_SHA256" },
		{ NULL, "TLS_AES_128_CCM_8_SHA256", "an openssl client with only TLS_AES_128_CCM_8_SHA256" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		tls_config *cfg = our_server("p256");
		SSL_CTX *ctx = their_ctx(false, NULL, "ca.pem");
		if (cases[i].groups)
			ctx_check((int)SSL_CTX_set1_groups_list(ctx, cases[i].groups),
				  "SSL_CTX_set1_groups_list");
		if (cases[i].ciphers)
			ctx_check(SSL_CTX_set_ciphersuites(ctx, cases[i].ciphers),
				  "SSL_CTX_set_ciphersuites");
		struct link *l = link_new(cfg, ctx, true);
		their_client_name(l, "localhost", "localhost");
		handshake(l);
		test_ok(failed_with(l, true, TLS_ALERT_HANDSHAKE_FAILURE),
			"defaults: %s gets handshake_failure from our default server", cases[i].name);
		link_free(l);
		SSL_CTX_free(ctx);
		tls_config_free(cfg);
	}

	/* an openssl server with only CCM_8: our client cannot even offer it */
	static const uint16_t ccm8 = TLS_AES_128_CCM_8_SHA256, all[] = {
		TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256,
		TLS_AES_128_CCM_SHA256,
	};
	tls_config *cfg = our_client("ca.pem");
	SSL_CTX *ctx = their_ctx(true, "p256", NULL);
	test_ok(tls_config_set_ciphers(cfg, &ccm8, 1) == -1 &&
		tls_config_set_ciphers(cfg, all, N(all)) == 0,
		"TLS_AES_128_CCM_8_SHA256 cannot be configured, the other four can");
	ctx_check(SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_CCM_8_SHA256"), "SSL_CTX_set_ciphersuites");
	struct link *l = link_new(cfg, ctx, false);
	tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	test_ok(failed_with(l, false, TLS_ALERT_HANDSHAKE_FAILURE),
		"an openssl server with only TLS_AES_128_CCM_8_SHA256 refuses our client (all four offered)");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* ---- ALPN ---- */

static int alpn_select_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			  const unsigned char *in, unsigned inlen, void *arg)
{
	const unsigned char *prefs = arg;  /* wire format, server preference */
	(void)ssl;
	if (SSL_select_next_proto((unsigned char **)out, outlen, prefs, (unsigned)strlen((const char *)prefs),
				  in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	return SSL_TLSEXT_ERR_OK;
}

/* "h2,http/1.1" -> "\x02h2\x08http/1.1" (static storage, per slot). */
static const unsigned char *alpn_wire(const char *list, int slot)
{
	static unsigned char buf[2][128];
	size_t n = 0;
	const char *p = list;
	while (*p) {
		size_t len = strcspn(p, ",");
		buf[slot][n++] = (unsigned char)len;
		memcpy(&buf[slot][n], p, len);
		n += len;
		p += len + (p[len] == ',');
	}
	buf[slot][n] = 0;
	return buf[slot];
}

/* theirs_list / ours_list NULL: no ALPN on that side. want NULL: none
 * negotiated; want "!": no overlap, no_application_protocol. */
static void alpn_case(bool ours_server, const char *ours_list, const char *theirs_list,
		      const char *want, const char *name)
{
	tls_config *cfg = ours_server ? our_server("p256") : our_client("ca.pem");
	SSL_CTX *ctx = their_ctx(!ours_server, ours_server ? NULL : "p256", ours_server ? "ca.pem" : NULL);
	bool ok = false;

	if (ours_list)
		cfg_check(tls_config_set_alpn(cfg, ours_list), "tls_config_set_alpn", NULL);
	if (theirs_list && ours_server) {
		const unsigned char *w = alpn_wire(theirs_list, 0);
		ctx_check(SSL_CTX_set_alpn_protos(ctx, w, (unsigned)strlen((const char *)w)) == 0,
			  "SSL_CTX_set_alpn_protos");
	} else if (theirs_list) {
		SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, (void *)alpn_wire(theirs_list, 1));
	}
	struct link *l = link_new(cfg, ctx, ours_server);
	if (ours_server)
		their_client_name(l, "localhost", "localhost");
	else
		tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	if (want && strcmp(want, "!") == 0) {
		ok = failed_with(l, ours_server, TLS_ALERT_NO_APPLICATION_PROTOCOL);
	} else {
		ok = both_done(l) && params_agree(l) && ours_to_theirs(l, 10, 1) && theirs_to_ours(l, 10, 2);
		const char *got = ok ? tls_conn_params(l->c)->alpn : NULL;
		if (ok && !str_eq(got, want)) {
			test_diag("alpn %s, expected %s", got ? got : "(none)", want ? want : "(none)");
			ok = false;
		}
	}
	test_ok(ok, "alpn: %s", name);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

static void test_alpn(void)
{
	alpn_case(true, "http/1.1", "h2,http/1.1", "http/1.1",
		  "our server (http/1.1) <- openssl client (h2,http/1.1): http/1.1");
	alpn_case(true, "h2,http/1.1", "http/1.1,h2", "h2",
		  "our server preference h2 wins over openssl client order");
	alpn_case(true, "h2", "foo,bar", "!",
		  "our server (h2) <- openssl client (foo,bar): no_application_protocol");
	alpn_case(true, NULL, "h2", NULL, "our server without ALPN ignores the offer");
	alpn_case(true, "h2", NULL, NULL, "our server with ALPN, openssl client offers none");
	alpn_case(false, "h2,http/1.1", "http/1.1", "http/1.1",
		  "our client (h2,http/1.1) -> openssl server (http/1.1): http/1.1");
	alpn_case(false, "http/1.1,h2", "h2,http/1.1", "h2",
		  "openssl server preference h2 wins over our client order");
	alpn_case(false, "foo", "h2", "!",
		  "our client (foo) -> openssl server (h2): no_application_protocol");
	alpn_case(false, NULL, "h2", NULL, "our client offering none gets none");
}

/* ---- SNI and certificate selection ---- */

static char *peer_cert_cn(SSL *ssl, char *buf, size_t len)
{
	X509 *x = SSL_get0_peer_certificate(ssl);
	buf[0] = '\0';
	if (x)
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, (int)len);
	return buf;
}

/* Our server with p256 (default: localhost, *.wild.test), alpha, beta. */
static void sni_ours_server(const char *sni, const char *verify, const char *want_cn)
{
	tls_config *cfg = our_server("p256");
	SSL_CTX *ctx = their_ctx(false, NULL, "ca.pem");
	char cn[64];
	bool ok;

	cfg_add_cert(cfg, "alpha");
	cfg_add_cert(cfg, "beta");
	struct link *l = link_new(cfg, ctx, true);
	their_client_name(l, sni, verify);
	handshake(l);
	ok = both_done(l) && params_agree(l) && SSL_get_verify_result(l->ssl) == X509_V_OK;
	if (ok && strcmp(peer_cert_cn(l->ssl, cn, sizeof(cn)), want_cn) != 0) {
		test_diag("got the certificate of %s", cn);
		ok = false;
	}
	test_ok(ok, "sni: our server picks %s for %s", want_cn, sni ? sni : "no SNI");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* OpenSSL server switching certificates by SNI like a virtual host. */
static SSL_CTX *vhost_alpha;

static int vhost_cb(SSL *ssl, int *alert, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	ssl_servername_cb(ssl, alert, arg);
	if (name && strcmp(name, "alpha.test") == 0)
		SSL_set_SSL_CTX(ssl, vhost_alpha);
	return SSL_TLSEXT_ERR_OK;
}

static void sni_ours_client(const char *name, const char *want_sni, int want_alert)
{
	tls_config *cfg = our_client("ca.pem");
	SSL_CTX *ctx = their_ctx(true, "p256", NULL);
	bool ok;

	vhost_alpha = their_ctx(true, "alpha", NULL);
	SSL_CTX_set_tlsext_servername_callback(ctx, vhost_cb);
	struct link *l = link_new(cfg, ctx, false);
	tls_conn_set_server_name(l->c, name);
	handshake(l);
	if (want_alert) {
		ok = failed_with(l, true, want_alert);
		test_ok(ok, "sni: our client refuses a certificate not valid for %s (%s)", name,
			tls_alert_name(want_alert));
	} else {
		ok = both_done(l) && params_agree(l);
		if (ok && (!str_eq(want_sni, l->sni_seen[0] ? l->sni_seen : NULL))) {
			test_diag("openssl saw SNI '%s'", l->sni_seen);
			ok = false;
		}
		test_ok(ok, "sni: openssl server sees %s from our client for %s, certificate verifies",
			want_sni ? want_sni : "no SNI", name);
	}
	link_free(l);
	SSL_CTX_free(ctx);
	SSL_CTX_free(vhost_alpha);
	tls_config_free(cfg);
}

static void test_sni(void)
{
	sni_ours_server("localhost", "localhost", "p256");
	sni_ours_server("alpha.test", "alpha.test", "alpha");
	sni_ours_server("beta.test", "beta.test", "beta");
	sni_ours_server("x.wild.test", "x.wild.test", "p256");
	sni_ours_server("unknown.test", NULL, "p256");
	sni_ours_server(NULL, NULL, "p256");

	sni_ours_client("localhost", "localhost", 0);
	sni_ours_client("server.test", "server.test", 0);
	sni_ours_client("alpha.test", "alpha.test", 0);
	sni_ours_client("x.wild.test", "x.wild.test", 0);
	sni_ours_client("127.0.0.1", NULL, 0);
	sni_ours_client("a.b.wild.test", "a.b.wild.test", TLS_ALERT_BAD_CERTIFICATE);
	sni_ours_client("other.test", "other.test", TLS_ALERT_BAD_CERTIFICATE);
}

/* ---- certificate verification failures ---- */

static void test_verify(void)
{
	struct link *l;
	tls_config *cfg;
	SSL_CTX *ctx;

	/* Our client trusting only ca2. */
	cfg = our_client("ca2.pem");
	ctx = their_ctx(true, "p256", NULL);
	l = link_new(cfg, ctx, false);
	tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	test_ok(failed_with(l, true, TLS_ALERT_UNKNOWN_CA),
		"verify: our client sends unknown_ca for a chain from an untrusted CA");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);

	cfg = our_client("ca.pem");
	ctx = their_ctx(true, "expired", NULL);
	l = link_new(cfg, ctx, false);
	tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	test_ok(failed_with(l, true, TLS_ALERT_CERTIFICATE_EXPIRED),
		"verify: our client sends certificate_expired for an expired leaf");
	link_free(l);
	SSL_CTX_free(ctx);

	/* Verification off: the same expired leaf is accepted. */
	tls_config_set_verify_peer(cfg, false);
	ctx = their_ctx(true, "expired", NULL);
	l = link_new(cfg, ctx, false);
	tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	test_ok(both_done(l) && params_agree(l), "verify: our client with verification off accepts it");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);

	/* OpenSSL client trusting only ca2 refuses our server. */
	cfg = our_server("p256");
	ctx = their_ctx(false, NULL, "ca2.pem");
	l = link_new(cfg, ctx, true);
	their_client_name(l, "localhost", "localhost");
	handshake(l);
	test_ok(failed_with(l, false, TLS_ALERT_UNKNOWN_CA),
		"verify: our server receives unknown_ca from an openssl client trusting another CA");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* ---- client certificates ---- */

/* Our server in mode `mode`; the OpenSSL client presents `cert` (or none).
 * want_alert 0: success (peer chain present iff a cert was sent and asked). */
static void mtls_ours_server(enum tls_client_auth mode, const char *cert, int want_alert,
			     const char *name)
{
	char err[256] = "";
	tls_config *cfg = our_server("p256");
	SSL_CTX *ctx = their_ctx(false, cert, "ca.pem");
	bool ok;

	tls_config_set_client_auth(cfg, mode);
	cfg_check(tls_config_load_ca(cfg, test_cert("ca.pem"), err, sizeof(err)), "load_ca", err);
	struct link *l = link_new(cfg, ctx, true);
	their_client_name(l, "localhost", "localhost");
	handshake(l);
	if (want_alert) {
		ok = failed_with(l, true, want_alert);
	} else {
		ok = both_done(l) && params_agree(l) && ours_to_theirs(l, 10, 1) && theirs_to_ours(l, 10, 2);
		const tls_params *p = tls_conn_params(l->c);
		bool want_chain = cert && mode != TLS_CLIENT_AUTH_NONE;
		if (ok && (p->peer_chain != NULL) != want_chain) {
			test_diag("peer chain %s, expected %s", p->peer_chain ? "present" : "absent",
				  want_chain ? "present" : "absent");
			ok = false;
		}
	}
	test_ok(ok, "mtls: our server %s", name);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* OpenSSL server with verify mode `mode`; our client has `cert` or none. */
static void mtls_ours_client(int mode, const char *cert, int want_alert, const char *name)
{
	tls_config *cfg = our_client("ca.pem");
	SSL_CTX *ctx = their_ctx(true, "p256", "ca.pem");
	bool ok;

	if (cert)
		cfg_add_cert(cfg, cert);
	SSL_CTX_set_verify(ctx, mode, NULL);
	struct link *l = link_new(cfg, ctx, false);
	tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	if (want_alert) {
		ok = failed_with(l, false, want_alert);
	} else {
		ok = both_done(l) && params_agree(l) && ours_to_theirs(l, 10, 1) && theirs_to_ours(l, 10, 2);
		bool want_cert = cert && mode != SSL_VERIFY_NONE;
		X509 *x = SSL_get0_peer_certificate(l->ssl);
		if (ok && ((x != NULL) != want_cert || (x && SSL_get_verify_result(l->ssl) != X509_V_OK))) {
			test_diag("openssl: client certificate %s (verify %ld), expected %s",
				  x ? "present" : "absent", SSL_get_verify_result(l->ssl),
				  want_cert ? "present" : "absent");
			ok = false;
		}
	}
	test_ok(ok, "mtls: our client %s", name);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

static void test_mtls(void)
{
	const int req = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;

	mtls_ours_server(TLS_CLIENT_AUTH_NONE, "client", 0, "(none) does not ask for a certificate");
	mtls_ours_server(TLS_CLIENT_AUTH_OPTIONAL, "client", 0, "(optional) gets an ECDSA client certificate");
	mtls_ours_server(TLS_CLIENT_AUTH_OPTIONAL, "client-rsa", 0, "(optional) gets an RSA client certificate");
	mtls_ours_server(TLS_CLIENT_AUTH_OPTIONAL, NULL, 0, "(optional) accepts a client without one");
	mtls_ours_server(TLS_CLIENT_AUTH_REQUIRE, "client", 0, "(require) gets a client certificate");
	mtls_ours_server(TLS_CLIENT_AUTH_REQUIRE, NULL, TLS_ALERT_CERTIFICATE_REQUIRED,
			 "(require) sends certificate_required to a client without one");
	mtls_ours_server(TLS_CLIENT_AUTH_REQUIRE, "client-ca2", TLS_ALERT_UNKNOWN_CA,
			 "(require) sends unknown_ca for a certificate from another CA");

	mtls_ours_client(SSL_VERIFY_NONE, "client", 0, "is not asked by openssl (verify none)");
	mtls_ours_client(SSL_VERIFY_PEER, "client", 0, "sends its ECDSA certificate (openssl verify peer)");
	mtls_ours_client(SSL_VERIFY_PEER, "client-rsa", 0, "sends its RSA certificate (openssl verify peer)");
	mtls_ours_client(SSL_VERIFY_PEER, NULL, 0, "without a certificate is accepted (verify peer)");
	mtls_ours_client(req, "client", 0, "sends its certificate (openssl fail-if-no-peer-cert)");
	mtls_ours_client(req, NULL, TLS_ALERT_CERTIFICATE_REQUIRED,
			 "without a certificate gets certificate_required from openssl");
	mtls_ours_client(req, "client-ca2", TLS_ALERT_UNKNOWN_CA,
			 "with a certificate from another CA gets unknown_ca from openssl");
}

/* ---- after the handshake: KeyUpdate, tickets, close_notify ---- */

static struct link *connected(bool ours_server, tls_config **cfg, SSL_CTX **ctx)
{
	*cfg = ours_server ? our_server("p256") : our_client("ca.pem");
	*ctx = their_ctx(!ours_server, ours_server ? NULL : "p256", ours_server ? "ca.pem" : NULL);
	struct link *l = link_new(*cfg, *ctx, ours_server);
	if (ours_server)
		their_client_name(l, "localhost", "localhost");
	else
		tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	if (!both_done(l) || !ours_to_theirs(l, 10, 1) || !theirs_to_ours(l, 10, 2)) {
		link_free(l);
		return NULL;
	}
	return l;
}

static const char *role(bool ours_server)
{
	return ours_server ? "our server" : "our client";
}

static bool epochs(struct link *l, int tx, int rx)
{
	if (l->our_epoch[TLS_DIR_TX] == tx && l->our_epoch[TLS_DIR_RX] == rx)
		return true;
	test_diag("epochs tx %d rx %d, expected tx %d rx %d", l->our_epoch[TLS_DIR_TX],
		  l->our_epoch[TLS_DIR_RX], tx, rx);
	return false;
}

/* We initiate `times` KeyUpdates (with update_requested or not). */
static void ku_ours(bool ours_server, bool request, int times)
{
	tls_config *cfg;
	SSL_CTX *ctx;
	struct link *l = connected(ours_server, &cfg, &ctx);
	bool ok = l != NULL;

	for (int i = 0; ok && i < times; i++) {
		int r = tls_conn_key_update(l->c, &l->out, request);
		push(l);
		if (r != 0)
			test_diag("tls_conn_key_update: %d (%s)", r, tls_conn_error(l->c));
		/* SSL_read takes the update (and answers a request at once). */
		ok = r == 0 && ours_to_theirs(l, 1000, (unsigned)i) && theirs_to_ours(l, 1000, (unsigned)i);
	}
	ok = ok && epochs(l, 3 + times, request ? 3 + times : 3) && ours_to_theirs(l, 20000, 9) &&
	     theirs_to_ours(l, 20000, 10);
	test_ok(ok, "keyupdate: %s sends %d KeyUpdate%s %s", role(ours_server), times,
		times > 1 ? "s" : "", request ? "with update_requested, openssl answers" : "(not requested)");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* OpenSSL initiates (SSL_key_update), we follow and answer a request. */
static void ku_theirs(bool ours_server, bool request, int times)
{
	tls_config *cfg;
	SSL_CTX *ctx;
	struct link *l = connected(ours_server, &cfg, &ctx);
	bool ok = l != NULL;

	for (int i = 0; ok && i < times; i++) {
		ok = SSL_key_update(l->ssl, request ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1;
		/* The KeyUpdate goes out before the next application data. */
		ok = ok && theirs_to_ours(l, 1000, (unsigned)i) && ours_to_theirs(l, 1000, (unsigned)i);
	}
	ok = ok && epochs(l, request ? 3 + times : 3, 3 + times) && ours_to_theirs(l, 20000, 9) &&
	     theirs_to_ours(l, 20000, 10);
	test_ok(ok, "keyupdate: openssl sends %d KeyUpdate%s to %s %s", times, times > 1 ? "s" : "",
		role(ours_server), request ? "with update_requested, we answer" : "(not requested)");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

static void test_key_update(void)
{
	for (int s = 0; s < 2; s++) {
		ku_ours(s, false, 1);
		ku_ours(s, true, 1);
		ku_ours(s, true, 3);
		ku_theirs(s, false, 1);
		ku_theirs(s, true, 1);
		ku_theirs(s, true, 3);
	}
}

/* We close first: OpenSSL reads close_notify and answers with its own. */
static void close_ours(bool ours_server)
{
	tls_config *cfg;
	SSL_CTX *ctx;
	struct link *l = connected(ours_server, &cfg, &ctx);
	bool ok = l != NULL;
	uint8_t buf[16];
	int err = 0;

	if (ok) {
		int r = tls_conn_close(l->c, &l->out);
		push(l);
		size_t n = theirs_read(l, buf, sizeof(buf), &err);
		ok = r == 0 && n == 0 && err == SSL_ERROR_ZERO_RETURN && l->ssl_close_read;
		if (!ok)
			test_diag("tls_conn_close %d, SSL_read got %zu bytes, error %d", r, n, err);
		ok = ok && SSL_shutdown(l->ssl) == 1;
		pull(l);
		tls_buf plain;
		tls_buf_init(&plain, 0);
		r = ours_recv(l, &plain);
		tls_buf_free(&plain);
		if (ok && r != TLS_CLOSED) {
			test_diag("tls_conn_recv after openssl's close_notify: %d", r);
			ok = false;
		}
	}
	test_ok(ok, "close_notify: %s closes, openssl sees it and closes too", role(ours_server));
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* OpenSSL closes first (after data still in flight to us). */
static void close_theirs(bool ours_server)
{
	tls_config *cfg;
	SSL_CTX *ctx;
	struct link *l = connected(ours_server, &cfg, &ctx);
	bool ok = l != NULL;

	if (ok) {
		uint8_t data[300];
		tls_buf plain;
		fill(data, sizeof(data), 7);
		ok = SSL_write(l->ssl, data, sizeof(data)) == (int)sizeof(data) && SSL_shutdown(l->ssl) == 0;
		tls_buf_init(&plain, 0);
		int r = TLS_WANT_INPUT;
		for (int i = 0; i < 8 && r != TLS_CLOSED && r >= 0; i++)
			r = ours_recv(l, &plain);
		ok = ok && r == TLS_CLOSED && plain.len == sizeof(data) &&
		     memcmp(plain.base, data, sizeof(data)) == 0;
		if (!ok)
			test_diag("tls_conn_recv: %d with %zu bytes", r, plain.len);
		tls_buf_free(&plain);
		ok = ok && tls_conn_close(l->c, &l->out) == 0;
		push(l);
		ok = ok && SSL_shutdown(l->ssl) == 1;
	}
	test_ok(ok, "close_notify: openssl closes after data, %s delivers the data then TLS_CLOSED",
		role(ours_server));
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* TLS 1.3 close_notify closes one direction only (RFC 8446 §6.1): after
 * OpenSSL's close_notify we may still send, and after ours we still read. */
static void half_close(bool ours_server, bool theirs_first)
{
	tls_config *cfg;
	SSL_CTX *ctx;
	struct link *l = connected(ours_server, &cfg, &ctx);
	bool ok = l != NULL;
	tls_buf plain;
	uint8_t buf[16];
	int r = 0, err;

	tls_buf_init(&plain, 0);
	if (ok && theirs_first) {
		ok = SSL_shutdown(l->ssl) == 0 && (r = ours_recv(l, &plain)) == TLS_CLOSED;
		ok = ok && ours_to_theirs(l, 5000, 3);
		ok = ok && tls_conn_close(l->c, &l->out) == 0;
		push(l);
		ok = ok && SSL_shutdown(l->ssl) == 1;
	} else if (ok) {
		ok = (r = tls_conn_close(l->c, &l->out)) == 0;
		push(l);
		ok = ok && theirs_read(l, buf, sizeof(buf), &err) == 0 && err == SSL_ERROR_ZERO_RETURN;
		ok = ok && theirs_to_ours(l, 5000, 4);
		ok = ok && SSL_shutdown(l->ssl) == 1 && (r = ours_recv(l, &plain)) == TLS_CLOSED;
	}
	if (!ok && l)
		test_diag("last engine result %d (%s)", r, tls_conn_error(l->c));
	test_ok(ok, "close_notify: %s %s", role(ours_server),
		theirs_first ? "still sends after openssl's close_notify"
			     : "still receives after sending its close_notify");
	tls_buf_free(&plain);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* OpenSSL server sending session tickets: our client skips them. */
static void tickets(int n)
{
	tls_config *cfg = our_client("ca.pem");
	SSL_CTX *ctx = their_ctx(true, "p256", NULL);
	bool ok;

	SSL_CTX_set_num_tickets(ctx, (size_t)n);
	struct link *l = link_new(cfg, ctx, false);
	tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	ok = both_done(l) && params_agree(l) && data_both_ways(l);
	test_ok(ok, "tickets: our client ignores %d NewSessionTicket%s from openssl", n, n == 1 ? "" : "s");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* ---- RFC 8449 record_size_limit ---- */

/* OpenSSL has no RFC 8449 (no release up to 3.x; openssl#8187): our client's
 * record_size_limit 512 must be ignored by its server, which then owes no
 * limit, and our engine must not enforce an unacknowledged one (16 KiB
 * records from OpenSSL are fine); our server, configured with 512, must not
 * send the extension to a client that never offered it. Either way records
 * flow at full size both ways. Should OpenSSL learn the extension, the same
 * exchange checks the limit both ways (a record over it is record_overflow). */
static void record_size_limit(bool ours_server)
{
	tls_config *cfg = ours_server ? our_server("p256") : our_client("ca.pem");
	SSL_CTX *ctx = ours_server ? their_ctx(false, NULL, "ca.pem") : their_ctx(true, "p256", NULL);
	struct link *l;
	bool ok;

	tls_config_set_record_size_limit(cfg, 512);
	l = link_new(cfg, ctx, ours_server);
	if (ours_server)
		their_client_name(l, "localhost", "localhost");
	else
		tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	ok = both_done(l) && params_agree(l) && data_both_ways(l);
	uint16_t peer = tls_conn_params(l->c)->peer_record_limit;
	if (peer != 16385)
		test_diag("openssl sent record_size_limit %u: it implements RFC 8449 now", peer);
	test_ok(ok, "record_size_limit 512 on our %s, openssl %s without RFC 8449: ignored, full records both ways",
		ours_server ? "server" : "client", ours_server ? "client" : "server");
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* ---- OCSP and SCT stapling (RFC 8446 §4.4.2.1) ---- */

/* An OCSPResponse with responseStatus unauthorized(6): neither side
 * parses it, it only travels. */
static const uint8_t ocsp_der[] = { 0x30, 0x03, 0x0a, 0x01, 0x06 };

/* A SignedCertificateTimestampList with one SCT that libssl can parse
 * (v1, log id, timestamp, no extensions, an ecdsa/sha256 "signature"):
 * libssl's permissive CT validation keeps it as from an unknown log. */
#define SCT_TIME UINT64_C(1700000000000)
static const uint8_t sct_list[] = {
	0, 53, 0, 51, 0,                                        /* lengths, v1 */
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e,
	0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d,
	0x2e, 0x2f,                                             /* log id */
	0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00,         /* SCT_TIME */
	0, 0,                                                   /* extensions */
	4, 3, 0, 4, 0x30, 0x02, 0x00, 0x00,                     /* sha256, ecdsa, sig */
};

/* What the OpenSSL client's status callback saw. */
static struct {
	bool called;
	long len;
	uint8_t der[64];
} their_ocsp;

static int their_client_status_cb(SSL *ssl, void *arg)
{
	const unsigned char *p = NULL;
	long n = SSL_get_tlsext_status_ocsp_resp(ssl, &p);
	(void)arg;
	their_ocsp.called = true;
	their_ocsp.len = p ? n : -1;
	if (p && n > 0 && (size_t)n <= sizeof(their_ocsp.der))
		memcpy(their_ocsp.der, p, (size_t)n);
	return 1;
}

/* OpenSSL server: staples ocsp_der when asked. */
static int their_server_status_cb(SSL *ssl, void *arg)
{
	unsigned char *copy = OPENSSL_memdup(ocsp_der, sizeof(ocsp_der));
	(void)arg;
	if (!copy || !SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)sizeof(ocsp_der))) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

/* OpenSSL server: sct_list in the leaf's CertificateEntry, only when the
 * client offered signed_certificate_timestamp (libssl's rule for custom
 * extensions in responses). */
static int their_sct_add_cb(SSL *ssl, unsigned int type, unsigned int context,
			    const unsigned char **out, size_t *outlen, X509 *x, size_t chainidx,
			    int *al, void *arg)
{
	(void)ssl, (void)type, (void)x, (void)al, (void)arg;
	if (context != SSL_EXT_TLS1_3_CERTIFICATE || chainidx != 0)
		return 0;
	*out = sct_list;
	*outlen = sizeof(sct_list);
	return 1;
}

static bool same_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
	return got && got_len == want_len && memcmp(got, want, want_len) == 0;
}

/* Our server stapling OCSP to an OpenSSL client that asks (or not). */
static void ocsp_ours_server(bool ask)
{
	tls_config *cfg = our_server("p256");
	SSL_CTX *ctx = their_ctx(false, NULL, "ca.pem");
	cfg_check(tls_config_set_ocsp(cfg, ocsp_der, sizeof(ocsp_der)), "tls_config_set_ocsp", NULL);
	SSL_CTX_set_tlsext_status_cb(ctx, their_client_status_cb);
	memset(&their_ocsp, 0, sizeof(their_ocsp));
	struct link *l = link_new(cfg, ctx, true);
	their_client_name(l, "localhost", "localhost");
	if (ask)
		SSL_set_tlsext_status_type(l->ssl, TLSEXT_STATUSTYPE_ocsp);
	handshake(l);
	bool ok = both_done(l) && data_both_ways(l);
	if (ask)
		ok = ok && their_ocsp.called &&
		     same_bytes(their_ocsp.der, (size_t)their_ocsp.len, ocsp_der, sizeof(ocsp_der));
	else
		ok = ok && !their_ocsp.called;
	test_ok(ok, "stapling: our server %s OCSP to an openssl client that %s (%ld bytes seen)",
		ask ? "staples" : "does not staple", ask ? "asks" : "does not ask", their_ocsp.len);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* Our server's SCT list, read by an OpenSSL client doing (permissive) CT. */
static void sct_ours_server(void)
{
	tls_config *cfg = our_server("p256");
	SSL_CTX *ctx = their_ctx(false, NULL, "ca.pem");
	cfg_check(tls_config_set_sct(cfg, sct_list, sizeof(sct_list)), "tls_config_set_sct", NULL);
	struct link *l = link_new(cfg, ctx, true);
	their_client_name(l, "localhost", "localhost");
	ctx_check(SSL_enable_ct(l->ssl, SSL_CT_VALIDATION_PERMISSIVE), "SSL_enable_ct");
	handshake(l);
	bool ok = both_done(l) && data_both_ways(l);
	const STACK_OF(SCT) *scts = ok ? SSL_get0_peer_scts(l->ssl) : NULL;
	const SCT *sct = scts && sk_SCT_num(scts) == 1 ? sk_SCT_value(scts, 0) : NULL;
	unsigned char *log_id = NULL;
	size_t id_len = sct ? SCT_get0_log_id(sct, &log_id) : 0;
	test_ok(sct && SCT_get_timestamp(sct) == SCT_TIME && id_len == 32 && log_id &&
			memcmp(log_id, sct_list + 5, 32) == 0,
		"stapling: an openssl client doing CT reads the SCT our server staples (%d SCTs)",
		scts ? sk_SCT_num(scts) : -1);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

/* Our client (verifying: it asks for both) against an OpenSSL server that
 * staples OCSP from its status callback and SCTs as a custom extension. */
static void staples_ours_client(bool verify)
{
	tls_config *cfg = our_client(verify ? "ca.pem" : NULL);
	SSL_CTX *ctx = their_ctx(true, "p256", NULL);
	if (!verify)
		tls_config_set_verify_peer(cfg, false);
	SSL_CTX_set_tlsext_status_cb(ctx, their_server_status_cb);
	ctx_check(SSL_CTX_add_custom_ext(ctx, 18, SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_CERTIFICATE,
					 their_sct_add_cb, NULL, NULL, NULL, NULL),
		  "SSL_CTX_add_custom_ext");
	struct link *l = link_new(cfg, ctx, false);
	tls_conn_set_server_name(l->c, "localhost");
	handshake(l);
	bool ok = both_done(l) && data_both_ways(l);
	const tls_params *p = tls_conn_params(l->c);
	if (verify)
		ok = ok && same_bytes(p->ocsp, p->ocsp_len, ocsp_der, sizeof(ocsp_der)) &&
		     same_bytes(p->sct, p->sct_len, sct_list, sizeof(sct_list));
	else
		ok = ok && !p->ocsp && !p->sct;
	test_ok(ok, "stapling: our client %s, openssl server staples OCSP and SCT: %zu and %zu bytes",
		verify ? "asks" : "does not ask (no verification)", p->ocsp_len, p->sct_len);
	link_free(l);
	SSL_CTX_free(ctx);
	tls_config_free(cfg);
}

static void test_stapling(void)
{
	ocsp_ours_server(true);
	ocsp_ours_server(false);
	sct_ours_server();
	staples_ours_client(true);
	staples_ours_client(false);
}

int main(void)
{
	if (!test_certs_dir()) {
		test_ok(false, "test certificates (tests/certs/mk)");
		return test_done();
	}
	test_matrix();
	test_hrr();
	test_opt_in();
	test_versions();
	test_alpn();
	test_sni();
	test_verify();
	test_mtls();
	test_key_update();
	for (int s = 0; s < 2; s++) {
		close_ours(s);
		close_theirs(s);
		half_close(s, true);
		half_close(s, false);
	}
	tickets(0);
	tickets(1);
	tickets(4);
	record_size_limit(false);
	record_size_limit(true);
	test_stapling();
	return test_done();
}

/* tls_config: certificates, trust store, preference lists and knobs shared
 * read-only by every connection made from it. */
#include "tls/engine.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

/* AES-128-CCM, SecP256r1MLKEM768, secp521r1, X448 and ffdhe* only when
 * configured (tls.h). X25519MLKEM768 first: post-quantum when both ends can. */
static const uint16_t default_ciphers[] = { TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384,
					    TLS_CHACHA20_POLY1305_SHA256 };
static const uint16_t default_groups[] = { TLS_GROUP_X25519MLKEM768, TLS_GROUP_X25519,
					   TLS_GROUP_SECP256R1, TLS_GROUP_SECP384R1 };
static const uint16_t default_sigalgs[] = {
	TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_ECDSA_SECP384R1_SHA384, TLS_SIG_ED25519,
	TLS_SIG_RSA_PSS_RSAE_SHA256,    TLS_SIG_RSA_PSS_RSAE_SHA384,    TLS_SIG_RSA_PSS_RSAE_SHA512,
};

/* A config in use by a connection is read by other threads without locks:
 * the setters refuse to change it (-1). */
static bool frozen(const tls_config *cfg)
{
	return __atomic_load_n(&cfg->frozen, __ATOMIC_ACQUIRE);
}

bool tls_list_has(const uint16_t *list, size_t n, uint16_t v)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

tls_config *tls_config_new(enum tls_role role)
{
	tls_config *cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return NULL;
	cfg->role = role;
	cfg->refs = 1;
	memcpy(cfg->ciphers, default_ciphers, sizeof(default_ciphers));
	cfg->n_ciphers = sizeof(default_ciphers) / sizeof(default_ciphers[0]);
	memcpy(cfg->groups, default_groups, sizeof(default_groups));
	cfg->n_groups = sizeof(default_groups) / sizeof(default_groups[0]);
	memcpy(cfg->sigalgs, default_sigalgs, sizeof(default_sigalgs));
	cfg->n_sigalgs = sizeof(default_sigalgs) / sizeof(default_sigalgs[0]);
	cfg->max_handshake = TLS_DEFAULT_MAX_HANDSHAKE;
	cfg->record_size_limit = 16385;
	cfg->compat = true;
	cfg->psk_modes = TLS_PSK_MODE_DHE_KE;
	cfg->n_tickets = 2;
	cfg->ticket_lifetime = 7200;
	cfg->fresh_window = TLS_TICKET_DEFAULT_FRESH_WINDOW_MS;
	/* Fail closed: a client checks the server's chain and name unless told
	 * not to (with no CA loaded, against the system trust store). */
	cfg->verify_peer = role == TLS_CLIENT;
	cfg->verify_name = true;
	if (role == TLS_SERVER) {
		/* tickets work out of the box; a daemon rotates or replaces the ring */
		cfg->own_ring = tls_stek_ring_new(TLS_STEK_DEFAULT_KEEP, TLS_STEK_DEFAULT_PERIOD_S);
		if (!cfg->own_ring || tls_stek_ring_rotate(cfg->own_ring, tls_config_now_ms(cfg) / 1000)) {
			tls_stek_ring_free(cfg->own_ring);
			free(cfg);
			return NULL;
		}
		cfg->ring = cfg->own_ring;
	}
	return cfg;
}

uint64_t tls_config_now_ms(const tls_config *cfg)
{
	if (cfg->clock)
		return cfg->clock(cfg->clock_ctx);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int tls_config_set_psk_modes(tls_config *cfg, unsigned modes)
{
	if (frozen(cfg))
		return -1;
	cfg->psk_modes = modes & (TLS_PSK_MODE_KE | TLS_PSK_MODE_DHE_KE);
	return 0;
}

int tls_config_set_ticket_keys(tls_config *cfg, tls_stek_ring *ring)
{
	if (frozen(cfg))
		return -1;
	cfg->ring = ring ? ring : cfg->own_ring;
	return 0;
}

int tls_config_set_tickets(tls_config *cfg, unsigned count, uint32_t lifetime_s)
{
	if (frozen(cfg))
		return -1;
	if (count > 16 || lifetime_s > TLS_TICKET_MAX_LIFETIME_S || (count && !lifetime_s))
		return -1;
	cfg->n_tickets = count;
	if (lifetime_s)
		cfg->ticket_lifetime = lifetime_s;
	return 0;
}

/* The built-in recorder must remember each ClientHello for twice the
 * freshness window (antireplay.h), so it is made again whenever that window
 * changes; call order does not matter. On allocation failure the old
 * recorder stays and accept_early refuses 0-RTT (its window is too short). */
static int make_replay_cache(tls_config *cfg)
{
	uint64_t window = 2 * (uint64_t)cfg->fresh_window;
	if (window > UINT32_MAX)
		return -1;
	tls_replay_cache *rc = tls_replay_cache_new((uint32_t)window,
						    TLS_ANTIREPLAY_DEFAULT_MAX_ENTRIES);
	if (!rc)
		return -1;
	if (cfg->ar_ops && cfg->ar_ops->destroy)
		cfg->ar_ops->destroy(cfg->ar_ctx);
	cfg->ar_ops = &tls_replay_cache_ops;
	cfg->ar_ctx = rc;
	cfg->ar_builtin = true;
	return 0;
}

int tls_config_set_early_data(tls_config *cfg, uint32_t max)
{
	if (frozen(cfg))
		return -1;
	if (max && !cfg->ar_ops && make_replay_cache(cfg) != 0)
		return -1;
	cfg->max_early_data = max;
	return 0;
}

int tls_config_set_antireplay(tls_config *cfg, const struct tls_antireplay_ops *ops, void *ctx)
{
	if (frozen(cfg))
		return -1;
	if (cfg->ar_ops && cfg->ar_ops->destroy)
		cfg->ar_ops->destroy(cfg->ar_ctx);
	cfg->ar_ops = ops;
	cfg->ar_ctx = ctx;
	cfg->ar_builtin = false;
	return 0;
}

int tls_config_set_fresh_window(tls_config *cfg, uint32_t window_ms)
{
	if (frozen(cfg))
		return -1;
	cfg->fresh_window = window_ms;
	if (cfg->ar_builtin)
		make_replay_cache(cfg);
	return 0;
}

int tls_config_set_clock(tls_config *cfg, tls_clock_fn fn, void *ctx)
{
	if (frozen(cfg))
		return -1;
	cfg->clock = fn;
	cfg->clock_ctx = ctx;
	return 0;
}

int tls_config_set_psk_find(tls_config *cfg, tls_psk_find_fn fn, void *ctx)
{
	if (frozen(cfg))
		return -1;
	cfg->psk_find = fn;
	cfg->psk_find_ctx = ctx;
	return 0;
}

int tls_config_set_psk(tls_config *cfg, const uint8_t *identity, size_t identity_len,
		       const uint8_t *key, size_t key_len, uint16_t cipher)
{
	if (frozen(cfg))
		return -1;
	if (!identity || !identity_len || identity_len > TLS_PSK_MAX_IDENTITY || !key ||
	    !key_len || key_len > TLS_PSK_MAX_KEY || !tls_cipher_find(cipher))
		return -1;
	uint8_t *id = malloc(identity_len);
	if (!id)
		return -1;
	memcpy(id, identity, identity_len);
	free(cfg->psk_id);
	cfg->psk_id = id;
	cfg->psk_id_len = identity_len;
	memcpy(cfg->psk_key, key, key_len);
	cfg->psk_key_len = key_len;
	cfg->psk_cipher = cipher;
	return 0;
}

static void cert_free(struct tls_cert *cert)
{
	for (size_t i = 0; cert->der && i < cert->chain.n; i++)
		OPENSSL_free(cert->der[i]);
	tls_chain_free(&cert->chain);
	EVP_PKEY_free(cert->key);
	tls_sig_key_free(cert->prep);
	free(cert->der);
	free(cert->der_len);
	for (size_t i = 0; i < cert->n_names; i++)
		free(cert->names[i]);
	free(cert->names);
	free(cert->ocsp);
	free(cert->sct);
}

tls_config *tls_config_ref(const tls_config *cfg)
{
	tls_config *c = (tls_config *)cfg; /* the count is not configuration */
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void tls_config_freeze(const tls_config *cfg)
{
	__atomic_store_n(&((tls_config *)cfg)->frozen, true, __ATOMIC_RELEASE);
}

void tls_config_free(tls_config *cfg)
{
	if (!cfg || __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (size_t i = 0; i < cfg->n_certs; i++)
		cert_free(&cfg->certs[i]);
	free(cfg->certs);
	X509_STORE_free(cfg->ca);
	free(cfg->alpn);
	tls_stek_ring_free(cfg->own_ring);
	if (cfg->ar_ops && cfg->ar_ops->destroy)
		cfg->ar_ops->destroy(cfg->ar_ctx);
	free(cfg->psk_id);
	OPENSSL_cleanse(cfg->psk_key, sizeof(cfg->psk_key));
	free(cfg);
}

static int add_name(struct tls_cert *cert, const char *name, size_t len)
{
	char **names = realloc(cert->names, (cert->n_names + 1) * sizeof(*names));
	if (!names)
		return -1;
	cert->names = names;
	char *s = malloc(len + 1);
	if (!s)
		return -1;
	for (size_t i = 0; i < len; i++)
		s[i] = (char)tolower((unsigned char)name[i]);
	s[len] = 0;
	cert->names[cert->n_names++] = s;
	return 0;
}

/* SNI selects among certificates by their DNS names: SANs, or the CN when
 * the certificate has no SAN (as RFC 6125 allows for legacy certs). */
static int collect_names(struct tls_cert *cert)
{
	X509 *leaf = cert->chain.certs[0];
	GENERAL_NAMES *sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	int rc = 0;
	if (sans) {
		for (int i = 0; i < sk_GENERAL_NAME_num(sans) && rc == 0; i++) {
			const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
			if (gn->type != GEN_DNS)
				continue;
			const ASN1_IA5STRING *s = gn->d.dNSName;
			rc = add_name(cert, (const char *)ASN1_STRING_get0_data(s),
				      (size_t)ASN1_STRING_length(s));
		}
		GENERAL_NAMES_free(sans);
		return rc;
	}
	X509_NAME *subj = X509_get_subject_name(leaf);
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	if (idx < 0)
		return 0;
	ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
	return add_name(cert, (const char *)ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
}

bool tls_cert_matches_name(const struct tls_cert *cert, const char *host)
{
	for (size_t i = 0; i < cert->n_names; i++) {
		const char *n = cert->names[i];
		if (strcasecmp(n, host) == 0)
			return true;
		/* "*.example.com" covers exactly one non-empty left-most label. */
		if (n[0] == '*' && n[1] == '.') {
			const char *dot = strchr(host, '.');
			if (dot && dot != host && strcasecmp(dot, n + 1) == 0)
				return true;
		}
	}
	return false;
}

int tls_config_add_cert(tls_config *cfg, tls_chain *chain, EVP_PKEY *key)
{
	if (frozen(cfg))
		return -1;
	if (!chain || !key || chain->n == 0 || !X509_check_private_key(chain->certs[0], key))
		return -1;
	struct tls_cert *certs = realloc(cfg->certs, (cfg->n_certs + 1) * sizeof(*certs));
	if (!certs)
		return -1;
	cfg->certs = certs;
	struct tls_cert *cert = &certs[cfg->n_certs];
	memset(cert, 0, sizeof(*cert));
	cert->der = calloc(chain->n, sizeof(*cert->der));
	cert->der_len = calloc(chain->n, sizeof(*cert->der_len));
	if (!cert->der || !cert->der_len)
		goto fail;
	/* DER is encoded once here, not on every handshake. */
	for (size_t i = 0; i < chain->n; i++) {
		unsigned char *der = NULL;
		int n = i2d_X509(chain->certs[i], &der);
		if (n <= 0)
			goto fail;
		cert->der[i] = der;
		cert->der_len[i] = (size_t)n;
	}
	cert->chain = *chain;
	if (collect_names(cert) != 0) {
		cert->chain.certs = NULL;
		cert->chain.n = 0;
		goto fail;
	}
	/* Signing contexts are set up once per certificate, not per handshake. */
	cert->prep = tls_sig_key_new(key);
	if (!cert->prep) {
		cert->chain.certs = NULL;
		cert->chain.n = 0;
		goto fail;
	}
	cert->key = key;
	cert->sign = tls_sig_key_sign;
	cert->sign_ctx = cert->prep;
	chain->certs = NULL;
	chain->n = 0;
	cfg->n_certs++;
	return 0;
fail:
	for (size_t i = 0; cert->der && i < chain->n; i++)
		OPENSSL_free(cert->der[i]);
	free(cert->der);
	free(cert->der_len);
	for (size_t i = 0; i < cert->n_names; i++)
		free(cert->names[i]);
	free(cert->names);
	memset(cert, 0, sizeof(*cert));
	return -1;
}

int tls_config_add_cert_files(tls_config *cfg, const char *chain_pem, const char *key_pem,
			      char *err, size_t errlen)
{
	if (frozen(cfg))
		return -1;
	tls_chain chain = { 0 };
	if (tls_chain_load_pem(&chain, chain_pem, err, errlen) != 0)
		return -1;
	EVP_PKEY *key = tls_key_load_pem(key_pem, err, errlen);
	if (!key) {
		tls_chain_free(&chain);
		return -1;
	}
	/* the key check first: it is the failure with a useful message */
	char why[160] = "";
	if (tls_chain_check_key(&chain, key, why, sizeof(why)) != 0 ||
	    tls_config_add_cert(cfg, &chain, key) != 0) {
		if (*why)
			snprintf(err, errlen, "%s / %s: %s", chain_pem, key_pem, why);
		else
			snprintf(err, errlen, "%s: cannot add the certificate (out of memory?)",
				 chain_pem);
		tls_chain_free(&chain);
		EVP_PKEY_free(key);
		return -1;
	}
	return 0;
}

int tls_config_add_cert_der(tls_config *cfg, const uint8_t *cert, size_t cert_len,
			    const uint8_t *key, size_t key_len, char *err, size_t errlen)
{
	if (frozen(cfg))
		return -1;
	tls_chain chain = { 0 };
	if (!cert_len || tls_chain_from_der(&chain, &cert, &cert_len, 1) != 0) {
		snprintf(err, errlen, "not a DER certificate");
		return -1;
	}
	const uint8_t *p = key;
	EVP_PKEY *pkey = key_len <= LONG_MAX ? d2i_AutoPrivateKey(NULL, &p, (long)key_len) : NULL;
	char why[160] = "";
	if (!pkey || p != key + key_len) {
		snprintf(err, errlen, "not a DER private key");
		ERR_clear_error();
	} else if (tls_chain_check_key(&chain, pkey, why, sizeof(why)) != 0 ||
		   tls_config_add_cert(cfg, &chain, pkey) != 0) {
		snprintf(err, errlen, "%s", *why ? why : "cannot add the certificate (out of memory?)");
	} else {
		return 0;
	}
	tls_chain_free(&chain);
	EVP_PKEY_free(pkey);
	return -1;
}

int tls_config_set_ocsp(tls_config *cfg, const uint8_t *der, size_t len)
{
	if (frozen(cfg))
		return -1;
	if (!cfg->n_certs || len == 0 || len >= (1u << 24))
		return -1;
	struct tls_cert *cert = &cfg->certs[cfg->n_certs - 1];
	return tls_dup_bytes(&cert->ocsp, &cert->ocsp_len, der, len);
}

int tls_config_set_sct(tls_config *cfg, const uint8_t *list, size_t len)
{
	if (frozen(cfg))
		return -1;
	if (!cfg->n_certs || len == 0 || len >= (1u << 16))
		return -1;
	struct tls_cert *cert = &cfg->certs[cfg->n_certs - 1];
	return tls_dup_bytes(&cert->sct, &cert->sct_len, list, len);
}

int tls_config_set_signer(tls_config *cfg, tls_sign_fn fn, void *ctx)
{
	if (frozen(cfg))
		return -1;
	if (!cfg->n_certs)
		return -1;
	struct tls_cert *cert = &cfg->certs[cfg->n_certs - 1];
	cert->sign = fn ? fn : tls_sig_key_sign;
	cert->sign_ctx = fn ? ctx : (void *)cert->prep;
	return 0;
}

int tls_config_load_ca(tls_config *cfg, const char *path, char *err, size_t errlen)
{
	if (frozen(cfg))
		return -1;
	X509_STORE *store = tls_store_load(path, err, errlen);
	if (!store)
		return -1;
	X509_STORE_free(cfg->ca);
	cfg->ca = store;
	if (!cfg->verify_set)
		cfg->verify_peer = true;
	return 0;
}

int tls_config_set_verify_peer(tls_config *cfg, bool on)
{
	if (frozen(cfg))
		return -1;
	cfg->verify_peer = on;
	cfg->verify_set = true;
	return 0;
}

int tls_config_set_verify_name(tls_config *cfg, bool on)
{
	if (frozen(cfg))
		return -1;
	cfg->verify_name = on;
	return 0;
}

int tls_config_set_client_auth(tls_config *cfg, enum tls_client_auth mode)
{
	if (frozen(cfg))
		return -1;
	cfg->client_auth = mode;
	return 0;
}

static int set_list(uint16_t *dst, size_t *n_dst, const uint16_t *ids, size_t n,
		    bool (*known)(uint16_t))
{
	if (n == 0 || n > TLS_MAX_PREFS)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!known(ids[i]) || tls_list_has(ids, i, ids[i]))
			return -1;
	memcpy(dst, ids, n * sizeof(*ids));
	*n_dst = n;
	return 0;
}

static bool cipher_known(uint16_t id)
{
	return tls_cipher_find(id) != NULL;
}

static bool sigalg_known(uint16_t id)
{
	return tls_sig_scheme_ok_for_cv(id);
}

int tls_config_set_ciphers(tls_config *cfg, const uint16_t *ids, size_t n)
{
	if (frozen(cfg))
		return -1;
	return set_list(cfg->ciphers, &cfg->n_ciphers, ids, n, cipher_known);
}

int tls_config_set_groups(tls_config *cfg, const uint16_t *ids, size_t n)
{
	if (frozen(cfg))
		return -1;
	if (set_list(cfg->groups, &cfg->n_groups, ids, n, tls_group_supported) != 0)
		return -1;
	/* Shares for groups no longer configured would be a protocol error. */
	size_t k = 0;
	for (size_t i = 0; i < cfg->n_share_groups; i++)
		if (tls_list_has(cfg->groups, cfg->n_groups, cfg->share_groups[i]))
			cfg->share_groups[k++] = cfg->share_groups[i];
	cfg->n_share_groups = k;
	return 0;
}

int tls_config_set_sigalgs(tls_config *cfg, const uint16_t *ids, size_t n)
{
	if (frozen(cfg))
		return -1;
	return set_list(cfg->sigalgs, &cfg->n_sigalgs, ids, n, sigalg_known);
}

int tls_config_set_key_share_groups(tls_config *cfg, const uint16_t *ids, size_t n)
{
	if (frozen(cfg))
		return -1;
	if (n > TLS_MAX_SHARES)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!tls_list_has(cfg->groups, cfg->n_groups, ids[i]))
			return -1;
	if (n == 0) {
		cfg->n_share_groups = 0;
		return 0;
	}
	return set_list(cfg->share_groups, &cfg->n_share_groups, ids, n, tls_group_supported);
}

int tls_alpn_to_wire(const char *list, uint8_t **out, size_t *out_len)
{
	size_t n = strlen(list);
	*out = NULL;
	*out_len = 0;
	if (n == 0)
		return 0;
	uint8_t *w = malloc(n + 1);
	if (!w)
		return -1;
	size_t len = 0;
	const char *p = list;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t l = comma ? (size_t)(comma - p) : strlen(p);
		if (l == 0 || l > 255) {
			free(w);
			return -1;
		}
		w[len++] = (uint8_t)l;
		memcpy(w + len, p, l);
		len += l;
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = w;
	*out_len = len;
	return 0;
}

bool tls_alpn_list_has(const uint8_t *list, size_t len, const uint8_t *proto, size_t plen)
{
	tls_reader r = tls_reader_init(list, len);
	while (r.left) {
		tls_reader one = tls_read_vec8(&r, 1, 255);
		if (r.err)
			return false;
		if (one.left == plen && memcmp(one.p, proto, plen) == 0)
			return true;
	}
	return false;
}

bool tls_alpn_same(const char *negotiated, const uint8_t *proto, size_t plen)
{
	size_t n = negotiated ? strlen(negotiated) : 0;
	return n == plen && (n == 0 || memcmp(negotiated, proto, n) == 0);
}

int tls_config_set_alpn(tls_config *cfg, const char *list)
{
	if (frozen(cfg))
		return -1;
	uint8_t *w;
	size_t len;
	if (!list || tls_alpn_to_wire(list, &w, &len) != 0 || len > 0xfff0)
		return -1;
	free(cfg->alpn);
	cfg->alpn = w;
	cfg->alpn_len = len;
	return 0;
}

int tls_config_set_max_handshake(tls_config *cfg, size_t bytes)
{
	if (frozen(cfg))
		return -1;
	/* Below a few KiB no real certificate chain fits. */
	cfg->max_handshake = bytes < 1024 ? 1024 : bytes > (1u << 24) - 1 ? (1u << 24) - 1 : bytes;
	return 0;
}

int tls_config_set_record_size_limit(tls_config *cfg, uint16_t limit)
{
	if (frozen(cfg))
		return -1;
	cfg->record_size_limit = limit < 64 ? 64 : limit > 16385 ? 16385 : limit;
	return 0;
}

int tls_config_set_compat_mode(tls_config *cfg, bool on)
{
	if (frozen(cfg))
		return -1;
	cfg->compat = on;
	return 0;
}

int tls_config_set_keylog(tls_config *cfg, tls_keylog_fn fn, void *ctx)
{
	if (frozen(cfg))
		return -1;
	cfg->keylog = fn;
	cfg->keylog_ctx = ctx;
	return 0;
}

tls_stek_ring *tls_config_ticket_keys(const tls_config *cfg)
{
	return cfg->ring;
}

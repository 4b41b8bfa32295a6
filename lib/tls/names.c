/* Names <-> ids for preference lists (names.h). */
#include "tls/names.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <handshake/tls.h>

#include "tls/crypto.h"

struct name_id {
	const char *name;
	uint16_t id;
};

/* The suites' names are the engine's (tls_cipher_name); CCM_8 is only
 * known so that asking for it gets the reason it is refused. */
static const uint16_t cipher_ids[] = {
	TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256,
	TLS_AES_128_CCM_SHA256, TLS_AES_128_CCM_8_SHA256,
};

/* First entry of an id is its canonical name; later ones are aliases. */
static const struct name_id groups[] = {
	{ "x25519", TLS_GROUP_X25519 },
	{ "secp256r1", TLS_GROUP_SECP256R1 },
	{ "secp384r1", TLS_GROUP_SECP384R1 },
	{ "secp521r1", TLS_GROUP_SECP521R1 },
	{ "x448", TLS_GROUP_X448 },
	{ "ffdhe2048", TLS_GROUP_FFDHE2048 },
	{ "ffdhe3072", TLS_GROUP_FFDHE3072 },
	{ "ffdhe4096", TLS_GROUP_FFDHE4096 },
	{ "X25519MLKEM768", TLS_GROUP_X25519MLKEM768 },
	{ "SecP256r1MLKEM768", TLS_GROUP_SECP256R1MLKEM768 },
	{ "P-256", TLS_GROUP_SECP256R1 },
	{ "P-384", TLS_GROUP_SECP384R1 },
	{ "P-521", TLS_GROUP_SECP521R1 },
};

static const struct name_id sigalgs[] = {
	{ "ecdsa_secp256r1_sha256", TLS_SIG_ECDSA_SECP256R1_SHA256 },
	{ "ecdsa_secp384r1_sha384", TLS_SIG_ECDSA_SECP384R1_SHA384 },
	{ "ecdsa_secp521r1_sha512", TLS_SIG_ECDSA_SECP521R1_SHA512 },
	{ "ed25519", TLS_SIG_ED25519 },
	{ "rsa_pss_rsae_sha256", TLS_SIG_RSA_PSS_RSAE_SHA256 },
	{ "rsa_pss_rsae_sha384", TLS_SIG_RSA_PSS_RSAE_SHA384 },
	{ "rsa_pss_rsae_sha512", TLS_SIG_RSA_PSS_RSAE_SHA512 },
	{ "rsa_pss_pss_sha256", TLS_SIG_RSA_PSS_PSS_SHA256 },
	{ "rsa_pss_pss_sha384", TLS_SIG_RSA_PSS_PSS_SHA384 },
	{ "rsa_pss_pss_sha512", TLS_SIG_RSA_PSS_PSS_SHA512 },
	/* certificates only in TLS 1.3: known, to say so */
	{ "rsa_pkcs1_sha256", TLS_SIG_RSA_PKCS1_SHA256 },
	{ "rsa_pkcs1_sha384", TLS_SIG_RSA_PKCS1_SHA384 },
	{ "rsa_pkcs1_sha512", TLS_SIG_RSA_PKCS1_SHA512 },
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool same(const char *a, const char *b, size_t blen)
{
	return strlen(a) == blen && strncasecmp(a, b, blen) == 0;
}

static const char *cipher_name(uint16_t id)
{
	const tls_cipher *cs = tls_cipher_find(id);
	if (cs)
		return tls_cipher_name(cs);
	return id == TLS_AES_128_CCM_8_SHA256 ? "TLS_AES_128_CCM_8_SHA256" : NULL;
}

static int by_name(const struct name_id *t, size_t n, const char *name, size_t len, uint16_t *id)
{
	for (size_t i = 0; i < n; i++)
		if (same(t[i].name, name, len)) {
			*id = t[i].id;
			return 0;
		}
	return -1;
}

static const char *name_of(const struct name_id *t, size_t n, uint16_t id)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].id == id)
			return t[i].name;
	return NULL;
}

int tls_cipher_by_name(const char *name, size_t len, uint16_t *id)
{
	for (size_t i = 0; i < N(cipher_ids); i++)
		if (same(cipher_name(cipher_ids[i]), name, len)) {
			*id = cipher_ids[i];
			return 0;
		}
	return -1;
}

int tls_group_by_name(const char *name, size_t len, uint16_t *id)
{
	return by_name(groups, N(groups), name, len, id);
}

int tls_sigalg_by_name(const char *name, size_t len, uint16_t *id)
{
	return by_name(sigalgs, N(sigalgs), name, len, id);
}

const char *tls_group_name(uint16_t id)
{
	return name_of(groups, N(groups), id);
}

const char *tls_sigalg_name(uint16_t id)
{
	return name_of(sigalgs, N(sigalgs), id);
}

const char *tls_name_of(enum tls_name_kind kind, uint16_t id)
{
	switch (kind) {
	case TLS_NAMES_CIPHER: return cipher_name(id);
	case TLS_NAMES_GROUP: return tls_group_name(id);
	case TLS_NAMES_SIGALG: return tls_sigalg_name(id);
	}
	return NULL;
}

const char *tls_name_refusal(enum tls_name_kind kind, uint16_t id)
{
	switch (kind) {
	case TLS_NAMES_CIPHER:
		return tls_cipher_refusal(id);
	case TLS_NAMES_GROUP:
		return tls_group_supported(id) ? NULL : "not a group this engine supports";
	case TLS_NAMES_SIGALG:
		if (tls_sig_scheme_ok_for_cv(id))
			return NULL;
		return "RSASSA-PKCS1-v1_5 signs certificates only in TLS 1.3, never a handshake "
		       "(RFC 8446 4.2.3)";
	}
	return "unknown kind of name";
}

int tls_parse_name_list(enum tls_name_kind kind, const char *list, uint16_t *ids, size_t max,
			char *err, size_t errlen)
{
	static const char *const what[] = { "cipher", "group", "signature algorithm" };
	static const char blanks[] = " \t";
	size_t n = 0;
	const char *p = list;

	if (!*(p + strspn(p, blanks))) {
		snprintf(err, errlen, "empty list: name at least one %s", what[kind]);
		return -1;
	}
	for (;;) {
		size_t len = strcspn(p, ",:"), lead = strspn(p, blanks), end = len, trim;
		const char *name, *why;
		uint16_t id;
		int r;

		if (lead > len)
			lead = len;
		while (end > lead && (p[end - 1] == ' ' || p[end - 1] == '\t'))
			end--;
		name = p + lead;
		trim = end - lead;
		if (trim == 0) {
			snprintf(err, errlen, "empty %s name in '%s'", what[kind], list);
			return -1;
		}
		r = kind == TLS_NAMES_CIPHER  ? tls_cipher_by_name(name, trim, &id)
		    : kind == TLS_NAMES_GROUP ? tls_group_by_name(name, trim, &id)
					      : tls_sigalg_by_name(name, trim, &id);
		if (r != 0) {
			snprintf(err, errlen, "unknown %s '%.*s'", what[kind], (int)trim, name);
			return -1;
		}
		if ((why = tls_name_refusal(kind, id))) {
			snprintf(err, errlen, "%s '%.*s' refused: %s", what[kind], (int)trim, name, why);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (ids[i] == id) {
				const char *canon = tls_name_of(kind, id);
				bool alias = !same(canon, name, trim);
				snprintf(err, errlen, "duplicate %s '%.*s'%s%s%s", what[kind], (int)trim, name,
					 alias ? " (" : "", alias ? canon : "", alias ? ")" : "");
				return -1;
			}
		if (n == max) {
			snprintf(err, errlen, "more than %zu %ss", max, what[kind]);
			return -1;
		}
		ids[n++] = id;
		if (!p[len])
			return (int)n;
		p += len + 1;
	}
}

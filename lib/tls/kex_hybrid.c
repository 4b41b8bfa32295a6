/* Hybrid key exchange (draft-ietf-tls-ecdhe-mlkem): one key_share carries
 * an ML-KEM-768 encapsulation and an (EC)DHE exchange, and the shared
 * secret is the two secrets concatenated. The draft orders the parts
 * differently per group (X25519MLKEM768 is KEM first, for FIPS reasons):
 *
 *   X25519MLKEM768     client ek (1184) || X25519 (32)        = 1216
 *                      server ct (1088) || X25519 (32)        = 1120
 *                      secret ss_mlkem || ss_x25519           = 64
 *   SecP256r1MLKEM768  client P-256 point (65) || ek (1184)   = 1249
 *                      server P-256 point (65) || ct (1088)   = 1153
 *                      secret ss_ecdh || ss_mlkem             = 64
 *
 * The classical part goes through kex.c (point and small-order checks);
 * the client's ek must pass FIPS 203 §7.2 before the server encapsulates. */
#include "tls/crypto.h"
#include "tls/mlkem.h"

#include <string.h>

#include <openssl/crypto.h>

#define EC_SECRET_LEN 32           /* X25519 and P-256 alike */
#define MAX_EC_SHARE 65
#define HYBRID_SECRET_LEN (TLS_MLKEM768_SS_LEN + EC_SECRET_LEN)

struct hybrid_info {
	uint16_t id;
	uint16_t ec_group;         /* the classical part */
	size_t ec_len;             /* its key_exchange bytes */
	bool kem_first;            /* ML-KEM part first in shares and secret */
};

static const struct hybrid_info hybrids[] = {
	{ TLS_GROUP_X25519MLKEM768, TLS_GROUP_X25519, 32, true },
	{ TLS_GROUP_SECP256R1MLKEM768, TLS_GROUP_SECP256R1, 65, false },
};

static const struct hybrid_info *hybrid_find(uint16_t id)
{
	for (size_t i = 0; i < sizeof(hybrids) / sizeof(hybrids[0]); i++)
		if (hybrids[i].id == id)
			return &hybrids[i];
	return NULL;
}

bool tls_group_is_hybrid(uint16_t group)
{
	return hybrid_find(group) != NULL;
}

/* A share of exactly kem_len + ec_len bytes, cut in h's order. */
static bool split(const struct hybrid_info *h, const uint8_t *share, size_t len, size_t kem_len,
		  const uint8_t **kem, const uint8_t **ec)
{
	tls_reader r = tls_reader_init(share, share ? len : 0);
	if (h->kem_first) {
		*kem = tls_read_bytes(&r, kem_len);
		*ec = tls_read_bytes(&r, h->ec_len);
	} else {
		*ec = tls_read_bytes(&r, h->ec_len);
		*kem = tls_read_bytes(&r, kem_len);
	}
	return tls_reader_done(&r);
}

static void join(const struct hybrid_info *h, tls_buf *pub, const uint8_t *kem, size_t kem_len,
		 const uint8_t *ec)
{
	if (h->kem_first) {
		tls_write_bytes(pub, kem, kem_len);
		tls_write_bytes(pub, ec, h->ec_len);
	} else {
		tls_write_bytes(pub, ec, h->ec_len);
		tls_write_bytes(pub, kem, kem_len);
	}
}

/* Where each secret goes in the combined one. */
static uint8_t *kem_secret_at(const struct hybrid_info *h, uint8_t *out)
{
	return h->kem_first ? out : out + EC_SECRET_LEN;
}

static uint8_t *ec_secret_at(const struct hybrid_info *h, uint8_t *out)
{
	return h->kem_first ? out + TLS_MLKEM768_SS_LEN : out;
}

/* The classical secret into dst: exactly EC_SECRET_LEN bytes or -1. */
static int ec_derive(const struct hybrid_info *h, EVP_PKEY *ours, const uint8_t *peer,
		     uint8_t *dst)
{
	/* kex.c writes at most its group's secret length: 32 here */
	tls_kex part = { .group = h->ec_group, .key = ours, .kem_dk = NULL };
	size_t n = 0;
	return tls_kex_derive(&part, peer, h->ec_len, dst, &n) == 0 && n == EC_SECRET_LEN ? 0 : -1;
}

int tls_hybrid_generate(tls_kex *k, uint16_t group, tls_buf *pub)
{
	const struct hybrid_info *h = hybrid_find(group);
	uint8_t ek[TLS_MLKEM768_EK_LEN], ecmem[MAX_EC_SHARE];
	tls_buf ec;
	tls_kex part;
	memset(k, 0, sizeof(*k));
	if (!h)
		return -1;
	tls_buf_init_fixed(&ec, ecmem, sizeof(ecmem));
	k->group = group;
	k->kem_dk = OPENSSL_malloc(TLS_MLKEM768_DK_LEN);
	if (!k->kem_dk || tls_mlkem768_keygen(ek, k->kem_dk) != 0)
		goto fail;
	if (tls_kex_generate(&part, h->ec_group, &ec) != 0)
		goto fail;
	k->key = part.key;
	if (ec.err || ec.len != h->ec_len)
		goto fail;
	join(h, pub, ek, sizeof(ek), ecmem);
	if (pub->err)
		goto fail;
	return 0;
fail:
	tls_kex_clear(k);
	return -1;
}

int tls_hybrid_derive(tls_kex *k, const uint8_t *peer, size_t peer_len, uint8_t *out,
		      size_t *out_len)
{
	const struct hybrid_info *h = hybrid_find(k->group);
	const uint8_t *ct, *ec;
	if (!h || !k->key || !k->kem_dk || !split(h, peer, peer_len, TLS_MLKEM768_CT_LEN, &ct, &ec))
		return -1;
	/* A wrong ciphertext of the right length decapsulates to the
	 * implicit-rejection key: the Finished check then fails. */
	if (ec_derive(h, k->key, ec, ec_secret_at(h, out)) != 0 ||
	    tls_mlkem768_decaps(kem_secret_at(h, out), ct, TLS_MLKEM768_CT_LEN, k->kem_dk,
				TLS_MLKEM768_DK_LEN) != 0) {
		OPENSSL_cleanse(out, HYBRID_SECRET_LEN);
		return -1;
	}
	*out_len = HYBRID_SECRET_LEN;
	return 0;
}

int tls_kex_encaps(uint16_t group, const uint8_t *peer, size_t peer_len, tls_buf *pub,
		   uint8_t *out, size_t *out_len)
{
	const struct hybrid_info *h = hybrid_find(group);
	const uint8_t *ek, *ec;
	uint8_t ct[TLS_MLKEM768_CT_LEN], ecmem[MAX_EC_SHARE];
	tls_buf ecpub;
	tls_kex part;
	int rc = -2;
	if (!h)
		return -2;
	if (!split(h, peer, peer_len, TLS_MLKEM768_EK_LEN, &ek, &ec) ||
	    tls_mlkem768_check_ek(ek, TLS_MLKEM768_EK_LEN) != 0)
		return -1;
	tls_buf_init_fixed(&ecpub, ecmem, sizeof(ecmem));
	if (tls_kex_generate(&part, h->ec_group, &ecpub) != 0)
		return -2;
	if (ecpub.err || ecpub.len != h->ec_len)
		goto out;
	if (ec_derive(h, part.key, ec, ec_secret_at(h, out)) != 0) {
		rc = -1; /* invalid point or all-zero X25519 result */
		goto out;
	}
	if (tls_mlkem768_encaps(ct, kem_secret_at(h, out), ek, TLS_MLKEM768_EK_LEN) != 0)
		goto out;
	join(h, pub, ct, sizeof(ct), ecmem);
	if (!pub->err) {
		*out_len = HYBRID_SECRET_LEN;
		rc = 0;
	}
out:
	tls_kex_clear(&part);
	if (rc)
		OPENSSL_cleanse(out, HYBRID_SECRET_LEN);
	return rc;
}

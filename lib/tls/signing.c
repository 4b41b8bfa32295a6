/* CertificateVerify signatures that complete later (TLS_SIGN_PENDING).
 *
 * An RSA-4096 signature takes about a millisecond: a signer may hand it to
 * another thread and return TLS_SIGN_PENDING. The flight then stops before
 * the CertificateVerify (what precedes it is sealed into `out` already),
 * the connection waits in TLS_ST_SRV_SIGNING / TLS_ST_CLI_SIGNING and
 * reads no input, tls_conn_sign_done hands the signature over, and the
 * next tls_conn_handshake writes the CertificateVerify and the rest of the
 * flight (tls_server_finish_flight / tls_client_finish_flight). */
#include "tls/engine.h"

#include <stdlib.h>

bool tls_sig_len_ok(const struct tls_cert *cert, size_t len)
{
	/* no signature is empty or longer than the key's largest one */
	int max = cert && cert->key ? EVP_PKEY_get_size(cert->key) : 0;
	size_t cap = max > 0 && max < 0xffff ? (size_t)max : 0xffff;
	return len > 0 && len <= cap;
}

int tls_conn_sign_done(tls_conn *c, const uint8_t *sig, size_t len)
{
	if (!c || !tls_signing(c) || c->sign_sig || c->sign_err)
		return -1;
	if (!sig) {
		c->sign_err = "the signer failed";
		return 0;
	}
	if (!tls_sig_len_ok(c->sign_cert, len)) {
		c->sign_err = "the signature does not fit the key";
		return -1;
	}
	if (tls_dup_bytes(&c->sign_sig, &c->sign_sig_len, sig, len) != 0) {
		c->sign_err = "out of memory";
		return -1;
	}
	return 0;
}

int tls_sign_resume(tls_conn *c, tls_buf *out)
{
	if (c->sign_err)
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "CertificateVerify: %s",
				c->sign_err);
	if (!c->sign_sig)
		return TLS_WANT_SIGNATURE;
	tls_buf m;
	tls_buf_init(&m, 0);
	tls_msg_begin(&m, TLS_HS_CERTIFICATE_VERIFY);
	tls_write_u16(&m, c->sign_scheme); /* the scheme the signer was asked for */
	tls_write_open(&m, 2);
	tls_write_bytes(&m, c->sign_sig, c->sign_sig_len);
	tls_write_close(&m);
	tls_msg_end(&m);
	free(c->sign_sig);
	c->sign_sig = NULL;
	c->sign_sig_len = 0;
	if (m.err || tls_msg_transcript(c, m.base, m.len) != 0) {
		tls_buf_free(&m);
		return tls_fail(c, out, TLS_ALERT_INTERNAL_ERROR, "building CertificateVerify failed");
	}
	return c->role == TLS_SERVER ? tls_server_finish_flight(c, out, &m)
				     : tls_client_finish_flight(c, out, &m);
}

/* Per-key record limits (RFC 8446 §5.5); see aead_limits.h for the numbers. */
#include "tls/aead_limits.h"

#include "tls/crypto.h"

uint64_t tls_aead_update_threshold(uint16_t cipher)
{
	switch (cipher) {
	case TLS_AES_128_GCM_SHA256:
	case TLS_AES_256_GCM_SHA384:
		return TLS_AES_GCM_UPDATE_AT;
	case TLS_AES_128_CCM_SHA256:
		return TLS_AES_CCM_UPDATE_AT;
	case TLS_CHACHA20_POLY1305_SHA256:
		return TLS_CHACHA20_UPDATE_AT;
	}
	return 0;
}

uint64_t tls_aead_record_limit(uint16_t cipher)
{
	switch (cipher) {
	case TLS_AES_128_GCM_SHA256:
	case TLS_AES_256_GCM_SHA384:
		return TLS_AES_GCM_RECORD_LIMIT;
	case TLS_AES_128_CCM_SHA256:
		return TLS_AES_CCM_RECORD_LIMIT;
	case TLS_CHACHA20_POLY1305_SHA256:
		return TLS_CHACHA20_RECORD_LIMIT;
	}
	return 0;
}

enum tls_key_state tls_key_state(uint16_t cipher, uint64_t records)
{
	uint64_t limit = tls_aead_record_limit(cipher);
	if (limit == 0 || records >= limit)
		return TLS_KEY_EXHAUSTED;
	if (records >= tls_aead_update_threshold(cipher))
		return TLS_KEY_UPDATE_DUE;
	return TLS_KEY_OK;
}

bool tls_key_needs_update(uint16_t cipher, uint64_t records)
{
	return tls_key_state(cipher, records) != TLS_KEY_OK;
}

void tls_key_usage_init(tls_key_usage *u, uint16_t cipher)
{
	u->cipher = cipher;
	u->records = 0;
}

enum tls_key_state tls_key_usage_add(tls_key_usage *u, uint64_t n)
{
	u->records = n > UINT64_MAX - u->records ? UINT64_MAX : u->records + n;
	return tls_key_state(u->cipher, u->records);
}

uint64_t tls_records_for_send(uint64_t bytes)
{
	return bytes / TLS_MAX_PLAINTEXT + (bytes % TLS_MAX_PLAINTEXT != 0);
}

/* Extension blocks: one parser applying the RFC 8446 §4.2 rules (where an
 * extension may appear, no duplicates, responses only to what was offered,
 * pre_shared_key last). The per-extension bodies are read by the state
 * machines from the sub-readers this fills in. */
#include "tls/engine.h"

#include <string.h>

#define CH TLS_XBIT(TLS_CTX_CH)
#define SH TLS_XBIT(TLS_CTX_SH)
#define HRR TLS_XBIT(TLS_CTX_HRR)
#define EE TLS_XBIT(TLS_CTX_EE)
#define CR TLS_XBIT(TLS_CTX_CR)
#define CT TLS_XBIT(TLS_CTX_CT)
#define NST TLS_XBIT(TLS_CTX_NST)

static const struct {
	uint16_t type;
	uint8_t where;             /* messages it may appear in */
} known[TLS_XI_COUNT] = {
	[TLS_XI_SERVER_NAME] = { TLS_EXT_SERVER_NAME, CH | EE },
	[TLS_XI_MAX_FRAGMENT_LENGTH] = { TLS_EXT_MAX_FRAGMENT_LENGTH, CH | EE },
	[TLS_XI_STATUS_REQUEST] = { TLS_EXT_STATUS_REQUEST, CH | CR | CT },
	[TLS_XI_SUPPORTED_GROUPS] = { TLS_EXT_SUPPORTED_GROUPS, CH | EE },
	[TLS_XI_SIGNATURE_ALGORITHMS] = { TLS_EXT_SIGNATURE_ALGORITHMS, CH | CR },
	[TLS_XI_USE_SRTP] = { TLS_EXT_USE_SRTP, CH | EE },
	[TLS_XI_HEARTBEAT] = { TLS_EXT_HEARTBEAT, CH | EE },
	[TLS_XI_ALPN] = { TLS_EXT_ALPN, CH | EE },
	[TLS_XI_SCT] = { TLS_EXT_SCT, CH | CR | CT },
	[TLS_XI_CLIENT_CERT_TYPE] = { TLS_EXT_CLIENT_CERT_TYPE, CH | EE },
	[TLS_XI_SERVER_CERT_TYPE] = { TLS_EXT_SERVER_CERT_TYPE, CH | EE },
	[TLS_XI_PADDING] = { TLS_EXT_PADDING, CH },
	[TLS_XI_RECORD_SIZE_LIMIT] = { TLS_EXT_RECORD_SIZE_LIMIT, CH | EE },
	[TLS_XI_PRE_SHARED_KEY] = { TLS_EXT_PRE_SHARED_KEY, CH | SH },
	[TLS_XI_EARLY_DATA] = { TLS_EXT_EARLY_DATA, CH | EE | NST },
	[TLS_XI_SUPPORTED_VERSIONS] = { TLS_EXT_SUPPORTED_VERSIONS, CH | SH | HRR },
	[TLS_XI_COOKIE] = { TLS_EXT_COOKIE, CH | HRR },
	[TLS_XI_PSK_KEY_EXCHANGE_MODES] = { TLS_EXT_PSK_KEY_EXCHANGE_MODES, CH },
	[TLS_XI_CERTIFICATE_AUTHORITIES] = { TLS_EXT_CERTIFICATE_AUTHORITIES, CH | CR },
	[TLS_XI_OID_FILTERS] = { TLS_EXT_OID_FILTERS, CR },
	[TLS_XI_POST_HANDSHAKE_AUTH] = { TLS_EXT_POST_HANDSHAKE_AUTH, CH },
	[TLS_XI_SIGNATURE_ALGORITHMS_CERT] = { TLS_EXT_SIGNATURE_ALGORITHMS_CERT, CH | CR },
	[TLS_XI_KEY_SHARE] = { TLS_EXT_KEY_SHARE, CH | SH | HRR },
};

static int index_of(uint16_t type)
{
	for (int i = 0; i < TLS_XI_COUNT; i++)
		if (known[i].type == type)
			return i;
	return -1;
}

/* Responses carry only what was asked for (§4.2); the HRR cookie is the
 * one extension a server sends unasked. */
static bool is_response(enum tls_ext_ctx ctx)
{
	return ctx == TLS_CTX_SH || ctx == TLS_CTX_HRR || ctx == TLS_CTX_EE || ctx == TLS_CTX_CT;
}

/* Any number of extensions is legal (§4.1.2 bounds only the block's
 * length). Known types are checked for duplicates through out->present;
 * unknown ones (ignored in requests) through a set of their types. */
int tls_exts_parse(tls_reader *block, enum tls_ext_ctx ctx, uint32_t offered, tls_exts *out,
		   const char **why)
{
	tls_u16_set unknown;
	tls_u16_set_clear(&unknown);
	memset(out, 0, sizeof(*out));
	while (block->left && !block->err) {
		uint16_t type = tls_read_u16(block);
		tls_reader body = tls_read_vec16(block, 0, 0xffff);
		if (block->err)
			break;
		if (ctx == TLS_CTX_CH && tls_exts_has(out, TLS_XI_PRE_SHARED_KEY)) {
			*why = "pre_shared_key is not the last extension";
			return TLS_ALERT_ILLEGAL_PARAMETER;
		}
		int i = index_of(type);
		if (i < 0) {
			if (is_response(ctx)) {
				*why = "unsolicited extension";
				return TLS_ALERT_UNSUPPORTED_EXTENSION;
			}
			if (!tls_u16_set_add(&unknown, type)) {
				*why = "duplicate extension";
				return TLS_ALERT_ILLEGAL_PARAMETER;
			}
			continue; /* unknown extensions in requests are ignored */
		}
		if (tls_exts_has(out, (enum tls_xi)i)) {
			*why = "duplicate extension";
			return TLS_ALERT_ILLEGAL_PARAMETER;
		}
		if (!(known[i].where & TLS_XBIT(ctx))) {
			*why = "extension not allowed in this message";
			return TLS_ALERT_ILLEGAL_PARAMETER;
		}
		if (is_response(ctx) && !(offered & TLS_XBIT(i)) &&
		    !(ctx == TLS_CTX_HRR && i == TLS_XI_COOKIE)) {
			*why = "unsolicited extension";
			return TLS_ALERT_UNSUPPORTED_EXTENSION;
		}
		out->present |= TLS_XBIT(i);
		out->body[i] = body;
	}
	if (block->err) {
		*why = "malformed extensions";
		return TLS_ALERT_DECODE_ERROR;
	}
	return 0;
}

int tls_ext_record_size_limit(tls_reader body, uint16_t *limit, uint16_t *send_max,
			      const char **why)
{
	uint16_t v = tls_read_u16(&body);
	if (!tls_reader_done(&body)) {
		*why = "malformed record_size_limit";
		return TLS_ALERT_DECODE_ERROR;
	}
	if (v < 64) {
		*why = "record_size_limit below 64";
		return TLS_ALERT_ILLEGAL_PARAMETER;
	}
	*limit = v;
	/* the limit counts the inner content type byte (RFC 8449 §4) */
	*send_max = v - 1 < TLS_MAX_PLAINTEXT ? (uint16_t)(v - 1) : TLS_MAX_PLAINTEXT;
	return 0;
}

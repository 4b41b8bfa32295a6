/* Server internals shared by server.c (flight, client auth, dispatch),
 * server_hello.c (ClientHello parsing and negotiation) and server_psk.c
 * (PSK choice and 0-RTT). Not part of the engine's interface. */
#ifndef TLS_SERVER_H
#define TLS_SERVER_H

#include "tls/engine.h"

#define EARLY_DATA_SKIP_MAX (64 * 1024)

struct client_share {
	uint16_t group;
	const uint8_t *key;
	size_t len;
};

/* What a ClientHello says, as read by tls_ch_parse. */
struct ch_info {
	uint16_t legacy_version;
	const uint8_t *random;
	tls_reader sid;
	tls_reader ciphers;
	tls_reader comp;
	tls_reader ext_block;      /* raw, for the CH1/CH2 comparison */
	tls_exts ext;
	tls_reader psk_ids;        /* pre_shared_key, when present */
	tls_reader psk_binders;
	size_t binders_len;        /* the binders vector with its length */
	bool early;                /* early_data offered */
};

/* The PSK the server chose among the client's identities. */
struct psk_pick {
	size_t index;
	uint32_t obfuscated_age;
	bool ticket;               /* from a ticket (tk valid) */
	bool tk_written;           /* tk may hold ticket contents: wipe it */
	uint8_t binder[TLS_MAX_HASH];
	size_t binder_len;
	tls_ticket tk;             /* 1.6 KB: left untouched by a full handshake */
};

/* Only the small fields are set and only a written tk is wiped: a full
 * handshake then never writes the ticket's 1.6 KB (three times, cold). */
static inline void tls_psk_pick_init(struct psk_pick *pk)
{
	pk->index = 0;
	pk->obfuscated_age = 0;
	pk->ticket = pk->tk_written = false;
	pk->binder_len = 0;
}

static inline void tls_psk_pick_wipe(struct psk_pick *pk)
{
	if (pk->tk_written)
		tls_ticket_clear(&pk->tk);
	OPENSSL_cleanse(pk->binder, sizeof(pk->binder));
	pk->ticket = pk->tk_written = false;
}

static inline bool tls_u16_reader_has(tls_reader list, uint16_t v)
{
	while (list.left >= 2)
		if (tls_read_u16(&list) == v)
			return true;
	return false;
}

/* ---- server_hello.c ---- */
/* Digest of everything §4.1.2 forbids the second ClientHello to change. */
int tls_ch_digest(const struct ch_info *ch, uint8_t out[32]);
/* Splits a ClientHello body into *ch (decode_error etc. on malformed
 * input) and applies the version and compression rules. */
int tls_ch_parse(tls_conn *c, tls_buf *out, tls_reader *r, struct ch_info *ch);
/* key_share + supported_groups (§4.2.7, §4.2.8, §9.2): the shares for our
 * configured groups (at most TLS_MAX_PREFS) into shares, how many entries
 * the client sent in all into *n_total. */
int tls_ch_parse_shares(tls_conn *c, tls_buf *out, const struct ch_info *ch, tls_reader *groups,
			struct client_share *shares, size_t *n_shares, size_t *n_total);
/* RFC 6066 §3 server_name into c->server_name. */
int tls_ch_parse_sni(tls_conn *c, tls_buf *out, tls_reader body);
/* RFC 7301: our first protocol the client also lists, into c->alpn. */
int tls_ch_choose_alpn(tls_conn *c, tls_buf *out, tls_reader body);
/* Certificate by SNI first (exact or wildcard), then by what the client can
 * verify (sigalgs: a tls_read_sigalgs mask); the first configured
 * certificate is the default. */
int tls_ch_choose_cert(tls_conn *c, tls_buf *out, uint32_t sigalgs);
/* The remaining extensions: record_size_limit, status_request, SCT,
 * psk_key_exchange_modes, pre_shared_key (its shape), early_data. */
int tls_ch_parse_exts(tls_conn *c, tls_buf *out, struct ch_info *ch, bool second);
/* §4.1.2: ClientHello2 may change only what the HRR asked for. */
int tls_ch_check_second(tls_conn *c, tls_buf *out, const struct ch_info *ch);

/* ---- server_psk.c ---- */
/* §4.2.11: the first identity we can use wins; its binder must verify. */
int tls_srv_choose_psk(tls_conn *c, tls_buf *out, const struct ch_info *ch, const uint8_t *msg,
		       size_t len, bool second, const tls_cipher **cs_io, struct psk_pick *pk);
/* The resumed connection reports who authenticated originally. */
void tls_srv_ticket_identity(tls_conn *c, const tls_ticket *t);
/* How much rejected 0-RTT (ciphertext bytes) we skip before failing. */
size_t tls_srv_early_skip_limit(const tls_conn *c);
/* Accepts 0-RTT (keys for it) or arranges to skip it. */
int tls_srv_early_decision(tls_conn *c, tls_buf *out, const struct ch_info *ch, bool second,
			   const struct psk_pick *pk);

#endif

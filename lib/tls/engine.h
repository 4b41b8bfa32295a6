/* Engine internals shared by the files of lib/tls (not a public API).
 *
 * conn.c      connection object, handshake driver, secrets, userspace records
 * rlayer.c    record framing in both directions, handshake reassembly
 * ext.c       extension block parsing with the RFC 8446 §4.2 rules
 * msg.c       message codecs shared by both roles
 * server.c    server state machine
 * client.c    client state machine
 * psk.c       binders, early/resumption/exporter secrets, NewSessionTicket
 *             both ways, tls_session and its codec
 * post.c      after the handshake: records, KeyUpdate (keyupdate.c codec)
 * post_state.c the post-handshake object (tls_post) a kTLS socket keeps
 * config.c    tls_config
 */
#ifndef TLS_ENGINE_H
#define TLS_ENGINE_H

#include <stdint.h>
#include <string.h>

#include "tls/ticket.h"
#include "tls/tls.h"

/* record content types (§5.1) */
enum { TLS_CT_CCS = 20, TLS_CT_ALERT = 21, TLS_CT_HANDSHAKE = 22, TLS_CT_APPDATA = 23 };

/* handshake message types (§4) */
enum {
	TLS_HS_CLIENT_HELLO = 1,
	TLS_HS_SERVER_HELLO = 2,
	TLS_HS_NEW_SESSION_TICKET = 4,
	TLS_HS_END_OF_EARLY_DATA = 5,
	TLS_HS_ENCRYPTED_EXTENSIONS = 8,
	TLS_HS_CERTIFICATE = 11,
	TLS_HS_CERTIFICATE_REQUEST = 13,
	TLS_HS_CERTIFICATE_VERIFY = 15,
	TLS_HS_FINISHED = 20,
	TLS_HS_KEY_UPDATE = 24,
};

/* extension code points */
#define TLS_EXT_SERVER_NAME 0
#define TLS_EXT_MAX_FRAGMENT_LENGTH 1
#define TLS_EXT_STATUS_REQUEST 5
#define TLS_EXT_SUPPORTED_GROUPS 10
#define TLS_EXT_SIGNATURE_ALGORITHMS 13
#define TLS_EXT_USE_SRTP 14
#define TLS_EXT_HEARTBEAT 15
#define TLS_EXT_ALPN 16
#define TLS_EXT_SCT 18
#define TLS_EXT_CLIENT_CERT_TYPE 19
#define TLS_EXT_SERVER_CERT_TYPE 20
#define TLS_EXT_PADDING 21
#define TLS_EXT_RECORD_SIZE_LIMIT 28
#define TLS_EXT_PRE_SHARED_KEY 41
#define TLS_EXT_EARLY_DATA 42
#define TLS_EXT_SUPPORTED_VERSIONS 43
#define TLS_EXT_COOKIE 44
#define TLS_EXT_PSK_KEY_EXCHANGE_MODES 45
#define TLS_EXT_CERTIFICATE_AUTHORITIES 47
#define TLS_EXT_OID_FILTERS 48
#define TLS_EXT_POST_HANDSHAKE_AUTH 49
#define TLS_EXT_SIGNATURE_ALGORITHMS_CERT 50
#define TLS_EXT_KEY_SHARE 51

/* Index of each extension the engine knows, for the parsed table. */
enum tls_xi {
	TLS_XI_SERVER_NAME,
	TLS_XI_MAX_FRAGMENT_LENGTH,
	TLS_XI_STATUS_REQUEST,
	TLS_XI_SUPPORTED_GROUPS,
	TLS_XI_SIGNATURE_ALGORITHMS,
	TLS_XI_USE_SRTP,
	TLS_XI_HEARTBEAT,
	TLS_XI_ALPN,
	TLS_XI_SCT,
	TLS_XI_CLIENT_CERT_TYPE,
	TLS_XI_SERVER_CERT_TYPE,
	TLS_XI_PADDING,
	TLS_XI_RECORD_SIZE_LIMIT,
	TLS_XI_PRE_SHARED_KEY,
	TLS_XI_EARLY_DATA,
	TLS_XI_SUPPORTED_VERSIONS,
	TLS_XI_COOKIE,
	TLS_XI_PSK_KEY_EXCHANGE_MODES,
	TLS_XI_CERTIFICATE_AUTHORITIES,
	TLS_XI_OID_FILTERS,
	TLS_XI_POST_HANDSHAKE_AUTH,
	TLS_XI_SIGNATURE_ALGORITHMS_CERT,
	TLS_XI_KEY_SHARE,
	TLS_XI_COUNT
};
#define TLS_XBIT(i) (1u << (i))

/* The message an extension block belongs to (§4.2 table). */
enum tls_ext_ctx {
	TLS_CTX_CH, TLS_CTX_SH, TLS_CTX_HRR, TLS_CTX_EE, TLS_CTX_CR, TLS_CTX_CT, TLS_CTX_NST
};

typedef struct tls_exts {
	uint32_t present;          /* TLS_XBIT(index) of each known extension seen */
	tls_reader body[TLS_XI_COUNT];
} tls_exts;

/* Parses one extension block (the bytes inside the u16 length). Checks
 * duplicates, extensions not allowed in ctx (illegal_parameter), and for
 * responses (SH, HRR, EE, server/client Certificate entries) extensions not in
 * `offered` (unsupported_extension). Returns 0 or the alert; *why explains. */
int tls_exts_parse(tls_reader *block, enum tls_ext_ctx ctx, uint32_t offered, tls_exts *out,
		   const char **why);
/* RFC 8449 record_size_limit body: the peer's value (>= 64) into *limit and
 * the most plaintext we may send per record into *send_max. 0, or the alert
 * with *why. */
int tls_ext_record_size_limit(tls_reader body, uint16_t *limit, uint16_t *send_max,
			      const char **why);
static inline bool tls_exts_has(const tls_exts *e, enum tls_xi i)
{
	return (e->present & TLS_XBIT(i)) != 0;
}

/* A set of 16-bit code points (extension types, groups) that a peer lists:
 * a short list is kept as it is and scanned; past TLS_U16_SMALL values it
 * moves into a 64K-bit map, so a list of any length costs linear time and
 * a typical one no 8 KiB clear. Keep it on the stack of one parse. */
#define TLS_U16_SMALL 32
typedef struct tls_u16_set {
	size_t n;                  /* values in small[]; SIZE_MAX once in bits[] */
	uint16_t small[TLS_U16_SMALL];
	uint64_t bits[65536 / 64];
} tls_u16_set;
static inline void tls_u16_set_clear(tls_u16_set *s)
{
	s->n = 0;
}
static inline bool tls_u16_set_has(const tls_u16_set *s, uint16_t v)
{
	if (s->n == SIZE_MAX)
		return (s->bits[v >> 6] >> (v & 63)) & 1;
	for (size_t i = 0; i < s->n; i++)
		if (s->small[i] == v)
			return true;
	return false;
}
/* Adds v; false when it was there already. */
static inline bool tls_u16_set_add(tls_u16_set *s, uint16_t v)
{
	if (tls_u16_set_has(s, v))
		return false;
	if (s->n == TLS_U16_SMALL) {
		memset(s->bits, 0, sizeof(s->bits));
		for (size_t i = 0; i < TLS_U16_SMALL; i++)
			s->bits[s->small[i] >> 6] |= (uint64_t)1 << (s->small[i] & 63);
		s->n = SIZE_MAX;
	}
	if (s->n == SIZE_MAX)
		s->bits[v >> 6] |= (uint64_t)1 << (v & 63);
	else
		s->small[s->n++] = v;
	return true;
}

/* ---- configuration ---- */
struct tls_cert {
	tls_chain chain;
	EVP_PKEY *key;
	uint8_t **der;             /* cached DER of each chain cert */
	size_t *der_len;
	char **names;              /* DNS names from SAN (or CN without SAN), lower case */
	size_t n_names;
	uint8_t *ocsp;
	size_t ocsp_len;
	uint8_t *sct;
	size_t sct_len;
	tls_sig_key *prep;         /* the key prepared once for signing (sig.c) */
	tls_sign_fn sign;          /* tls_sig_key_sign unless a signer was set */
	void *sign_ctx;
};

#define TLS_MAX_PREFS 16

struct tls_config {
	unsigned refs;             /* tls_config_ref / tls_config_free (atomic) */
	bool frozen;               /* a connection uses it: read-only from now on */
	enum tls_role role;
	struct tls_cert *certs;
	size_t n_certs;
	X509_STORE *ca;
	bool verify_peer;          /* client: default on; server: see verify_set */
	bool verify_set;           /* tls_config_set_verify_peer was called */
	bool verify_name;          /* client: the name must be set and match (default) */
	enum tls_client_auth client_auth;
	uint16_t ciphers[TLS_MAX_PREFS];
	size_t n_ciphers;
	uint16_t groups[TLS_MAX_PREFS];
	size_t n_groups;
	uint16_t sigalgs[TLS_MAX_PREFS];
	size_t n_sigalgs;
	uint16_t share_groups[TLS_MAX_PREFS];
	size_t n_share_groups;     /* 0: the first group */
	uint8_t *alpn;             /* wire form: concatenated opaque<1..255> */
	size_t alpn_len;
	size_t max_handshake;
	uint16_t record_size_limit;
	bool compat;
	tls_keylog_fn keylog;
	void *keylog_ctx;

	/* resumption / PSK / 0-RTT */
	unsigned psk_modes;        /* TLS_PSK_MODE_* bits */
	tls_stek_ring *ring;       /* sealing ring: own_ring or borrowed */
	tls_stek_ring *own_ring;
	unsigned n_tickets;
	uint32_t ticket_lifetime;
	uint32_t max_early_data;
	uint32_t fresh_window;
	const struct tls_antireplay_ops *ar_ops;
	void *ar_ctx;
	bool ar_builtin;           /* ar_ctx is our tls_replay_cache, sized from fresh_window */
	tls_clock_fn clock;
	void *clock_ctx;
	tls_psk_find_fn psk_find;
	void *psk_find_ctx;
	uint8_t *psk_id;           /* client external PSK */
	size_t psk_id_len;
	uint8_t psk_key[TLS_PSK_MAX_KEY];
	size_t psk_key_len;
	uint16_t psk_cipher;
};

/* Current time of the config's clock in unix ms. */
uint64_t tls_config_now_ms(const tls_config *cfg);

/* Parses "h2,http/1.1" into wire form (malloc'd). 0 or -1. */
int tls_alpn_to_wire(const char *list, uint8_t **out, size_t *out_len);
/* True when the wire-form list holds proto (false for a malformed list). */
bool tls_alpn_list_has(const uint8_t *list, size_t len, const uint8_t *proto, size_t plen);
/* True when the negotiated protocol (NULL: none) is proto (plen 0: none). */
bool tls_alpn_same(const char *negotiated, const uint8_t *proto, size_t plen);
bool tls_list_has(const uint16_t *list, size_t n, uint16_t v);
/* True when one of the cert's names matches host (exact or left-most wildcard). */
bool tls_cert_matches_name(const struct tls_cert *cert, const char *host);

/* ---- client sessions (psk.c) ----
 * What resuming needs from one NewSessionTicket. Applications only see
 * its encoding (tls_session_encode), an opaque blob. */
typedef struct tls_session {
	uint16_t cipher;           /* suite of the connection that got it */
	uint8_t psk[TLS_MAX_HASH]; /* resumption PSK */
	uint8_t psk_len;
	uint8_t *ticket;           /* opaque ticket (identity) */
	size_t ticket_len;
	uint32_t lifetime_s;
	uint32_t age_add;
	uint32_t max_early_data;   /* 0: no 0-RTT */
	uint64_t created_ms;       /* when received (client clock) */
	char server_name[256];     /* SNI sent, "" for none */
	char alpn[256];            /* negotiated ALPN, "" for none */
} tls_session;
tls_session *tls_session_dup(const tls_session *s);
void tls_session_free(tls_session *s);
/* Versioned, holds the PSK. encode: 0 or -1; decode: a new session or
 * NULL if malformed. */
int tls_session_encode(const tls_session *s, tls_buf *out);
tls_session *tls_session_decode(const uint8_t *p, size_t len);
/* True when the session's lifetime has passed at now_ms. */
bool tls_session_expired(const tls_session *s, uint64_t now_ms);

/* ---- connection ---- */
enum tls_state {
	/* server */
	TLS_ST_SRV_WAIT_CH,
	TLS_ST_SRV_WAIT_CH2,
	TLS_ST_SRV_WAIT_EOED,      /* 0-RTT accepted: early data, then EndOfEarlyData */
	TLS_ST_SRV_WAIT_CERT,
	TLS_ST_SRV_WAIT_CV,
	TLS_ST_SRV_WAIT_FIN,
	TLS_ST_SRV_SIGNING,        /* flight sent up to the CertificateVerify; signer owes it */
	/* client */
	TLS_ST_CLI_START,
	TLS_ST_CLI_WAIT_SH,
	TLS_ST_CLI_WAIT_EE,
	TLS_ST_CLI_WAIT_CERT_CR,
	TLS_ST_CLI_WAIT_CERT,
	TLS_ST_CLI_WAIT_CV,
	TLS_ST_CLI_WAIT_FIN,
	TLS_ST_CLI_SIGNING,        /* Certificate sent; signer owes the CertificateVerify */
	/* both */
	TLS_ST_DONE,
	TLS_ST_FAILED,
};

#define TLS_MAX_SHARES 4
#define TLS_MAX_EXT_OVERRIDES 6

struct tls_conn {
	const tls_config *cfg;
	enum tls_role role;
	enum tls_state state;
	int result;                /* sticky error once failed */
	tls_callbacks cb;
	void *cb_ctx;
	char err[160];

	/* record layer */
	tls_traffic_key rx, tx;
	bool rx_on, tx_on;
	int rx_epoch, tx_epoch;
	/* The output of the current call (tls_conn_handshake, _recv, _send,
	 * _key_update, _close): where it started, where our TX key changed in
	 * it (tls_conn_out_epochs), and where the record being processed began
	 * with the TX state then, so a failure can take its partial output back
	 * before the alert (tls_fail). */
	tls_buf *cur_out;
	size_t out_start;
	struct tls_out_epoch marks[TLS_MAX_OUT_EPOCHS];
	size_t n_marks;
	size_t rec_out_start;
	bool rec_tx_on;
	int rec_tx_epoch;
	uint64_t rec_tx_seq;
	bool ccs_ok;               /* a middlebox CCS may arrive now */
	bool ccs_seen;
	bool ccs_sent;
	bool key_change;           /* the message just handled changed RX keys */
	bool ku_pending;           /* the peer asked for a KeyUpdate we have not sent yet */
	bool sent_ch;              /* client: first ClientHello went out */
	tls_buf hs;                /* handshake reassembly (lazy) */
	uint16_t peer_limit;       /* max plaintext we may send per record */
	uint16_t rx_limit;         /* RFC 8449 limit we announced and the peer accepted (0: none) */
	size_t skip_early;         /* server: bytes of rejected 0-RTT still skippable */

	/* handshake */
	tls_transcript tr;
	tls_keysched ks;
	const tls_cipher *cs;
	tls_kex kex[TLS_MAX_SHARES];
	size_t n_kex;
	uint8_t c_hs[TLS_MAX_HASH];    /* client handshake traffic secret */
	uint8_t s_hs[TLS_MAX_HASH];
	uint8_t rx_secret[TLS_MAX_HASH]; /* current application secrets */
	uint8_t tx_secret[TLS_MAX_HASH];
	uint8_t fin_hash[TLS_MAX_HASH]; /* transcript hash through the server Finished */
	uint8_t pending_rx[TLS_MAX_HASH]; /* server: client application secret until its Finished */
	uint8_t client_random[32];
	uint8_t sid[32];
	size_t sid_len;
	tls_params params;
	char *server_name;
	char *alpn;
	uint8_t *alpn_offer;       /* client: per-connection offer (wire form) */
	size_t alpn_offer_len;
	tls_chain peer_chain;
	bool hrr;

	/* asynchronous CertificateVerify (signing.c) */
	const struct tls_cert *sign_cert; /* whose signer returned TLS_SIGN_PENDING */
	uint16_t sign_scheme;
	uint8_t *sign_sig;         /* from tls_conn_sign_done, until written */
	size_t sign_sig_len;
	const char *sign_err;      /* signing failed: why (static string) */

	/* PSK (both roles) */
	bool psk_on;               /* server: chose one; client: offering one */
	bool psk_chosen;           /* client: the server chose it */
	bool psk_ext;              /* external PSK */
	bool psk_dhe;              /* psk_dhe_ke (else psk_ke) */
	uint8_t psk[TLS_PSK_MAX_KEY];
	size_t psk_len;
	const tls_cipher *psk_cs;  /* the PSK's suite (hash) */
	uint8_t c_early[TLS_MAX_HASH]; /* client_early_traffic_secret */
	bool early_on;             /* client: 0-RTT sent; server: accepted */
	uint32_t early_got;        /* server: 0-RTT bytes received */
	uint32_t early_max;        /* server: 0-RTT limit of the accepted ticket (and config) */
	uint8_t res_master[TLS_MAX_HASH]; /* kept after the handshake for tickets */
	uint8_t exp_master[TLS_MAX_HASH];
	bool masters;              /* exp_master derived */
	bool res_ready;            /* res_master derived (a server: only if it may issue tickets) */

	/* server */
	unsigned psk_peer_modes;   /* TLS_PSK_MODE_* the client listed */
	uint8_t ticket_nonce;      /* next NewSessionTicket nonce */
	bool defer_tickets;        /* tls_conn_defer_tickets: tls_post sends them */
	uint8_t client_subject[TLS_TICKET_MAX_SUBJECT];
	uint64_t client_not_after;
	const struct tls_cert *cert;
	uint16_t sig_scheme;
	uint16_t group;
	uint8_t ch1_digest[32];
	uint8_t cookie[32];
	bool want_ocsp, want_sct, client_rsl, sni_ack, cr_sent;

	/* client */
	uint16_t offered_groups_hrr; /* group asked by HRR (0 none) */
	uint8_t *ch_shares;        /* key_share list of CH1, until the ServerHello */
	size_t ch_shares_len;
	uint8_t *hrr_cookie;
	size_t hrr_cookie_len;
	uint16_t hrr_cipher;
	uint32_t ch_offered;       /* TLS_XBIT of extensions we sent */
	bool cr_received;
	uint32_t cr_sigalgs;       /* our schemes the CertificateRequest lists */
	bool cr_ocsp, cr_sct;
	uint8_t *peer_ocsp;        /* the server's staples, for params (kept with the conn) */
	size_t peer_ocsp_len;
	uint8_t *peer_sct;
	size_t peer_sct_len;
	tls_session *sess;         /* offered session (our copy) */
	uint8_t *early;            /* 0-RTT data to send */
	size_t early_len;
	uint8_t *psk_identity;     /* identity offered */
	size_t psk_identity_len;
	uint32_t psk_age;          /* obfuscated_ticket_age */

	/* Set only by the test hooks (test_hooks.c, in test builds: the shipped
	 * library has no way to set it), so always NULL in the product. */
	struct tls_test_hooks *t;
};

/* What the test hooks (test_hooks.h) replace: random or cosmetic choices
 * for the RFC 8448 traces and hand-made messages; every check still runs. */
struct tls_test_hooks {
	bool random_set;
	uint8_t random[32];
	bool sid_set;
	struct { uint16_t group; uint8_t *priv; size_t len; } kex[TLS_MAX_SHARES];
	uint8_t *cookie;
	size_t cookie_len;
	struct { uint8_t type; uint8_t *ext; size_t len; } ext[TLS_MAX_EXT_OVERRIDES];
	tls_ticket *ticket;        /* server: tls_conn_test_set_ticket */
	uint8_t *ticket_id;
	size_t ticket_id_len;
};
/* test_hooks.c: frees c->t (wiping keys); the product never has one. */
void tls_test_hooks_free(tls_conn *c);

/* conn.c */
int tls_fail(tls_conn *c, tls_buf *out, int alert, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Replaces *dst with a copy of src (len may be 0); 0 or -1 (then *dst is
 * unchanged). */
int tls_dup_bytes(uint8_t **dst, size_t *dst_len, const uint8_t *src, size_t len);
/* The peer's fatal alert ends the connection (handshake secrets wiped). */
int tls_fail_peer(tls_conn *c, int alert);
/* Every public entry point that writes to out starts with this: it makes
 * out the current output for epoch marks and failure rollback. */
void tls_out_begin(tls_conn *c, tls_buf *out);
/* The driver calls this before each input record it processes. */
void tls_out_record(tls_conn *c);
/* Installs a traffic secret for one direction, tells the callback and keylog. */
int tls_set_secret(tls_conn *c, enum tls_dir dir, int epoch, const uint8_t *secret);
/* Marks this side's handshake complete and wipes handshake-only state. */
void tls_handshake_complete(tls_conn *c);
/* Test hook: the queued extension block for the next message of this
 * type, if any (true), removed from the queue; caller frees *ext. */
bool tls_take_ext_override(tls_conn *c, uint8_t type, uint8_t **ext, size_t *len);
/* Fills out[len] (len >= 32) from RAND_bytes; its first 32 bytes are the
 * hello random (the test hook's, if set). A client takes its
 * legacy_session_id from the rest: one call's fixed cost, not two. */
int tls_make_random(tls_conn *c, uint8_t *out, size_t len);
/* Generates (or with the test hook, sets) an ephemeral key; appends the public share. */
int tls_make_share(tls_conn *c, tls_kex *k, uint16_t group, tls_buf *pub);

/* rlayer.c */
/* Appends plaintext records of `type` carrying data (split at 2^14). */
void tls_rl_write_plain(tls_buf *out, uint8_t type, uint16_t version, const uint8_t *data,
			size_t len);
/* Appends protected records under c->tx, split at the peer's limit. 0 or -1. */
int tls_rl_write_sealed(tls_conn *c, tls_buf *out, uint8_t type, const uint8_t *data, size_t len);
/* Sends data as the right kind of records for the current TX state. */
int tls_rl_write(tls_conn *c, tls_buf *out, uint8_t type, const uint8_t *data, size_t len);
void tls_rl_send_ccs(tls_conn *c, tls_buf *out);
/* Reads one whole record from in (if complete). Returns 0 with *rec_len set,
 * TLS_WANT_INPUT, or a local error (alert already in out). */
int tls_rl_frame(tls_conn *c, tls_buf *out, const uint8_t *in, size_t len, size_t *rec_len);
/* Handles one whole handshake-phase record; handshake messages go to the
 * role's handler. Returns 0 or an error. */
int tls_rl_handshake_record(tls_conn *c, tls_buf *out, const uint8_t *rec, size_t len);
/* Handles one post-handshake record for tls_conn_recv. */
int tls_rl_app_record(tls_conn *c, tls_buf *out, tls_buf *plain, const uint8_t *rec, size_t len);

/* msg.c */
/* Starts a handshake message in b (type + u24 length placeholder). */
void tls_msg_begin(tls_buf *b, uint8_t type);
void tls_msg_end(tls_buf *b);
/* Appends a Certificate message body for cert (context, entries with OCSP/SCT). */
void tls_msg_write_certificate(tls_buf *b, const uint8_t *ctx, size_t ctx_len,
			       const struct tls_cert *cert, bool ocsp, bool sct);
/* What a server stapled to its leaf's CertificateEntry (§4.4.2.1):
 * the OCSPResponse DER and the SignedCertificateTimestampList (RFC 6962
 * §3.3, its own u16 length included), pointing into the message; NULL
 * when absent. */
typedef struct tls_staples {
	const uint8_t *ocsp;
	size_t ocsp_len;
	const uint8_t *sct;
	size_t sct_len;
} tls_staples;
/* Parses a Certificate message body into chain; the leaf's staples go to
 * *leaf (may be NULL), every entry's are checked. Returns 0 or an alert. */
int tls_msg_read_certificate(tls_reader *r, uint32_t offered, tls_chain *chain, size_t *ctx_len,
			     tls_staples *leaf, const char **why);
/* Appends CertificateVerify signed by cert over the transcript hash. 0 or
 * -1, or TLS_SIGN_PENDING: the signer answers later (nothing appended;
 * cert and scheme noted in c for tls_sign_resume). */
int tls_msg_write_cv(tls_conn *c, tls_buf *b, const struct tls_cert *cert, uint16_t scheme,
		     bool server);
/* Verifies a CertificateVerify body against the peer leaf. 0 or an alert. */
int tls_msg_check_cv(tls_conn *c, tls_reader *r, const uint16_t *offered, size_t n_offered,
		     bool server_signed, uint16_t *scheme, const char **why);
/* Finished: writes ours / checks the peer's (constant time). */
int tls_msg_write_finished(tls_conn *c, tls_buf *b, const uint8_t *base_secret);
int tls_msg_check_finished(tls_conn *c, tls_reader *r, const uint8_t *base_secret,
			   const uint8_t *hash);
/* Adds a whole message (from its header) to the transcript. */
int tls_msg_transcript(tls_conn *c, const uint8_t *msg, size_t len);
/* Reads a peer's signature_algorithms body (a vec16 of u16, any length)
 * and marks which of our configured schemes it lists: bit i stands for
 * cfg->sigalgs[i]. The peer's list is scanned once and never stored, so a
 * list of thousands of unknown schemes costs nothing more. 0 or -1. */
int tls_read_sigalgs(tls_reader *r, const tls_config *cfg, uint32_t *mask);
/* Chooses a signature scheme for cert among those the peer listed (a mask
 * from tls_read_sigalgs), in our preference order. 0 if none. */
uint16_t tls_pick_scheme(const tls_config *cfg, const struct tls_cert *cert, uint32_t peer_mask);

/* server.c / client.c: one complete handshake message (header included). */
int tls_server_handle(tls_conn *c, tls_buf *out, uint8_t type, tls_reader *body,
		      const uint8_t *msg, size_t len);
int tls_client_handle(tls_conn *c, tls_buf *out, uint8_t type, tls_reader *body,
		      const uint8_t *msg, size_t len);
int tls_client_start(tls_conn *c, tls_buf *out);
/* The flight after our CertificateVerify (m holds it, not yet sent; m is
 * freed): Finished, the protected records, the next secrets and state. */
int tls_server_finish_flight(tls_conn *c, tls_buf *out, tls_buf *m);
int tls_client_finish_flight(tls_conn *c, tls_buf *out, tls_buf *m);

/* signing.c: asynchronous CertificateVerify signatures. */
static inline bool tls_signing(const tls_conn *c)
{
	return c->state == TLS_ST_SRV_SIGNING || c->state == TLS_ST_CLI_SIGNING;
}
/* A signature of len bytes is possible for cert's key. */
bool tls_sig_len_ok(const struct tls_cert *cert, size_t len);
/* In a signing state: TLS_WANT_SIGNATURE while the signature is owed,
 * else writes the CertificateVerify and finishes the flight (0 or an
 * error, alert in out). */
int tls_sign_resume(tls_conn *c, tls_buf *out);
/* Post-handshake message (both roles). */
int tls_post_handshake_handle(tls_conn *c, tls_buf *out, uint8_t type, tls_reader *body);

/* psk.c: the pre_shared_key extension and binders (§4.2.11). */
/* Binder for one PSK over Hash(transcript so far || truncated hello). */
int tls_psk_binder(const tls_cipher *cs, const uint8_t *psk, size_t psk_len, bool external,
		   const tls_transcript *tr, const uint8_t *trunc, size_t trunc_len,
		   uint8_t *out);
/* Derives client_early_traffic_secret from the PSK and Hash(ClientHello)
 * (the transcript, which must hold exactly the ClientHello). */
int tls_psk_early_secret(tls_conn *c, const uint8_t *ch_hash);
/* Derives the exporter master secret (over c->fin_hash) and, when res_hash
 * is given, the resumption master secret over it (c->res_ready). */
int tls_derive_masters(tls_conn *c, const uint8_t *res_hash);
/* RFC 8446 §7.5 exporter from an exporter_master_secret (tls_conn_export
 * and tls_post_export). 0 or -1. */
int tls_export_secret(const tls_cipher *cs, const uint8_t *exp_master, const char *label,
		      const uint8_t *context, size_t context_len, uint8_t *out, size_t out_len);
/* Server: appends NewSessionTicket messages to out (sealed), if enabled and
 * not deferred; wipes the resumption secret unless deferred. */
int tls_server_send_tickets(tls_conn *c, tls_buf *out);
/* Client: a NewSessionTicket body (post-handshake). */
int tls_client_ticket(tls_conn *c, tls_buf *out, tls_reader *r);

/* What a server's NewSessionTicket carries about its connection: the live
 * conn and tls_post fill it from their own state. */
struct tls_nst_src {
	const tls_cipher *cs;
	const uint8_t *res_master;    /* resumption_master_secret */
	const char *server_name;      /* SNI or NULL */
	const char *alpn;             /* negotiated ALPN or NULL */
	unsigned modes;               /* TLS_PSK_MODE_*: ours and the client's */
	uint32_t max_early_data;
	bool has_client;              /* the client's certificate identity: */
	const uint8_t *client_sha256; /* [32] */
	uint64_t client_not_after;    /* unix seconds */
	const uint8_t *client_subject;
	size_t client_subject_len;
};
/* Appends one NewSessionTicket message (header included, plaintext) with
 * this nonce, its ticket sealed under cfg's ring at now_ms. 0; 1 when no
 * ticket can be made (no ring key, a seal limit, an identity too large:
 * not an error, send none); -1 when out failed. */
int tls_nst_build(const tls_config *cfg, const struct tls_nst_src *src, const uint8_t *nonce,
		  size_t nonce_len, uint64_t now_ms, tls_buf *out);
/* Parses a NewSessionTicket body (all of r) into *s: the PSK derived with
 * res_master, received at now_ms, with the connection's SNI (as sent) and
 * ALPN. 0 with s->ticket malloc'd (the caller wipes s->psk and frees it),
 * 0 with s->ticket NULL when there is nothing to keep (lifetime 0, or
 * res_master NULL: only check the message), or an alert with *why. */
int tls_nst_parse(const tls_cipher *cs, const uint8_t *res_master, tls_reader *r,
		  uint64_t now_ms, const char *sni, const char *alpn, tls_session *s,
		  const char **why);

/* SHA-256("HelloRetryRequest") (§4.1.3) */
extern const uint8_t tls_hrr_random[32];

#endif

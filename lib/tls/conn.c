/* The connection object, the handshake driver (whole records in, flights
 * out, stop after the record that completes our side), traffic secrets and
 * their callbacks/keylog, exact reads and output marks. The test hooks live
 * in test_hooks.c (test builds only). */
#include "tls/engine.h"
#include "tls/test_hooks.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

const uint8_t tls_hrr_random[32] = {
	0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
	0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

tls_conn *tls_conn_new(const tls_config *cfg)
{
	tls_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	/* the conn holds a reference: a reload may drop the caller's */
	c->cfg = tls_config_ref(cfg);
	c->role = cfg->role;
	c->state = c->role == TLS_SERVER ? TLS_ST_SRV_WAIT_CH : TLS_ST_CLI_START;
	c->peer_limit = TLS_MAX_PLAINTEXT;
	c->rx_epoch = c->tx_epoch = TLS_EPOCH_INITIAL;
	tls_transcript_init(&c->tr);
	tls_buf_init(&c->hs, 0);
	c->params.version = 0x0304;
	c->params.peer_record_limit = 16385;
	return c;
}

/* Everything only the handshake needs; called when it ends either way. */
static void handshake_wipe(tls_conn *c)
{
	tls_transcript_free(&c->tr);
	tls_keysched_clear(&c->ks);
	free(c->sign_sig); /* a signature supplied but never written */
	c->sign_sig = NULL;
	for (size_t i = 0; i < c->n_kex; i++)
		tls_kex_clear(&c->kex[i]);
	c->n_kex = 0;
	OPENSSL_cleanse(c->c_hs, sizeof(c->c_hs));
	OPENSSL_cleanse(c->s_hs, sizeof(c->s_hs));
	OPENSSL_cleanse(c->fin_hash, sizeof(c->fin_hash));
	OPENSSL_cleanse(c->c_early, sizeof(c->c_early));
	OPENSSL_cleanse(c->psk, sizeof(c->psk));
	OPENSSL_cleanse(c->pending_rx, sizeof(c->pending_rx));
	tls_session_free(c->sess);
	c->sess = NULL;
	if (c->early)
		OPENSSL_cleanse(c->early, c->early_len);
	free(c->early);
	c->early = NULL;
	free(c->psk_identity);
	c->psk_identity = NULL;
	free(c->hrr_cookie);
	c->hrr_cookie = NULL;
	free(c->ch_shares);
	c->ch_shares = NULL;
#ifdef TLS_TEST_HOOKS
	tls_test_hooks_free(c);
#endif
}

void tls_conn_free(tls_conn *c)
{
	if (!c)
		return;
	handshake_wipe(c);
	tls_traffic_key_clear(&c->rx);
	tls_traffic_key_clear(&c->tx);
	OPENSSL_cleanse(c->res_master, sizeof(c->res_master));
	OPENSSL_cleanse(c->exp_master, sizeof(c->exp_master));
	tls_buf_free(&c->hs);
	tls_chain_free(&c->peer_chain);
	free(c->server_name);
	free(c->alpn);
	free(c->alpn_offer);
	free(c->peer_ocsp);
	free(c->peer_sct);
	tls_config_free((tls_config *)c->cfg);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

void tls_conn_set_callbacks(tls_conn *c, const tls_callbacks *cb, void *ctx)
{
	if (cb)
		c->cb = *cb;
	else
		memset(&c->cb, 0, sizeof(c->cb));
	c->cb_ctx = ctx;
}

int tls_conn_set_server_name(tls_conn *c, const char *name)
{
	if (c->role != TLS_CLIENT || c->state != TLS_ST_CLI_START || !name || !*name ||
	    strlen(name) > 253)
		return -1;
	char *s = strdup(name);
	if (!s)
		return -1;
	free(c->server_name);
	c->server_name = s;
	return 0;
}

int tls_conn_set_alpn(tls_conn *c, const char *list)
{
	uint8_t *w;
	size_t len;
	if (c->role != TLS_CLIENT || c->state != TLS_ST_CLI_START || !list ||
	    tls_alpn_to_wire(list, &w, &len) != 0 || len > 0xfff0)
		return -1;
	free(c->alpn_offer);
	c->alpn_offer = w;
	c->alpn_offer_len = len;
	return 0;
}

void tls_out_begin(tls_conn *c, tls_buf *out)
{
	c->cur_out = out;
	c->out_start = out ? out->len : 0;
	c->n_marks = 0;
	tls_out_record(c);
}

void tls_out_record(tls_conn *c)
{
	c->rec_out_start = c->cur_out ? c->cur_out->len : 0;
	c->rec_tx_on = c->tx_on;
	c->rec_tx_epoch = c->tx_epoch;
	c->rec_tx_seq = c->tx.seq;
}

/* A failing record takes back what it wrote, as long as the peer can still
 * read an alert under the key we had before it (the same key, rewound to
 * its sequence number then, or no key). When the TX key moved on to a new
 * one, the output stays and the alert follows under the new key. */
static void roll_back(tls_conn *c, tls_buf *out)
{
	if (out != c->cur_out || out->err || out->len < c->rec_out_start)
		return;
	bool same_key = c->tx_on == c->rec_tx_on && c->tx_epoch == c->rec_tx_epoch;
	if (!same_key && c->rec_tx_on)
		return;
	if (out->len > c->rec_out_start)
		OPENSSL_cleanse(out->base + c->rec_out_start, out->len - c->rec_out_start);
	out->len = c->rec_out_start;
	if (same_key)
		c->tx.seq = c->rec_tx_seq;
	else
		c->tx_on = false; /* no key before this record: the alert goes in the clear */
	while (c->n_marks && c->marks[c->n_marks - 1].offset > out->len - c->out_start)
		c->n_marks--;
}

int tls_fail(tls_conn *c, tls_buf *out, int alert, const char *fmt, ...)
{
	if (c->state == TLS_ST_FAILED)
		return c->result;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	c->state = TLS_ST_FAILED;
	c->result = TLS_ERR_LOCAL(alert);
	if (out) {
		roll_back(c, out);
		uint8_t a[2] = { 2, (uint8_t)alert };
		/* close_notify is the one alert that is not fatal */
		if (alert == TLS_ALERT_CLOSE_NOTIFY)
			a[0] = 1;
		tls_rl_write(c, out, TLS_CT_ALERT, a, 2);
	}
	handshake_wipe(c);
	return c->result;
}

int tls_fail_peer(tls_conn *c, int alert)
{
	if (c->state == TLS_ST_FAILED)
		return c->result;
	snprintf(c->err, sizeof(c->err), "peer sent alert %s (%d)", tls_alert_name(alert), alert);
	c->state = TLS_ST_FAILED;
	c->result = TLS_ERR_PEER(alert);
	handshake_wipe(c);
	return c->result;
}

static void keylog(tls_conn *c, enum tls_dir dir, int epoch, const uint8_t *secret)
{
	if (!c->cfg->keylog || epoch < TLS_EPOCH_EARLY || epoch > TLS_EPOCH_APPLICATION)
		return;
	bool client_side = (dir == TLS_DIR_TX) == (c->role == TLS_CLIENT);
	const char *label = epoch == TLS_EPOCH_EARLY ? "CLIENT_EARLY_TRAFFIC_SECRET"
		: epoch == TLS_EPOCH_HANDSHAKE
		? (client_side ? "CLIENT_HANDSHAKE_TRAFFIC_SECRET" : "SERVER_HANDSHAKE_TRAFFIC_SECRET")
		: (client_side ? "CLIENT_TRAFFIC_SECRET_0" : "SERVER_TRAFFIC_SECRET_0");
	char line[64 + 2 * 32 + 2 * TLS_MAX_HASH + 4];
	int n = snprintf(line, sizeof(line), "%s ", label);
	for (int i = 0; i < 32; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", c->client_random[i]);
	line[n++] = ' ';
	for (size_t i = 0; i < c->cs->hash_len; i++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%02x", secret[i]);
	c->cfg->keylog(c->cfg->keylog_ctx, line);
	OPENSSL_cleanse(line, sizeof(line));
}

int tls_set_secret(tls_conn *c, enum tls_dir dir, int epoch, const uint8_t *secret)
{
	tls_traffic_key *k = dir == TLS_DIR_RX ? &c->rx : &c->tx;
	/* Re-keys the existing cipher context; application keys are keyed lazily
	 * on first use, so a daemon that only exports them to kTLS never pays. */
	if (tls_traffic_key_set(k, c->cs, secret, epoch >= TLS_EPOCH_APPLICATION) != 0)
		return -1;
	if (dir == TLS_DIR_RX) {
		c->rx_on = true;
		c->rx_epoch = epoch;
	} else {
		c->tx_on = true;
		c->tx_epoch = epoch;
		/* the mark says where in this call's output the new key starts;
		 * past TLS_MAX_OUT_EPOCHS the last one is moved (cannot happen in
		 * a handshake: at most early, handshake, application) */
		if (c->cur_out) {
			size_t i = c->n_marks < TLS_MAX_OUT_EPOCHS ? c->n_marks++ : c->n_marks - 1;
			c->marks[i].epoch = epoch;
			c->marks[i].offset = c->cur_out->len - c->out_start;
		}
	}
	if (epoch >= TLS_EPOCH_APPLICATION)
		memcpy(dir == TLS_DIR_RX ? c->rx_secret : c->tx_secret, secret, c->cs->hash_len);
	if (c->cb.secret)
		c->cb.secret(c->cb_ctx, dir, epoch, c->cs, secret, c->cs->hash_len);
	keylog(c, dir, epoch, secret);
	return 0;
}

int tls_make_random(tls_conn *c, uint8_t *out, size_t len)
{
	if (len < 32 || RAND_bytes(out, (int)len) != 1)
		return -1;
	if (c->t && c->t->random_set)
		memcpy(out, c->t->random, 32);
	return 0;
}

int tls_make_share(tls_conn *c, tls_kex *k, uint16_t group, tls_buf *pub)
{
#ifdef TLS_TEST_HOOKS
	for (size_t i = 0; c->t && i < TLS_MAX_SHARES; i++)
		if (c->t->kex[i].priv && c->t->kex[i].group == group)
			return tls_kex_set_private(k, group, c->t->kex[i].priv, c->t->kex[i].len, pub);
#endif
	return tls_kex_generate(k, group, pub);
}

int tls_conn_handshake(tls_conn *c, tls_buf *out, const uint8_t *in, size_t *in_len)
{
	static const uint8_t no_input[1];
	size_t avail = in && in_len ? *in_len : 0;
	size_t used = 0;
	int rc = 0;
	if (!in)
		in = no_input; /* the client's first call has no input; never offset NULL */
	if (in_len)
		*in_len = 0;
	tls_out_begin(c, out);
	if (c->state == TLS_ST_FAILED)
		return c->result;
	if (c->state == TLS_ST_DONE)
		return 0;
	if (c->state == TLS_ST_CLI_START) {
		rc = tls_client_start(c, out);
		if (rc)
			return rc;
	}
	if (tls_signing(c)) {
		/* no input while the signature is owed (signing.c) */
		rc = tls_sign_resume(c, out);
		if (rc)
			return rc;
	}
	while (c->state != TLS_ST_DONE) {
		size_t rec_len = 0;
		tls_out_record(c);
		rc = tls_rl_frame(c, out, in + used, avail - used, &rec_len);
		if (rc)
			break;
		rc = tls_rl_handshake_record(c, out, in + used, rec_len);
		used += rec_len;
		if (rc)
			break;
		if (tls_signing(c)) {
			rc = TLS_WANT_SIGNATURE; /* what came before the signature is in out */
			break;
		}
	}
	if (in_len)
		*in_len = used;
	if (rc == TLS_WANT_INPUT)
		return TLS_WANT_INPUT;
	if (rc && rc != TLS_WANT_SIGNATURE)
		return rc;
	if (out->err)
		return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR, "output buffer failed");
	return rc ? rc : c->state == TLS_ST_DONE ? 0 : TLS_WANT_INPUT;
}

bool tls_conn_handshake_done(const tls_conn *c)
{
	return c->state == TLS_ST_DONE;
}

void tls_handshake_complete(tls_conn *c)
{
	c->state = TLS_ST_DONE;
	c->params.cipher = c->cs;
	c->params.server_name = c->server_name;
	c->params.alpn = c->alpn;
	c->params.peer_chain = c->peer_chain.n ? &c->peer_chain : NULL;
	c->params.hrr = c->hrr;
	if (c->role == TLS_SERVER && c->params.early_data == TLS_EARLY_ACCEPTED)
		c->skip_early = 0;
	handshake_wipe(c);
}

const tls_params *tls_conn_params(const tls_conn *c)
{
	return &c->params;
}

int tls_conn_traffic(const tls_conn *c, enum tls_dir dir, uint8_t *secret, size_t *len,
		     uint64_t *seq)
{
	if (c->state != TLS_ST_DONE || !c->cs)
		return -1;
	const tls_traffic_key *k = dir == TLS_DIR_RX ? &c->rx : &c->tx;
	if (*len < c->cs->hash_len)
		return -1;
	memcpy(secret, dir == TLS_DIR_RX ? c->rx_secret : c->tx_secret, c->cs->hash_len);
	*len = c->cs->hash_len;
	if (seq)
		*seq = k->seq;
	return 0;
}

size_t tls_record_need(const uint8_t *in, size_t len)
{
	if (len < TLS_RECORD_HEADER)
		return TLS_RECORD_HEADER - len;
	tls_reader r = tls_reader_init(in, len);
	tls_read_bytes(&r, 3);
	size_t n = tls_read_u16(&r);
	if (n > TLS_MAX_CIPHERTEXT)
		return 0; /* over any limit: tls_rl_frame answers record_overflow */
	return len - TLS_RECORD_HEADER >= n ? 0 : n - (len - TLS_RECORD_HEADER);
}

size_t tls_conn_out_epochs(const tls_conn *c, struct tls_out_epoch *marks, size_t max)
{
	size_t n = c->n_marks < max ? c->n_marks : max;
	memcpy(marks, c->marks, n * sizeof(*marks));
	return c->n_marks;
}

int tls_conn_send_alert(tls_conn *c, tls_buf *out, int alert)
{
	tls_out_begin(c, out);
	if (c->state == TLS_ST_FAILED)
		return c->result;
	return tls_fail(c, out, alert, "closed with %s by the application",
			tls_alert_name(alert));
}

const char *tls_conn_error(const tls_conn *c)
{
	return c->err[0] ? c->err : "no error";
}

/* ---- helpers ---- */

int tls_dup_bytes(uint8_t **dst, size_t *dst_len, const uint8_t *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	if (!p)
		return -1;
	if (len)
		memcpy(p, src, len);
	free(*dst);
	*dst = p;
	*dst_len = len;
	return 0;
}

int tls_conn_set_session(tls_conn *c, const uint8_t *blob, size_t len)
{
	if (c->role != TLS_CLIENT || c->state != TLS_ST_CLI_START || !blob)
		return -1;
	tls_session *s = tls_session_decode(blob, len);
	const tls_cipher *cs = s ? tls_cipher_find(s->cipher) : NULL;
	bool hash_ok = false;
	for (size_t i = 0; cs && i < c->cfg->n_ciphers; i++) {
		const tls_cipher *o = tls_cipher_find(c->cfg->ciphers[i]);
		hash_ok = hash_ok || (o && o->hash_len == cs->hash_len);
	}
	if (!hash_ok || tls_session_expired(s, tls_config_now_ms(c->cfg))) {
		tls_session_free(s);
		return -1;
	}
	tls_session_free(c->sess);
	c->sess = s;
	return 0;
}

int tls_conn_set_early_data(tls_conn *c, const uint8_t *data, size_t len)
{
	if (c->role != TLS_CLIENT || c->state != TLS_ST_CLI_START || !len || len > UINT32_MAX)
		return -1;
	uint8_t *p = NULL;
	size_t n = 0;
	if (tls_dup_bytes(&p, &n, data, len))
		return -1;
	if (c->early)
		OPENSSL_cleanse(c->early, c->early_len);
	free(c->early);
	c->early = p;
	c->early_len = n;
	return 0;
}

bool tls_take_ext_override(tls_conn *c, uint8_t type, uint8_t **ext, size_t *len)
{
	struct tls_test_hooks *t = c->t;
	for (size_t i = 0; t && i < TLS_MAX_EXT_OVERRIDES; i++) {
		if (t->ext[i].ext && t->ext[i].type == type) {
			*ext = t->ext[i].ext;
			*len = t->ext[i].len;
			/* keep the queue in order */
			for (size_t j = i; j + 1 < TLS_MAX_EXT_OVERRIDES; j++)
				t->ext[j] = t->ext[j + 1];
			t->ext[TLS_MAX_EXT_OVERRIDES - 1].ext = NULL;
			t->ext[TLS_MAX_EXT_OVERRIDES - 1].type = 0;
			return true;
		}
	}
	return false;
}

void tls_engine_cleanup(void)
{
	tls_store_cleanup();
	tls_kex_cleanup();
	tls_keysched_cleanup();
	tls_cipher_cleanup();
}

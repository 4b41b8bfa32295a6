/* The connection object, the handshake driver (whole records in, flights
 * out, stop after the record that completes our side), traffic secrets and
 * their callbacks/keylog, and the test hooks. */
#include "tls/engine.h"

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
	c->cfg = cfg;
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
	for (size_t i = 0; i < TLS_MAX_SHARES; i++) {
		if (c->t_kex[i].priv)
			OPENSSL_cleanse(c->t_kex[i].priv, c->t_kex[i].len);
		free(c->t_kex[i].priv);
		c->t_kex[i].priv = NULL;
		c->t_kex[i].group = 0;
	}
	free(c->t_cookie);
	c->t_cookie = NULL;
	for (size_t i = 0; i < TLS_MAX_EXT_OVERRIDES; i++) {
		free(c->t_ext[i].ext);
		c->t_ext[i].ext = NULL;
		c->t_ext[i].type = 0;
	}
	if (c->t_ticket)
		tls_ticket_clear(c->t_ticket);
	free(c->t_ticket);
	c->t_ticket = NULL;
	free(c->t_ticket_id);
	c->t_ticket_id = NULL;
	c->t_ticket_id_len = 0;
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
	FILE *f = c->cfg->keylog;
	if (!f || epoch < TLS_EPOCH_EARLY || epoch > TLS_EPOCH_APPLICATION)
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
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, f);
	fflush(f);
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
	}
	if (epoch >= TLS_EPOCH_APPLICATION)
		memcpy(dir == TLS_DIR_RX ? c->rx_secret : c->tx_secret, secret, c->cs->hash_len);
	if (c->cb.secret)
		c->cb.secret(c->cb_ctx, dir, epoch, c->cs, secret, c->cs->hash_len);
	keylog(c, dir, epoch, secret);
	return 0;
}

int tls_make_random(tls_conn *c, uint8_t out[32])
{
	if (c->t_random_set) {
		memcpy(out, c->t_random, 32);
		return 0;
	}
	return RAND_bytes(out, 32) == 1 ? 0 : -1;
}

int tls_make_share(tls_conn *c, tls_kex *k, uint16_t group, tls_buf *pub)
{
	for (size_t i = 0; i < TLS_MAX_SHARES; i++)
		if (c->t_kex[i].priv && c->t_kex[i].group == group)
			return tls_kex_set_private(k, group, c->t_kex[i].priv, c->t_kex[i].len, pub);
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
	if (c->state == TLS_ST_FAILED)
		return c->result;
	if (c->state == TLS_ST_DONE)
		return 0;
	if (c->state == TLS_ST_CLI_START) {
		rc = tls_client_start(c, out);
		if (rc)
			return rc;
	}
	while (c->state != TLS_ST_DONE) {
		size_t rec_len = 0;
		rc = tls_rl_frame(c, out, in + used, avail - used, &rec_len);
		if (rc)
			break;
		rc = tls_rl_handshake_record(c, out, in + used, rec_len);
		used += rec_len;
		if (rc)
			break;
	}
	if (in_len)
		*in_len = used;
	if (rc == TLS_WANT_INPUT)
		return TLS_WANT_INPUT;
	if (rc)
		return rc;
	if (out->err)
		return tls_fail(c, NULL, TLS_ALERT_INTERNAL_ERROR, "output buffer failed");
	return c->state == TLS_ST_DONE ? 0 : TLS_WANT_INPUT;
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

const char *tls_conn_error(const tls_conn *c)
{
	return c->err[0] ? c->err : "no error";
}

/* ---- test hooks ---- */

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

int tls_conn_test_set_random(tls_conn *c, const uint8_t random[32])
{
	memcpy(c->t_random, random, 32);
	c->t_random_set = true;
	return 0;
}

int tls_conn_test_set_kex_private(tls_conn *c, uint16_t group, const uint8_t *priv, size_t len)
{
	if (!tls_group_supported(group) || len == 0)
		return -1;
	size_t slot = TLS_MAX_SHARES;
	for (size_t i = 0; i < TLS_MAX_SHARES; i++) {
		if (c->t_kex[i].priv && c->t_kex[i].group == group) {
			slot = i;
			break;
		}
		if (!c->t_kex[i].priv && slot == TLS_MAX_SHARES)
			slot = i;
	}
	if (slot == TLS_MAX_SHARES)
		return -1;
	c->t_kex[slot].group = group;
	return tls_dup_bytes(&c->t_kex[slot].priv, &c->t_kex[slot].len, priv, len);
}

int tls_conn_test_set_seq(tls_conn *c, enum tls_dir dir, uint64_t seq)
{
	tls_traffic_key *k = dir == TLS_DIR_RX ? &c->rx : &c->tx;
	if (c->state != TLS_ST_DONE || !k->cs)
		return -1;
	k->seq = seq;
	return 0;
}

int tls_conn_set_session(tls_conn *c, tls_session *s)
{
	const tls_cipher *cs = s ? tls_cipher_find(s->cipher) : NULL;
	bool hash_ok = false;
	for (size_t i = 0; cs && i < c->cfg->n_ciphers; i++) {
		const tls_cipher *o = tls_cipher_find(c->cfg->ciphers[i]);
		hash_ok = hash_ok || (o && o->hash_len == cs->hash_len);
	}
	if (c->role != TLS_CLIENT || c->state != TLS_ST_CLI_START || !cs || s->used ||
	    s->psk_len != cs->hash_len || !s->ticket_len || !hash_ok ||
	    tls_session_expired(s, tls_config_now_ms(c->cfg)))
		return -1;
	tls_session *d = tls_session_dup(s);
	if (!d)
		return -1;
	tls_session_free(c->sess);
	c->sess = d;
	s->used = true; /* §C.4: a ticket goes out once, so it cannot link connections */
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

int tls_conn_test_set_session_id(tls_conn *c, const uint8_t *id, size_t len)
{
	if (len > 32)
		return -1;
	memcpy(c->sid, id, len);
	c->sid_len = len;
	c->t_sid_set = true;
	return 0;
}

int tls_conn_test_set_hrr_cookie(tls_conn *c, const uint8_t *cookie, size_t len)
{
	if (c->role != TLS_SERVER || len == 0 || len > 0xfffd)
		return -1;
	return tls_dup_bytes(&c->t_cookie, &c->t_cookie_len, cookie, len);
}

int tls_conn_test_set_extensions(tls_conn *c, uint8_t hs_type, const uint8_t *ext, size_t len)
{
	if (len > 0xffff)
		return -1;
	for (size_t i = 0; i < TLS_MAX_EXT_OVERRIDES; i++) {
		if (!c->t_ext[i].ext) {
			c->t_ext[i].type = hs_type;
			return tls_dup_bytes(&c->t_ext[i].ext, &c->t_ext[i].len, ext, len);
		}
	}
	return -1;
}

int tls_conn_test_set_ticket(tls_conn *c, const uint8_t *id, size_t id_len,
			     const struct tls_ticket *t)
{
	const tls_cipher *cs = t ? tls_cipher_find(t->cipher) : NULL;
	if (c->role != TLS_SERVER || c->state != TLS_ST_SRV_WAIT_CH || !id || !id_len ||
	    id_len > 0xffff || !cs || t->psk_len != cs->hash_len || c->t_ticket)
		return -1;
	c->t_ticket = malloc(sizeof(*c->t_ticket));
	if (!c->t_ticket)
		return -1;
	*c->t_ticket = *t;
	if (tls_dup_bytes(&c->t_ticket_id, &c->t_ticket_id_len, id, id_len)) {
		tls_ticket_clear(c->t_ticket);
		free(c->t_ticket);
		c->t_ticket = NULL;
		return -1;
	}
	return 0;
}

bool tls_take_ext_override(tls_conn *c, uint8_t type, uint8_t **ext, size_t *len)
{
	for (size_t i = 0; i < TLS_MAX_EXT_OVERRIDES; i++) {
		if (c->t_ext[i].ext && c->t_ext[i].type == type) {
			*ext = c->t_ext[i].ext;
			*len = c->t_ext[i].len;
			/* keep the queue in order */
			for (size_t j = i; j + 1 < TLS_MAX_EXT_OVERRIDES; j++)
				c->t_ext[j] = c->t_ext[j + 1];
			c->t_ext[TLS_MAX_EXT_OVERRIDES - 1].ext = NULL;
			c->t_ext[TLS_MAX_EXT_OVERRIDES - 1].type = 0;
			return true;
		}
	}
	return false;
}

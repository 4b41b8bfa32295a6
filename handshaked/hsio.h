/* The TCP socket being handshaken, shared by both roles (session.c: the
 * server, ACCEPT; client.c: the client, CONNECT): record-exact reads,
 * whole flights, control records through kTLS, the deadline, kTLS
 * installation, and how a handshake ends (finish, fail, abort). A role
 * embeds a struct hsio and fills in a struct hsio_role with what differs.
 * Daemon-internal; see ../shared/DESIGN.md. */
#ifndef HANDSHAKED_HSIO_H
#define HANDSHAKED_HSIO_H

#include "daemon.h"

enum hsio_state {
	HSIO_READ,                 /* a recv is pending */
	HSIO_SEND,                 /* a flight (or the alert) is being sent */
	HSIO_SEND_RECORDS,         /* control records through kTLS (hsio_send_records) */
	HSIO_DRAIN,                /* our fatal alert is out: reading what the peer still sends */
	HSIO_DEAD,                 /* finished: waiting for pending ops */
};

struct hsio;

/* What a role does differently. done and release are required. */
struct hsio_role {
	const char *role;          /* logs: role=server|client */
	const char *via;           /* logs: via=handoff|upcall (who asked) */
	const char *peer_word;     /* FAILED texts: "the <peer_word> closed the connection" */
	/* The engine finished this side's handshake and its flight is out. */
	void (*done)(struct hsio *io);
	/* Optional: posts the read of the next need bytes (default:
	 * hsio_recv(io, need, 0)). */
	void (*next_read)(struct hsio *io, size_t need);
	/* Optional: a MSG_DONTWAIT read found nothing to read. */
	void (*idle)(struct hsio *io);
	/* Optional: hsio_send_records' buffer went out whole. */
	void (*records_sent)(struct hsio *io);
	/* Optional: tells the requester the handshake failed (default: a
	 * FAILED reply to the application); before the socket is closed. */
	void (*failed)(struct hsio *io, enum handoff_reason r, uint8_t alert, const char *text);
	/* Frees the role's own state and the struct around io (the shared
	 * parts are freed already). */
	void (*release)(struct hsio *io);
};

struct hsio {
	const struct hsio_role *role;
	struct loop *l;
	struct app *app;           /* NULL once the application is gone */
	struct hsio *next, *prev;  /* in app->handshakes */
	uint32_t id;               /* the request's */
	uint64_t t0;               /* stats_now_us() at the start: the latency histogram */
	int fd;                    /* the daemon's copy of the TCP socket */
	char peer[64];
	const char *name;          /* the client's server name for logs ("" -> "-"), NULL: none */
	tls_conn *conn;
	tls_config *cfg;           /* the config it started with (a reload swaps the daemon's) */
	tls_buf in, out;
	size_t sent;               /* of out, or of the records */
	int result;                /* the engine's last result */
	enum hsio_state state;
	unsigned pending;          /* ops in the ring */
	struct op rx_op, tx_op, tmo_op;
	struct __kernel_timespec deadline;
	const tls_buf *records;    /* hsio_send_records */
	const char *records_what;
	uint8_t records_type;
	struct msghdr rmsg;
	struct iovec riov;
	union {
		size_t align;      /* cmsghdr alignment (it ends in a flexible array) */
		char buf[32];      /* >= CMSG_SPACE(1) (not a constant for clang) */
	} rcmsg;
	char *fail_text;           /* HSIO_DRAIN: the FAILED reply waiting for the drain's end */
	enum handoff_reason fail_reason;
	uint8_t fail_alert;
	size_t drained;
	uint8_t ktls;              /* HANDOFF_KTLS_* installed */
	bool abort;                /* no reply: the application is gone */
	bool probing;              /* the pending recv is MSG_DONTWAIT */
	bool app_owns_tx;          /* the application writes the socket now: no more from us */
};

/* Takes conn and cfg (a reference), links io into a's handshakes (a NULL
 * a: the kernel's upcall, role->failed answers it), counts
 * it in l->inflight and arms the deadline; the role then starts reading
 * (hsio_recv) or writing (hsio_drive). */
void hsio_start(struct hsio *io, const struct hsio_role *role, struct loop *l, struct app *a, uint32_t id,
		int fd, uint32_t timeout_ms, const char *peer, tls_conn *conn, tls_config *cfg);
/* A completion of one of io's ops (loop.c). */
void hsio_on_op(struct hsio *io, enum op_kind kind, int res);

/* Reads the next need bytes into in; flags MSG_DONTWAIT makes it a probe
 * (role->idle on EAGAIN). */
void hsio_recv(struct hsio *io, size_t need, int flags);
/* Feeds in to the engine, then sends its output or goes on (hsio_next). */
void hsio_drive(struct hsio *io);
/* After the engine's output went out: done, failed, or the next read. */
void hsio_next(struct hsio *io);
/* Sends b (kept alive by the caller) as records of type ctype under the
 * kernel's TX key; role->records_sent when it is out, a KTLS failure
 * "<what>: <errno>" otherwise. */
void hsio_send_records(struct hsio *io, const tls_buf *b, uint8_t ctype, const char *what);

/* kTLS: each fails io (and returns -1) with what went wrong. TX also sets
 * the peer's record_size_limit. */
int hsio_ktls_tx(struct hsio *io, const tls_cipher *cs, const uint8_t *secret, uint64_t seq);
int hsio_ktls_rx(struct hsio *io, const tls_cipher *cs, const uint8_t *secret, uint64_t seq);
/* Both at the engine's application secrets and sequence numbers, and the
 * post-handshake object (*post: the caller frees it). */
int hsio_ktls_both(struct hsio *io, tls_post **post);

/* HANDOFF_EARLY_* for the engine's early data state. */
uint8_t hsio_early_state(const tls_params *p);
/* DONE's parameters after POST: server_name and peer_id (32 bytes) may
 * be NULL. */
void hsio_put_params(const struct hsio *io, tls_buf *m, const char *server_name, const uint8_t *peer_id,
		     uint8_t early);

/* Ends the handshake: cancels what is in the ring and closes the daemon's
 * copy of the socket (the application holds its own, or the connection
 * ends here); io is freed once nothing is pending. */
void hsio_finish(struct hsio *io);
/* Logs, replies FAILED (unless aborted), finishes. */
void hsio_fail(struct hsio *io, enum handoff_reason r, uint8_t alert, const char *text);
/* The engine's error as a FAILED reply (its alert, if any, went out). */
void hsio_engine_failed(struct hsio *io);
/* The application went away: finishes without a reply. */
void hsio_abort(struct hsio *io, const char *why);
/* Milliseconds since hsio_start, for the logs. */
double hsio_ms(const struct hsio *io);
/* For the logs: a group's name ("x25519"; "0x1234" when unnamed, in a
 * per-thread buffer) and HANDOFF_EARLY_*'s ("none", "accepted", "rejected"). */
const char *hsio_group_name(uint16_t group);
const char *hsio_early_name(uint8_t early);

#endif

/* The daemon's configuration: built-in defaults, then the INI file (-c),
 * then command-line flags, in that order; a SIGHUP does the same again.
 * Kept free of the loop so the unit test links it alone. */
#ifndef HANDSHAKED_CONFIG_H
#define HANDSHAKED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <handshake/tls.h>

#define CFG_MAX_CERTS 16
#define CFG_MAX_IDS 32
#define CFG_WHERE 300              /* "FILE:LINE" or "--cert" */

#define CFG_DEFAULT_MODE 0660
#define CFG_DEFAULT_DEADLINE_MS 10000
#define CFG_DEFAULT_MAX_INFLIGHT 1024
#define CFG_DEFAULT_MAX_PER_APP 256
#define CFG_MAX_LOOPS 64
#define CFG_DEFAULT_TICKETS 2
#define CFG_DEFAULT_LIFETIME 7200
#define CFG_DEFAULT_TICKET_CACHE 1024
#define CFG_MAX_KEYRINGS 16

struct cfg_cert {
	char *cert, *key;
	char where[CFG_WHERE];     /* where cert was given, for errors */
};

/* Preference lists for one role, most preferred first; n == 0: the
 * engine's default list. Parsed when read so errors carry FILE:LINE. */
#define CFG_MAX_PREFS 16
struct cfg_prefs {
	uint16_t ciphers[CFG_MAX_PREFS], groups[CFG_MAX_PREFS], sigalgs[CFG_MAX_PREFS];
	size_t n_ciphers, n_groups, n_sigalgs;
};

struct dconfig {
	char *file;                /* -c FILE, or NULL */
	char *handoff_path;        /* NULL only when handoff_off */
	char *control_path;        /* NULL: handoff_path + ".ctl" (config_load fills it) */
	char *metrics_listen;      /* [metrics] listen: "ADDR:PORT" or "unix:PATH"; NULL: off (metrics.h) */
	unsigned handoff_mode;
	uid_t allow_uid[CFG_MAX_IDS];
	size_t n_uid;              /* 0: the daemon's own uid and root */
	gid_t allow_gid[CFG_MAX_IDS];
	size_t n_gid;
	struct cfg_cert certs[CFG_MAX_CERTS];
	size_t n_certs;
	char *alpn;
	char *client_ca;
	enum tls_client_auth client_auth;
	struct cfg_prefs server_prefs; /* [server] ciphers, groups, signature_algorithms */
	struct cfg_prefs client_prefs; /* [client] ... for CONNECT */
	unsigned tickets;
	uint32_t ticket_lifetime;  /* seconds */
	char *ticket_key_file;
	uint32_t early_max;        /* 0-RTT bytes, 0: off */
	uint32_t deadline_ms;
	unsigned max_inflight;
	unsigned max_per_app;      /* in flight per handoff connection */
	unsigned loops;            /* threads, each with its own ring */
	size_t max_handshake;      /* 0: the engine's default */
	char *server_ca;           /* client role: CA file for servers; NULL: the system store */
	size_t ticket_cache;       /* client role: cached tickets (fixed at start) */
	int log_level;             /* enum log_level */
	/* the kernel's handshake upcall (upcall.c) */
	bool handoff_off;          /* [handoff] enabled = no: serve the kernel alone */
	bool upcall;               /* [upcall] enabled */
	char *tlshd_config;        /* [upcall] tlshd_config: tlshd's file, read after ours */
	char *keyrings[CFG_MAX_KEYRINGS]; /* [upcall] keyrings: linked at start (PSKs, certs) */
	size_t n_keyrings;         /* 0: .nvme, .nfs and .nfsd, as tlshd */
	char *upcall_ca;           /* [upcall] ca_file: verifies servers (client role); NULL: [client] ca_file */
	char *upcall_cert, *upcall_key; /* [upcall] cert, key: client certificate (x509 without keyring serials) */
	/* privileges (privs.c) and the sandbox (sandbox.c): fixed at start */
	char *user, *group;        /* [daemon] user, group: run as them once the sockets are bound */
	bool seccomp_off;          /* [daemon] seccomp = no (default yes) */
	bool check_only;           /* -t */
	bool help;                 /* --help */
};

/* Fills c from defaults, the file named by -c (if any) and the flags in
 * argv[1..argc). 0, or -1 with err holding "FILE:LINE: reason" (or
 * "FILE: reason", "--flag: reason"). c is usable for config_free either way. */
int config_load(struct dconfig *c, int argc, char **argv, char *err, size_t errlen);
void config_free(struct dconfig *c);
void config_usage(FILE *f);

/* Reads tlshd's GLib keyfile (ktls-utils' tlshd.conf(5)) into c, filling
 * only what c leaves unset (tlshd_conf.c); file "default" is the first of
 * /etc/tlshd/config and /etc/tlshd.conf that exists. Unknown keys and
 * ignored ones are logged as warnings. 0, or -1 with err "FILE:LINE: reason". */
int config_load_tlshd(struct dconfig *c, const char *file, char *err, size_t errlen);
/* Appends the keyring name[0..len) to c->keyrings unless it is there
 * already. 0, or -1 with err set (empty name, more than CFG_MAX_KEYRINGS). */
int config_add_keyring(struct dconfig *c, const char *name, size_t len, char *err, size_t errlen);

/* Sets p's non-empty lists on t (either role). 0, or -1 with err set. */
int config_apply_prefs(tls_config *t, const struct cfg_prefs *p, char *err, size_t errlen);

/* One frozen server tls_config from c: certificates loaded, tickets
 * sealed with ring (borrowed; NULL: the config's own), 0-RTT recorded by
 * ops/ctx (borrowed, ops->destroy must be NULL; NULL: the config's own).
 * NULL with err set on failure. */
tls_config *config_build_tls(const struct dconfig *c, tls_stek_ring *ring,
			     const struct tls_antireplay_ops *ops, void *ctx, char *err, size_t errlen);

#endif

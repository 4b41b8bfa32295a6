/* peer — the engine over TCP with userspace records, for interop tests.
 *
 *   peer server --listen ADDR:PORT --cert F --key F [--cert F --key F ...]
 *               [--alpn LIST] [--client-ca F] [--client-auth none|optional|require]
 *               [--echo] [--ciphers LIST] [--groups LIST] [--keylog F]
 *   peer client HOST:PORT [--servername N] [--ca F] [--alpn LIST]
 *               [--cert F --key F] [--ciphers LIST] [--groups LIST]
 *               [--keyupdate] [--keylog F]
 *
 * LISTs are comma-separated: ciphers by IANA name, groups as x25519,
 * secp256r1 (P-256), secp384r1 (P-384). See server.c and client.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "peer.h"

__attribute__((noreturn)) static void usage(void)
{
	fprintf(stderr,
		"usage: peer server --listen ADDR:PORT --cert F --key F [--cert F --key F ...]\n"
		"                   [--alpn LIST] [--client-ca F] [--client-auth none|optional|require]\n"
		"                   [--echo] [--ciphers LIST] [--groups LIST] [--keylog F]\n"
		"       peer client HOST:PORT [--servername N] [--ca F] [--alpn LIST] [--cert F --key F]\n"
		"                   [--ciphers LIST] [--groups LIST] [--keyupdate] [--keylog F]\n");
	exit(1);
}

static const struct name_id {
	const char *name;
	uint16_t id;
} cipher_names[] = {
	{ "TLS_AES_128_GCM_SHA256", TLS_AES_128_GCM_SHA256 },
	{ "TLS_AES_256_GCM_SHA384", TLS_AES_256_GCM_SHA384 },
	{ "TLS_CHACHA20_POLY1305_SHA256", TLS_CHACHA20_POLY1305_SHA256 },
	{ NULL, 0 },
}, group_names[] = {
	{ "x25519", TLS_GROUP_X25519 },
	{ "secp256r1", TLS_GROUP_SECP256R1 },
	{ "P-256", TLS_GROUP_SECP256R1 },
	{ "secp384r1", TLS_GROUP_SECP384R1 },
	{ "P-384", TLS_GROUP_SECP384R1 },
	{ NULL, 0 },
};

/* "a,b,c" -> ids; exits with a message on an unknown name. */
static size_t parse_list(const char *list, const struct name_id *names, uint16_t *ids, size_t max,
			 const char *what)
{
	size_t n = 0;
	const char *p = list;
	while (*p) {
		size_t len = strcspn(p, ",:");
		const struct name_id *e = names;
		while (e->name && !(strlen(e->name) == len && strncasecmp(e->name, p, len) == 0))
			e++;
		if (!e->name || n == max) {
			fprintf(stderr, "peer: unknown or too many %s in '%s'\n", what, list);
			exit(1);
		}
		ids[n++] = e->id;
		p += len + (p[len] != '\0');
	}
	return n;
}

static void check(int r, const char *what, const char *err)
{
	if (r != 0) {
		fprintf(stderr, "peer: %s: %s\n", what, err && *err ? err : "failed");
		exit(1);
	}
}

static tls_config *make_config(enum tls_role role, const struct peer_opts *o)
{
	tls_config *cfg = tls_config_new(role);
	char err[256] = "";
	uint16_t ids[16];

	if (!cfg)
		check(-1, "tls_config_new", NULL);
	if (o->n_cert != o->n_key)
		check(-1, "--cert and --key", "must come in pairs");
	for (size_t i = 0; i < o->n_cert; i++)
		check(tls_config_add_cert_files(cfg, o->cert[i], o->key[i], err, sizeof(err)),
		      o->cert[i], err);
	if (o->ca)
		check(tls_config_load_ca(cfg, o->ca, err, sizeof(err)), o->ca, err);
	if (o->alpn)
		check(tls_config_set_alpn(cfg, o->alpn), "--alpn", "bad list");
	if (o->ciphers)
		check(tls_config_set_ciphers(cfg, ids, parse_list(o->ciphers, cipher_names, ids, 16, "ciphers")),
		      "--ciphers", NULL);
	if (o->groups)
		check(tls_config_set_groups(cfg, ids, parse_list(o->groups, group_names, ids, 16, "groups")),
		      "--groups", NULL);
	if (role == TLS_SERVER)
		tls_config_set_client_auth(cfg, o->client_auth);
	if (o->keylog) {
		FILE *f = fopen(o->keylog, "a");
		if (!f) {
			perror(o->keylog);
			exit(1);
		}
		setvbuf(f, NULL, _IOLBF, 0);
		tls_config_set_keylog(cfg, f);  /* lives as long as the process */
	}
	return cfg;
}

/* If argv[*i] is `name`, returns its value and steps over it. */
static const char *opt(int argc, char **argv, int *i, const char *name)
{
	if (strcmp(argv[*i], name) != 0)
		return NULL;
	if (*i + 1 >= argc)
		usage();
	return argv[++*i];
}

int main(int argc, char **argv)
{
	struct peer_opts o = { 0 };
	bool server;

	if (argc < 2)
		usage();
	server = strcmp(argv[1], "server") == 0;
	if (!server && strcmp(argv[1], "client") != 0)
		usage();
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v;
		if (!server && a[0] != '-' && !o.addr)
			o.addr = a;
		else if (server && (v = opt(argc, argv, &i, "--listen")))
			o.addr = v;
		else if ((v = opt(argc, argv, &i, "--cert")) && o.n_cert < PEER_MAX_CERTS)
			o.cert[o.n_cert++] = v;
		else if ((v = opt(argc, argv, &i, "--key")) && o.n_key < PEER_MAX_CERTS)
			o.key[o.n_key++] = v;
		else if ((v = opt(argc, argv, &i, "--alpn")))
			o.alpn = v;
		else if ((v = opt(argc, argv, &i, "--ciphers")))
			o.ciphers = v;
		else if ((v = opt(argc, argv, &i, "--groups")))
			o.groups = v;
		else if ((v = opt(argc, argv, &i, "--keylog")))
			o.keylog = v;
		else if ((v = opt(argc, argv, &i, server ? "--client-ca" : "--ca")))
			o.ca = v;
		else if (server && (v = opt(argc, argv, &i, "--client-auth")))
			o.client_auth = strcmp(v, "require") == 0    ? TLS_CLIENT_AUTH_REQUIRE
					: strcmp(v, "optional") == 0 ? TLS_CLIENT_AUTH_OPTIONAL
					: strcmp(v, "none") == 0     ? TLS_CLIENT_AUTH_NONE
								     : (usage(), 0);
		else if (server && strcmp(a, "--echo") == 0)
			o.echo = true;
		else if (!server && (v = opt(argc, argv, &i, "--servername")))
			o.servername = v;
		else if (!server && strcmp(a, "--keyupdate") == 0)
			o.keyupdate = true;
		else
			usage();
	}
	if (!o.addr || (server && o.n_cert == 0))
		usage();
	/* A peer that vanishes must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	tls_config *cfg = make_config(server ? TLS_SERVER : TLS_CLIENT, &o);
	int r = server ? peer_server(&o, cfg) : peer_client(&o, cfg);
	tls_config_free(cfg);
	return r;
}

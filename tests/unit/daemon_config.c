/* handshaked's configuration (handshaked/config.c): the INI file read
 * with libinih, flags over the file, and errors that say FILE:LINE. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../handshaked/config.h"
#include "test.h"
#include "tls/engine.h"

static char dir[] = "/tmp/daemon-config.XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(text, f);
	fclose(f);
	return path;
}

/* config_load over a NULL-terminated argv; err gets the message. */
static int load(struct dconfig *c, char *err, size_t len, const char *const *args)
{
	char *argv[32] = { "handshaked" };
	int argc = 1;

	while (args[argc - 1])
		argv[argc] = (char *)args[argc - 1], argc++;
	err[0] = 0;
	return config_load(c, argc, argv, err, len);
}

#define LOAD(c, err, ...) load(c, err, sizeof(err), (const char *const[]){ __VA_ARGS__, NULL })

static void expect_error(const char *text, const char *want, const char *what)
{
	struct dconfig c;
	char err[600], path[300];

	snprintf(path, sizeof(path), "%s", write_file("bad.conf", text));
	int r = LOAD(&c, err, "-c", path);
	test_ok(r == -1 && strstr(err, want) != NULL, "%s: '%s'", what, err);
	config_free(&c);
}

static bool ids_are(const uint16_t *ids, size_t n, const uint16_t *want, size_t n_want)
{
	return n == n_want && memcmp(ids, want, n * sizeof(*ids)) == 0;
}
#define IDS(ids, n, ...) \
	ids_are(ids, n, (const uint16_t[]){ __VA_ARGS__ }, sizeof((const uint16_t[]){ __VA_ARGS__ }) / 2)

/* [server] and [client] ciphers, groups, signature_algorithms. */
static void test_prefs(void)
{
	struct dconfig c;
	char err[600], path[300], want[400];
	tls_config *t;

	snprintf(path, sizeof(path), "%s",
		 write_file("prefs.conf",
			    "[handoff]\npath = /s\n"
			    "[server]\ncert = a\nkey = b\n"
			    "groups = x25519, P-256 ,secp384r1:secp521r1,x448,ffdhe2048,ffdhe3072,ffdhe4096\n"
			    "ciphers = TLS_AES_128_CCM_SHA256,tls_aes_256_gcm_sha384,TLS_AES_128_GCM_SHA256,"
			    "TLS_CHACHA20_POLY1305_SHA256\n"
			    "signature_algorithms = rsa_pss_rsae_sha512,ecdsa_secp256r1_sha256,ed25519\n"
			    "[client]\ngroups = secp384r1\nciphers = TLS_AES_256_GCM_SHA384\n"
			    "signature_algorithms = rsa_pss_pss_sha256,ecdsa_secp384r1_sha384\n"));
	test_ok(LOAD(&c, err, "-c", path) == 0, "preference lists load (%s)", err);
	test_ok(IDS(c.server_prefs.groups, c.server_prefs.n_groups, TLS_GROUP_X25519, TLS_GROUP_SECP256R1,
		    TLS_GROUP_SECP384R1, TLS_GROUP_SECP521R1, TLS_GROUP_X448, TLS_GROUP_FFDHE2048,
		    TLS_GROUP_FFDHE3072, TLS_GROUP_FFDHE4096),
		"[server] groups: all eight in order; blanks, ':' and the P-256 alias taken");
	test_ok(IDS(c.server_prefs.ciphers, c.server_prefs.n_ciphers, TLS_AES_128_CCM_SHA256,
		    TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256),
		"[server] ciphers: the four, CCM first, case ignored");
	test_ok(IDS(c.server_prefs.sigalgs, c.server_prefs.n_sigalgs, TLS_SIG_RSA_PSS_RSAE_SHA512,
		    TLS_SIG_ECDSA_SECP256R1_SHA256, TLS_SIG_ED25519),
		"[server] signature_algorithms in order");
	test_ok(IDS(c.client_prefs.groups, c.client_prefs.n_groups, TLS_GROUP_SECP384R1) &&
			IDS(c.client_prefs.ciphers, c.client_prefs.n_ciphers, TLS_AES_256_GCM_SHA384) &&
			IDS(c.client_prefs.sigalgs, c.client_prefs.n_sigalgs, TLS_SIG_RSA_PSS_PSS_SHA256,
			    TLS_SIG_ECDSA_SECP384R1_SHA384),
		"[client] lists are the client role's, apart from the server's");

	/* the engine gets them; empty lists keep the engine's defaults */
	t = tls_config_new(TLS_SERVER);
	test_ok(t && config_apply_prefs(t, &c.server_prefs, err, sizeof(err)) == 0 &&
			IDS(t->groups, t->n_groups, TLS_GROUP_X25519, TLS_GROUP_SECP256R1, TLS_GROUP_SECP384R1,
			    TLS_GROUP_SECP521R1, TLS_GROUP_X448, TLS_GROUP_FFDHE2048, TLS_GROUP_FFDHE3072,
			    TLS_GROUP_FFDHE4096) &&
			IDS(t->ciphers, t->n_ciphers, TLS_AES_128_CCM_SHA256, TLS_AES_256_GCM_SHA384,
			    TLS_AES_128_GCM_SHA256, TLS_CHACHA20_POLY1305_SHA256) &&
			IDS(t->sigalgs, t->n_sigalgs, TLS_SIG_RSA_PSS_RSAE_SHA512, TLS_SIG_ECDSA_SECP256R1_SHA256,
			    TLS_SIG_ED25519),
		"config_apply_prefs sets the server's lists on the engine config (%s)", err);
	tls_config_free(t);
	config_free(&c);

	/* flags replace the file's lists, each only its own */
	test_ok(LOAD(&c, err, "-c", path, "--groups", "ffdhe3072", "--client-ciphers",
		     "TLS_CHACHA20_POLY1305_SHA256,TLS_AES_128_GCM_SHA256", "--sigalgs=ed25519") == 0,
		"list flags with the file (%s)", err);
	test_ok(IDS(c.server_prefs.groups, c.server_prefs.n_groups, TLS_GROUP_FFDHE3072) &&
			IDS(c.server_prefs.sigalgs, c.server_prefs.n_sigalgs, TLS_SIG_ED25519) &&
			c.server_prefs.n_ciphers == 4,
		"--groups and --sigalgs replace [server] groups / signature_algorithms, ciphers stay");
	test_ok(IDS(c.client_prefs.ciphers, c.client_prefs.n_ciphers, TLS_CHACHA20_POLY1305_SHA256,
		    TLS_AES_128_GCM_SHA256) &&
			IDS(c.client_prefs.groups, c.client_prefs.n_groups, TLS_GROUP_SECP384R1),
		"--client-ciphers replaces [client] ciphers, [client] groups stay");
	config_free(&c);
	test_ok(LOAD(&c, err, "-c", path, "--client-groups", "x448", "--client-sigalgs", "ed25519",
		     "--ciphers", "TLS_AES_128_GCM_SHA256") == 0 &&
			IDS(c.client_prefs.groups, c.client_prefs.n_groups, TLS_GROUP_X448) &&
			IDS(c.client_prefs.sigalgs, c.client_prefs.n_sigalgs, TLS_SIG_ED25519) &&
			IDS(c.server_prefs.ciphers, c.server_prefs.n_ciphers, TLS_AES_128_GCM_SHA256),
		"--client-groups, --client-sigalgs, --ciphers (%s)", err);
	config_free(&c);

	/* without the keys: the engine's defaults */
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b") == 0 && !c.server_prefs.n_groups &&
			!c.server_prefs.n_ciphers && !c.server_prefs.n_sigalgs && !c.client_prefs.n_groups,
		"no lists configured: all empty (engine defaults)");
	t = tls_config_new(TLS_CLIENT);
	test_ok(t && config_apply_prefs(t, &c.client_prefs, err, sizeof(err)) == 0 && t->n_ciphers == 3 &&
			t->n_groups == 4 && t->ciphers[0] == TLS_AES_128_GCM_SHA256 &&
			t->groups[0] == TLS_GROUP_X25519MLKEM768,
		"empty lists leave the engine's default lists");
	tls_config_free(t);
	config_free(&c);

	/* bad lists: FILE:LINE: reason, in either section */
	expect_error("[handoff]\npath = /s\n[server]\ngroups = x25519,foo\n", "bad.conf:4: unknown group 'foo'",
		     "unknown group");
	expect_error("[server]\n\n\nciphers = TLS_AES_128_GCM_SHA256,TLS_AES_128_GCM_SHA384\n",
		     "bad.conf:4: unknown cipher 'TLS_AES_128_GCM_SHA384'", "unknown cipher");
	snprintf(want, sizeof(want), "bad.conf:2: cipher 'TLS_AES_128_CCM_8_SHA256' refused: %s",
		 tls_cipher_refusal(TLS_AES_128_CCM_8_SHA256));
	expect_error("[server]\nciphers = TLS_AES_128_CCM_8_SHA256\n", want, "CCM_8 refused with the engine's reason");
	expect_error("[server]\nsignature_algorithms = ecdsa_secp256r1_sha256,rsa_pkcs1_sha256\n",
		     "bad.conf:2: signature algorithm 'rsa_pkcs1_sha256' refused: RSASSA-PKCS1-v1_5",
		     "rsa_pkcs1 refused for handshakes");
	expect_error("[server]\nsignature_algorithms = ed448\n", "bad.conf:2: unknown signature algorithm 'ed448'",
		     "unknown signature algorithm");
	expect_error("[server]\ngroups = x25519,secp256r1,X25519\n", "bad.conf:2: duplicate group 'X25519'",
		     "duplicate group");
	expect_error("[server]\ngroups = P-384,secp384r1\n", "bad.conf:2: duplicate group 'secp384r1'",
		     "duplicate through an alias");
	expect_error("[server]\nciphers =\n", "bad.conf:2: empty list", "empty list");
	expect_error("[server]\ngroups = x25519,,x448\n", "bad.conf:2: empty group name", "empty name in a list");
	expect_error("[server]\ngroups = x25519,\n", "bad.conf:2: empty group name", "trailing comma");
	expect_error("[handoff]\npath = /s\n[client]\nticket_cache = 5\ngroups = x25519 x448\n",
		     "bad.conf:5: unknown group 'x25519 x448'", "[client] groups: names need a separator");
	expect_error("[client]\nsignature_algorithms = rsa_pss_rsae_sha256:nope\n",
		     "bad.conf:2: unknown signature algorithm 'nope'", "[client] signature_algorithms");
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b", "--groups", "foo") == -1 &&
			strcmp(err, "--groups: unknown group 'foo'") == 0,
		"a bad --groups: '%s'", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b", "--client-ciphers", "") == -1 &&
			strstr(err, "--client-ciphers: empty list"),
		"an empty --client-ciphers: '%s'", err);
	config_free(&c);
	unlink(write_file("prefs.conf", ""));
}

/* config_load with stderr (the warnings) captured into out. */
static int load_captured(struct dconfig *c, char *err, size_t len, const char *const *args, char *out,
			 size_t outlen)
{
	char path[300];
	int saved, fd, r;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/stderr", dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (saved < 0 || fd < 0 || dup2(fd, 2) < 0)
		abort();
	close(fd);
	r = load(c, err, len, args);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	if (!(f = fopen(path, "r")))
		abort();
	n = fread(out, 1, outlen - 1, f);
	out[n] = 0;
	fclose(f);
	unlink(path);
	return r;
}
#define LOAD_CAPTURED(c, err, out, ...) \
	load_captured(c, err, sizeof(err), (const char *const[]){ __VA_ARGS__, NULL }, out, sizeof(out))

/* path gets dir/name holding text. */
static void file_at(char *path, size_t len, const char *name, const char *text)
{
	snprintf(path, len, "%s", write_file(name, text));
}

static bool keyrings_are(const struct dconfig *c, const char *const *want, size_t n)
{
	if (c->n_keyrings != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(c->keyrings[i], want[i]) != 0)
			return false;
	return true;
}
#define KEYRINGS(c, ...) \
	keyrings_are(c, (const char *const[]){ __VA_ARGS__ }, sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(char *))

/* A tlshd file with one bad setting: config_load fails with want. */
static void expect_tlshd_error(const char *text, const char *want, const char *what)
{
	struct dconfig c;
	char err[600], path[300];

	file_at(path, sizeof(path), "bad-tlshd.conf", text);
	int r = LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b", "--tlshd-config", path);
	test_ok(r == -1 && strstr(err, want) != NULL, "tlshd: %s: '%s'", what, err);
	config_free(&c);
}

/* [handoff] enabled, [upcall], the flags for them. */
static void test_upcall_settings(void)
{
	struct dconfig c;
	char err[600], path[300], many[400];

	file_at(path, sizeof(path), "upcall.conf",
		"[handoff]\nenabled = no\n[control]\npath = /run/hs.ctl\n"
		"[upcall]\nenabled = yes\nkeyrings = .nvme; my ring\n"
		"keyrings = other;.nvme\nca_file = /ca.pem\ncert = /c.pem\nkey = /c.key\n");
	test_ok(LOAD(&c, err, "-c", path) == 0, "upcall alone: no handoff path, no certificate needed (%s)", err);
	test_ok(c.handoff_off && c.upcall && !c.handoff_path && !c.n_certs &&
			strcmp(c.control_path, "/run/hs.ctl") == 0,
		"[handoff] enabled = no, [upcall] enabled = yes");
	test_ok(KEYRINGS(&c, ".nvme", "my ring", "other"),
		"keyrings: ';' lists, given twice, blanks trimmed, a name given again kept once");
	test_ok(c.upcall_ca && strcmp(c.upcall_ca, "/ca.pem") == 0 && c.upcall_cert &&
			strcmp(c.upcall_cert, "/c.pem") == 0 && c.upcall_key && strcmp(c.upcall_key, "/c.key") == 0,
		"[upcall] ca_file, cert, key");
	config_free(&c);

	/* defaults: handoff on, upcall off */
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b") == 0 && !c.handoff_off && !c.upcall &&
			!c.n_keyrings && !c.tlshd_config,
		"defaults: handoff on, upcall off, no keyrings (%s)", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b", "--upcall") == 0 && c.upcall &&
			!c.handoff_off && c.control_path && strcmp(c.control_path, "/s.ctl") == 0,
		"--upcall turns the upcall on, the handoff stays (%s)", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--no-handoff", "--upcall", "--control", "/c") == 0 && c.handoff_off && c.upcall &&
			!c.handoff_path,
		"--no-handoff --upcall --control: the kernel alone, no certificate needed (%s)", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--no-handoff", "--upcall") == -1 &&
			strstr(err, "handshaked: no control socket: with the handoff off, set [control] path"),
		"--no-handoff without a control path: '%s'", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--no-handoff", "--upcall", "--handoff", "/s") == 0 && c.control_path &&
			strcmp(c.control_path, "/s.ctl") == 0,
		"handoff off with a path: the control socket is still named after it (%s)", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--no-handoff") == -1 && strstr(err, "handshaked: nothing to serve: "),
		"--no-handoff alone: '%s'", err);
	config_free(&c);
	expect_error("[handoff]\nenabled = no\n", "bad.conf: nothing to serve", "handoff off, upcall off");
	expect_error("[handoff]\nenabled = no\n[upcall]\nenabled = no\n", "bad.conf: nothing to serve",
		     "both off");
	file_at(path, sizeof(path), "upcall.conf", "[upcall]\nenabled = yes\n[handoff]\nenabled = no\n");
	test_ok(LOAD(&c, err, "-c", path, "--handoff", "/s") == 0 && c.handoff_off,
		"--handoff PATH does not turn a handoff that the file turned off back on (%s)", err);
	config_free(&c);
	file_at(path, sizeof(path), "upcall.conf", "[upcall]\nenabled = no\n[handoff]\nenabled = no\n");
	test_ok(LOAD(&c, err, "-c", path, "--upcall", "--control", "/c") == 0 && c.upcall,
		"--upcall wins over enabled = no (%s)", err);
	config_free(&c);
	expect_error("[upcall]\nenabled = maybe\n", "bad.conf:2: enabled: 'maybe' is not yes or no", "bad bool");
	expect_error("[handoff]\nenabled = 1\n", "bad.conf:2: enabled: '1' is not yes or no", "bad bool (handoff)");
	expect_error("[upcall]\nkeyrings = a;;b\n", "bad.conf:2: keyrings: empty keyring name", "empty keyring");
	expect_error("[upcall]\nkeyrings = a;\n", "bad.conf:2: keyrings: empty keyring name", "trailing ';' (ours)");
	expect_error("[upcall]\ntlshd_config =\n", "bad.conf:2: tlshd_config: empty", "empty tlshd_config");
	expect_error("[handoff]\npath = /s\n[server]\ncert = a\nkey = b\n[upcall]\ncert = /c.pem\n",
		     "bad.conf: [upcall] cert and key go together", "upcall cert without key");
	expect_error("[handoff]\npath = /s\n[server]\ncert = a\nkey = b\n[upcall]\nkey = /c.key\n",
		     "bad.conf: [upcall] cert and key go together", "upcall key without cert");
	/* at most CFG_MAX_KEYRINGS, each line adds */
	snprintf(many, sizeof(many), "[upcall]\nkeyrings = k1;k2;k3;k4;k5;k6;k7;k8\nkeyrings = k9;k10;k11;k12;k13;k14;"
		 "k15;k16\nkeyrings = k1;k16\n");
	file_at(path, sizeof(path), "upcall.conf", many);
	test_ok(LOAD(&c, err, "-c", path, "--handoff", "/s", "--cert", "a", "--key", "b") == 0 && c.n_keyrings == 16,
		"16 keyrings fit (names given again do not count) (%s)", err);
	config_free(&c);
	strcat(many, "keyrings = k17\n");
	expect_error(many, "bad.conf:5: keyrings: more than 16 keyrings", "17 keyrings");
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b", "--upcall=yes") == -1 &&
			strstr(err, "--upcall: unknown option"),
		"--upcall takes no value: '%s'", err);
	config_free(&c);
}

/* tlshd's file (tlshd_conf.c): each mapping, precedence, errors, warnings. */
static void test_tlshd(void)
{
	struct dconfig c;
	char err[600], path[300], ours[300], out[4096], want[400], longpath[400], text[1200];

	file_at(path, sizeof(path), "tlshd.conf",
		"# tlshd.conf(5)\n"                                            /* 1 */
		"[debug]\nloglevel=1\ntls = 9\nnl=0\ndelay_done = 2\n"         /* 2-6 */
		"\n[authenticate]\n  keyrings= k1;k2 ;\n"                      /* 7-9 */
		"[authenticate.client]\n"                                      /* 10 */
		"x509.truststore = /etc/tlshd/ca.pem  \n"                      /* 11 */
		"\tx509.certificate=/etc/tlshd/client.pem\n"                   /* 12 */
		"x509.private_key = /etc/tlshd/client\\skey.pem\n"             /* 13 */
		"[authenticate.server]\r\n"                                    /* 14 */
		"x509.truststore=/etc/tlshd/clients-ca.pem\r\n"                /* 15 */
		"x509.certificate = /etc/tlshd/srv.pem ; not a comment\n"      /* 16 */
		"x509.private_key = /etc/tlshd/srv.key\n"                      /* 17 */
		"x509.crl =\n");                                               /* 18 */
	/* every mapping, with nothing of ours in the way */
	test_ok(LOAD_CAPTURED(&c, err, out, "--handoff", "/s", "--tlshd-config", path) == 0,
		"tlshd file maps (%s)", err);
	test_ok(c.upcall && c.tlshd_config && strcmp(c.tlshd_config, path) == 0,
		"--tlshd-config names the file and turns the upcall on");
	test_ok(c.upcall_ca && strcmp(c.upcall_ca, "/etc/tlshd/ca.pem") == 0,
		"[authenticate.client] x509.truststore -> upcall_ca (trailing blanks trimmed)");
	test_ok(c.upcall_cert && strcmp(c.upcall_cert, "/etc/tlshd/client.pem") == 0 && c.upcall_key &&
			strcmp(c.upcall_key, "/etc/tlshd/client key.pem") == 0,
		"client x509.certificate/private_key -> upcall_cert/key (indented key, \\s escape) ('%s')",
		c.upcall_key ? c.upcall_key : "");
	snprintf(want, sizeof(want), "%s:16", path);
	test_ok(c.n_certs == 1 && strcmp(c.certs[0].cert, "/etc/tlshd/srv.pem ; not a comment") == 0 &&
			strcmp(c.certs[0].key, "/etc/tlshd/srv.key") == 0 && strcmp(c.certs[0].where, want) == 0,
		"server x509.certificate/private_key -> a certificate at FILE:LINE; ';' is no comment (%s)",
		c.n_certs ? c.certs[0].where : "none");
	test_ok(c.client_ca && strcmp(c.client_ca, "/etc/tlshd/clients-ca.pem") == 0 &&
			c.client_auth == TLS_CLIENT_AUTH_OPTIONAL,
		"server x509.truststore -> client_ca, client_auth optional (CRLF lines)");
	test_ok(KEYRINGS(&c, ".nvme", ".nfs", ".nfsd", "k1", "k2"),
		"[authenticate] keyrings: trailing ';', blanks; tlshd's three always linked");
	test_ok(c.log_level == 2, "loglevel 1: our level stays info");
	test_ok(!strstr(out, "warn"), "nothing to warn about (empty x509.crl is no list): '%s'", out);
	config_free(&c);

	/* ours (file, then flags) wins where both set something */
	file_at(ours, sizeof(ours), "ours.conf",
		"[handoff]\npath = /s\n[server]\ncert = mine.pem\nkey = mine.key\nclient_ca = myca.pem\n"
		"client_auth = require\n[upcall]\nca_file = /myca.pem\ncert = /my.pem\nkey = /my.key\n"
		"keyrings = mine\n[log]\nlevel = warn\n");
	test_ok(LOAD(&c, err, "-c", ours, "--tlshd-config", path) == 0, "ours and tlshd's (%s)", err);
	test_ok(strcmp(c.upcall_ca, "/myca.pem") == 0 && strcmp(c.upcall_cert, "/my.pem") == 0 &&
			strcmp(c.upcall_key, "/my.key") == 0,
		"[upcall] ca_file, cert, key win over tlshd's client settings");
	test_ok(c.n_certs == 1 && strcmp(c.certs[0].cert, "mine.pem") == 0, "[server] cert wins: tlshd's is not added");
	test_ok(strcmp(c.client_ca, "myca.pem") == 0 && c.client_auth == TLS_CLIENT_AUTH_REQUIRE,
		"[server] client_ca and client_auth require win");
	test_ok(KEYRINGS(&c, "mine", "k1", "k2"), "tlshd's keyrings appended to ours (no default three)");
	test_ok(c.log_level == 1, "[log] level warn wins over loglevel");
	config_free(&c);
	test_ok(LOAD(&c, err, "-c", ours, "--tlshd-config", path, "--cert", "flag.pem", "--key", "flag.key",
		     "--client-auth", "none") == 0 &&
			c.n_certs == 1 && strcmp(c.certs[0].cert, "flag.pem") == 0 &&
			c.client_auth == TLS_CLIENT_AUTH_OPTIONAL && strcmp(c.client_ca, "myca.pem") == 0,
		"--cert wins; client_auth none is still raised to optional, with our CA (%s)", err);
	config_free(&c);

	/* [upcall] tlshd_config in our file: read, but the upcall stays as enabled says */
	snprintf(text, sizeof(text), "[handoff]\npath = /s\n[upcall]\ntlshd_config = %s\n", path);
	file_at(ours, sizeof(ours), "ours.conf", text);
	test_ok(LOAD(&c, err, "-c", ours) == 0 && !c.upcall && c.n_certs == 1 && c.upcall_ca,
		"[upcall] tlshd_config is read; the upcall stays off without enabled = yes (%s)", err);
	config_free(&c);

	/* warnings, not errors: what tlshd ignores or handshaked cannot use */
	file_at(path, sizeof(path), "tlshd.conf",
		"[main]\ndebug=1\n[debug]\nloglevel = lots\nverbose = 1\n"
		"[authenticate.client]\nx509.pq.certificate = /pq.pem\nx509.pq.private_key = /pq.key\n"
		"x509.certificate[de] = /x\n[authenticate]\nkeyrings = a;;b\n");
	test_ok(LOAD_CAPTURED(&c, err, out, "--handoff", "/s", "--cert", "a", "--key", "b", "--tlshd-config", path) ==
			0,
		"unknown group and keys, pq certificates: no error (%s)", err);
	/* logfmt lines (log.h): event=config_ignored file=F line=N ... */
	snprintf(want, sizeof(want), "<4>handshaked: event=config_ignored file=%s line=1 section=main "
		 "text=\"unknown group ignored\"\n", path);
	test_ok(strstr(out, want) != NULL, "warning: unknown group");
	snprintf(want, sizeof(want), "event=config_ignored file=%s line=5 section=debug key=verbose ", path);
	test_ok(strstr(out, want) != NULL, "warning: unknown key");
	snprintf(want, sizeof(want), "event=config_ignored file=%s line=4 value=lots text=\"loglevel is not a number", path);
	test_ok(strstr(out, want) != NULL, "warning: loglevel not a number");
	snprintf(want, sizeof(want), "event=config_ignored file=%s line=7 key=x509.pq.certificate ", path);
	test_ok(strstr(out, want) != NULL && strstr(out, "key=x509.pq.private_key "), "warning: pq ignored");
	test_ok(strstr(out, "key=x509.certificate[de] text=\"unknown key ignored\"") != NULL &&
			!strstr(out, "key=debug "),
		"warning: a localized key; keys of an unknown group are not listed one by one");
	snprintf(want, sizeof(want), "event=config_ignored file=%s line=11 text=\"keyrings: empty name ignored\"", path);
	test_ok(strstr(out, want) != NULL && KEYRINGS(&c, ".nvme", ".nfs", ".nfsd", "a", "b"),
		"warning: an empty keyring name in tlshd's list");
	config_free(&c);

	/* errors */
	expect_tlshd_error("[authenticate.server]\nx509.truststore = /ca\n\nx509.crl = /etc/tlshd/crl.pem\n",
			   "bad-tlshd.conf:4: x509.crl: certificate revocation lists are not supported by handshaked",
			   "server crl");
	expect_tlshd_error("[authenticate.client]\nx509.crl=/crl\n", "bad-tlshd.conf:2: x509.crl: certificate revocation",
			   "client crl");
	expect_tlshd_error("[authenticate.client]\nx509.certificate = /c\nx509.private_key = pkcs11:token=t;pin-value=1234\n",
			   "bad-tlshd.conf:3: x509.private_key: a 'pkcs11:' URL", "pkcs11 key");
	file_at(path, sizeof(path), "bad-tlshd.conf",
		"[authenticate.client]\nx509.certificate = /c\nx509.private_key = pkcs11:token=t;pin-value=1234\n");
	test_ok(LOAD(&c, err, "--no-handoff", "--control", "/c", "--tlshd-config", path) == -1 && !strstr(err, "1234"),
		"the URL's PIN is not in the error");
	config_free(&c);
	expect_tlshd_error("[authenticate.server]\nx509.certificate = file:///etc/srv.pem\nx509.private_key = /k\n",
			   "bad-tlshd.conf:2: x509.certificate: a 'file:' URL", "file:// certificate");
	expect_tlshd_error("[authenticate.server]\nx509.truststore = tpmkey:uuid=1\n",
			   "bad-tlshd.conf:2: x509.truststore: a 'tpmkey:' URL", "URL truststore");
	expect_tlshd_error("[authenticate.client]\nx509.certificate = /c\n",
			   "bad-tlshd.conf:2: [authenticate.client] needs both x509.certificate and x509.private_key",
			   "client cert without key");
	expect_tlshd_error("[authenticate.server]\nx509.private_key = /k\n",
			   "bad-tlshd.conf:2: [authenticate.server] needs both", "server key without cert");
	expect_tlshd_error("[debug]\nloglevel=1\nthis is not a setting\n", "bad-tlshd.conf:3: syntax error",
			   "syntax error");
	expect_tlshd_error("# comment\nloglevel=1\n", "bad-tlshd.conf:2: syntax error: key before the first [group]",
			   "key before a group");
	expect_tlshd_error("[debug\n", "bad-tlshd.conf:1: syntax error", "unclosed group");
	expect_tlshd_error("[]\n", "bad-tlshd.conf:1: syntax error: invalid group name", "empty group");
	expect_tlshd_error("[debug] x\n", "bad-tlshd.conf:1: syntax error", "text after a group");
	expect_tlshd_error("[debug]\n=1\n", "bad-tlshd.conf:2: syntax error", "no key name");
	expect_tlshd_error("[authenticate.client]\nx509.truststore = /a\\qb\n",
			   "bad-tlshd.conf:2: x509.truststore: invalid escape", "invalid escape");
	expect_tlshd_error("[authenticate]\nkeyrings = a;b\\\n", "bad-tlshd.conf:2: keyrings: invalid escape",
			   "escape at the end of a list");
	test_ok(LOAD(&c, err, "--no-handoff", "--control", "/c", "--tlshd-config", "/nonexistent/tlshd.conf") == -1 &&
			strstr(err, "/nonexistent/tlshd.conf: No such file"),
		"missing tlshd file: '%s'", err);
	config_free(&c);
	if (access("/etc/tlshd/config", F_OK) != 0 && access("/etc/tlshd.conf", F_OK) != 0) {
		test_ok(LOAD(&c, err, "--no-handoff", "--control", "/c", "--tlshd-config", "default") == -1 &&
				strstr(err, "tlshd_config default: neither /etc/tlshd/config nor /etc/tlshd.conf exists"),
			"tlshd_config default with neither file: '%s'", err);
		config_free(&c);
	} else {               /* the machine's own tlshd file: "default" reads it */
		int r = LOAD(&c, err, "--no-handoff", "--control", "/c", "--tlshd-config", "default");
		test_ok(r == 0 || strstr(err, "/etc/tlshd"), "tlshd_config default reads this machine's tlshd file (%s)",
			r == 0 ? "loaded" : err);
		config_free(&c);
	}

	/* tlshd's keyrings count against CFG_MAX_KEYRINGS with the three it always links */
	file_at(path, sizeof(path), "tlshd.conf", "[authenticate]\nkeyrings = t1;t2;t3;t4;t5;t6;t7;t8;t9;t10;t11;t12;t13\n");
	test_ok(LOAD(&c, err, "--no-handoff", "--control", "/c", "--tlshd-config", path) == 0 && c.n_keyrings == 16,
		"13 of tlshd's keyrings and its three fit (%s)", err);
	config_free(&c);
	expect_tlshd_error("[debug]\n[authenticate]\nkeyrings = t1;t2;t3;t4;t5;t6;t7;t8;t9;t10;t11;t12;t13;t14;\n",
			   "bad-tlshd.conf:3: keyrings: more than 16 keyrings", "too many keyrings");

	/* no line length limit of libinih's: a 300-byte path */
	memset(longpath, 'p', sizeof(longpath));
	memcpy(longpath, "/etc/", 5);
	longpath[300] = 0;
	snprintf(text, sizeof(text), "[authenticate.client]\nx509.truststore = %s\n", longpath);
	file_at(path, sizeof(path), "tlshd.conf", text);
	test_ok(LOAD(&c, err, "--no-handoff", "--control", "/c", "--tlshd-config", path) == 0 && c.upcall_ca &&
			strlen(c.upcall_ca) == 300,
		"a 300-byte path (%s)", err);
	config_free(&c);
	unlink(write_file("tlshd.conf", ""));
	unlink(write_file("bad-tlshd.conf", ""));
	unlink(write_file("ours.conf", ""));
	unlink(write_file("upcall.conf", ""));
}

int main(void)
{
	struct dconfig c;
	char err[600], path[300], want[400];

	if (!mkdtemp(dir))
		return 1;

	/* a full file */
	snprintf(path, sizeof(path), "%s",
		 write_file("good.conf",
			    "# comment\n"
			    "[handoff]\npath = /run/handshaked.sock\nmode = 0600\nallow_uid = 0\nallow_uid = 1000\n"
			    "allow_gid = 27\n"
			    "[server]\ncert = a.pem\nkey = a.key\ncert = b.pem\nkey = b.key\nalpn = h2,http/1.1\n"
			    "client_ca = ca.pem\nclient_auth = optional\n"
			    "[tickets]\ncount = 3\nlifetime = 3600\nkey_file = /etc/k\n"
			    "[early_data]\nmax = 16384\n"
			    "[limits]\ndeadline_ms = 5000\nmax_inflight = 64\nmax_handshake = 65536\n"
			    "[log]\nlevel = debug\n"));
	test_ok(LOAD(&c, err, "-c", path) == 0, "good file loads (%s)", err);
	test_ok(c.handoff_path && strcmp(c.handoff_path, "/run/handshaked.sock") == 0, "path");
	test_ok(c.handoff_mode == 0600, "mode is octal");
	test_ok(c.n_uid == 2 && c.allow_uid[1] == 1000 && c.n_gid == 1 && c.allow_gid[0] == 27, "uids, gids");
	test_ok(c.n_certs == 2 && strcmp(c.certs[1].cert, "b.pem") == 0 && strcmp(c.certs[1].key, "b.key") == 0,
		"two certificates, each with its key");
	snprintf(want, sizeof(want), "%s:9", path);
	test_ok(strcmp(c.certs[0].where, want) == 0, "a certificate remembers its line (%s)", c.certs[0].where);
	test_ok(c.alpn && strcmp(c.alpn, "h2,http/1.1") == 0, "alpn");
	test_ok(c.client_auth == TLS_CLIENT_AUTH_OPTIONAL && c.client_ca, "client auth");
	test_ok(c.tickets == 3 && c.ticket_lifetime == 3600 && c.ticket_key_file, "tickets");
	test_ok(c.early_max == 16384, "early data");
	test_ok(c.deadline_ms == 5000 && c.max_inflight == 64 && c.max_handshake == 65536, "limits");
	test_ok(c.log_level == 3, "log level");
	config_free(&c);

	/* flags override the file; a list flag replaces the file's list */
	test_ok(LOAD(&c, err, "--deadline-ms", "700", "-c", path, "--cert", "x.pem", "--key=x.key",
		     "--allow-uid", "5", "--tickets", "0") == 0,
		"flags with a file (%s)", err);
	test_ok(c.deadline_ms == 700 && c.tickets == 0, "flags win over the file");
	test_ok(c.n_certs == 1 && strcmp(c.certs[0].cert, "x.pem") == 0 && strcmp(c.certs[0].key, "x.key") == 0,
		"--cert replaces the file's certificates");
	test_ok(c.n_uid == 1 && c.allow_uid[0] == 5, "--allow-uid replaces the file's uids");
	test_ok(c.max_inflight == 64, "what no flag sets stays from the file");
	config_free(&c);

	/* flags alone, defaults */
	test_ok(LOAD(&c, err, "--handoff", "/tmp/s", "--cert", "a", "--key", "b", "-t") == 0, "flags only");
	test_ok(c.check_only && c.deadline_ms == CFG_DEFAULT_DEADLINE_MS && c.tickets == CFG_DEFAULT_TICKETS &&
			c.handoff_mode == CFG_DEFAULT_MODE && c.n_uid == 0 && !c.file,
		"defaults: deadline 10 s, 2 tickets, mode 0660");
	config_free(&c);

	/* errors from the file: FILE:LINE: reason */
	expect_error("[handoff]\npath = /s\n[server]\ncert = a\nkey = b\nbogus = 1\n", "bad.conf:6: unknown setting 'bogus' in [server]",
		     "unknown key");
	expect_error("[handoff]\npath = /s\n[nosuch]\nx = 1\n", "bad.conf:4: unknown setting 'x' in [nosuch]", "unknown section");
	expect_error("[handoff]\npath = /s\nnot a setting\n", "bad.conf:3: syntax error", "syntax error");
	expect_error("[limits]\ndeadline_ms = soon\n", "bad.conf:2: deadline_ms: 'soon' is not a number", "bad number");
	expect_error("[limits]\nmax_inflight = 0\n", "bad.conf:2: max_inflight", "out of range");
	expect_error("[handoff]\nmode = 0999\n", "bad.conf:2: mode (octal)", "mode not octal");
	expect_error("[server]\nkey = a.key\n", "bad.conf:2: key without a certificate", "key before cert");
	expect_error("[server]\nclient_auth = maybe\n", "bad.conf:2: client_auth", "client_auth value");
	expect_error("[log]\nlevel = loud\n", "bad.conf:2: log level", "log level");
	expect_error("[handoff]\nallow_uid = no-such-user-here\n", "bad.conf:2: allow_uid", "unknown user");
	expect_error("[limits]\nx = 1\n[limits]\ndeadline_ms = -5\n", "bad.conf:2:", "the first error is reported");
	/* [daemon]: who to run as, the seccomp filter (privs.c, sandbox.c) */
	snprintf(path, sizeof(path), "%s",
		 write_file("daemon.conf", "[handoff]\npath = /s\n[server]\ncert = a\nkey = b\n"
					   "[daemon]\nuser = root\ngroup = root\nseccomp = no\n"));
	test_ok(LOAD(&c, err, "-c", path) == 0 && c.user && strcmp(c.user, "root") == 0 && c.group &&
			strcmp(c.group, "root") == 0 && c.seccomp_off,
		"[daemon] user, group, seccomp = no (%s)", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b") == 0 && !c.user && !c.seccomp_off,
		"defaults: no user change, seccomp on");
	config_free(&c);
	test_ok(LOAD(&c, err, "-c", path, "--seccomp", "yes", "--user", "nobody") == 0 && !c.seccomp_off &&
			strcmp(c.user, "nobody") == 0,
		"--seccomp yes and --user over the file (%s)", err);
	config_free(&c);
	expect_error("[daemon]\nuser = no-such-user-here\n", "bad.conf:2: user: no user 'no-such-user-here'",
		     "[daemon] user that does not exist");
	expect_error("[daemon]\ngroup = no-such-group-here\n", "bad.conf:2: group: no group", "unknown group");
	expect_error("[daemon]\nseccomp = maybe\n", "bad.conf:2: seccomp: 'maybe' is not yes or no", "seccomp value");
	expect_error("[handoff]\npath = /s\n[server]\ncert = a\nkey = b\n[daemon]\ngroup = root\n",
		     "group (--group) needs [daemon] user", "group without user");
	{
		char big[600];
		memset(big, 'a', sizeof(big));
		memcpy(big, "[handoff]\npath = ", 17);
		big[sizeof(big) - 2] = '\n';
		big[sizeof(big) - 1] = 0;
		expect_error(big, "bad.conf:2: line longer than", "overlong line");
	}
	/* whole-config checks name the file */
	expect_error("[server]\ncert = a\nkey = b\n", "bad.conf: no handoff socket", "no path");
	expect_error("[handoff]\npath = /s\n", "bad.conf: no certificate", "no certificate");
	expect_error("[handoff]\npath = /s\n[server]\ncert = a\n", "bad.conf:4: certificate a has no key", "cert without key");
	expect_error("[handoff]\npath = /s\n[server]\ncert = a\nkey = b\nclient_auth = require\n",
		     "client_auth require needs client_ca", "client auth without CA");

	/* command-line errors */
	test_ok(LOAD(&c, err, "--nope", "1") == -1 && strstr(err, "--nope: unknown option"), "unknown flag: %s", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--handoff") == -1 && strstr(err, "--handoff: needs a value"), "flag without value: %s", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b", "--early-data", "lots") == -1 &&
			strstr(err, "--early-data: "),
		"bad flag value: %s", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--handoff", "/s", "--key", "b") == -1 && strstr(err, "--key without a certificate"),
		"--key first: %s", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "-c", "/nonexistent/handshaked.conf") == -1 &&
			strstr(err, "/nonexistent/handshaked.conf: No such file"),
		"missing file: %s", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--help") == 0 && c.help, "--help needs nothing else");
	config_free(&c);

	/* [metrics] listen: numeric ADDRESS:PORT or unix:PATH, checked when read */
	snprintf(path, sizeof(path), "%s", write_file("metrics.conf", "[handoff]\npath = /s\n[server]\ncert = a\n"
						   "key = b\n[metrics]\nlisten = 127.0.0.1:9470\n"));
	test_ok(LOAD(&c, err, "-c", path) == 0 && c.metrics_listen && strcmp(c.metrics_listen, "127.0.0.1:9470") == 0,
		"[metrics] listen = 127.0.0.1:9470 (%s)", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "-c", path, "--metrics", "unix:/run/handshaked/metrics.sock") == 0 &&
			strcmp(c.metrics_listen, "unix:/run/handshaked/metrics.sock") == 0,
		"--metrics unix:PATH overrides the file (%s)", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b", "--metrics", "[::1]:9470") == 0,
		"--metrics [::1]:9470 (%s)", err);
	config_free(&c);
	test_ok(LOAD(&c, err, "--handoff", "/s", "--cert", "a", "--key", "b") == 0 && !c.metrics_listen,
		"no metrics listener by default");
	config_free(&c);
	expect_error("[metrics]\nlisten = localhost:9470\n", "bad.conf:2: 'localhost:9470' is not ADDRESS:PORT",
		     "[metrics] listen: a name, not a number");
	expect_error("[metrics]\nlisten = 127.0.0.1\n", "bad.conf:2: '127.0.0.1' is not", "[metrics] listen: no port");
	expect_error("[metrics]\nlisten = 127.0.0.1:70000\n", "bad.conf:2:", "[metrics] listen: port out of range");
	expect_error("[metrics]\nlisten = unix:rel.sock\n", "bad.conf:2: 'unix:rel.sock': unix: needs an absolute path",
		     "[metrics] listen: a relative unix path");
	unlink(path);

	test_prefs();
	test_upcall_settings();
	test_tlshd();

	/* building the tls_config: a bad certificate names where it was given */
	snprintf(path, sizeof(path), "%s",
		 write_file("cert.conf", "[handoff]\npath = /s\n[server]\ncert = /nonexistent.pem\nkey = /nonexistent.key\n"));
	test_ok(LOAD(&c, err, "-c", path) == 0, "file with a missing certificate parses");
	tls_config *t = config_build_tls(&c, NULL, NULL, NULL, err, sizeof(err));
	snprintf(want, sizeof(want), "%s:4: certificate /nonexistent.pem", path);
	test_ok(!t && strstr(err, want), "missing certificate: %s", err);
	config_free(&c);

	unlink(write_file("bad.conf", ""));
	unlink(write_file("good.conf", ""));
	unlink(write_file("cert.conf", ""));
	rmdir(dir);
	return test_done();
}

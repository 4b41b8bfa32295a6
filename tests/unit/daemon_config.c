/* handshaked's configuration (handshaked/config.c): the INI file read
 * with libinih, flags over the file, and errors that say FILE:LINE. */
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

	test_prefs();

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

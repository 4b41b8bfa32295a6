#!/usr/bin/env bash
# A core dump of the running daemon holds no private key and no ticket key
# (handshaked/sandbox.c: libcrypto's secure heap, mlock'd and
# MADV_DONTDUMP, holds the keys; libcrypto's freed blocks are wiped; key
# files are read without stdio's buffer). On the host: no kTLS is needed.
#  1. the daemon starts with a P-256 and an RSA-2048 key and a ticket key
#     file; its secure heap is a mapping marked dd (not dumped)
#  2. two handshakes make it sign with each key (openssl s_client checks
#     the CertificateVerify; without kTLS the daemon then fails the
#     handshake, after the signature)
#  3. gcore takes a core of the running daemon (it leaves out what smaps
#     marks dd, as the kernel does)
#  4. controls, so the search can fail: the core holds both certificates'
#     DER and both public keys
#  5. the core holds none of: the P-256 private scalar, RSA's d, p, q, dP,
#     dQ, qInv, either key's PKCS#8 DER, any full line of the PEM files'
#     base64, the ticket keys
WAIT_SECONDS=${WAIT_SECONDS:-10}
. "$(dirname "$0")/lib.sh"
. "$ROOT/kselftest/lib/daemon.bash"
require gcore
require openssl
require python3
need_built handshaked

C=$CERTS
SOCK=$T/d.sock
STEK_ID=00112233445566778899aabbccddeeff
STEK_KEY=8d3c7a1e55f09b26c4e1d7a03b9f6e2c51a8d0f47e3b92c6d5a1f08e7c4b3d29
printf 'v1 %s %s %s\n' "$STEK_ID" "$STEK_KEY" "$(date +%s)" >"$T/stek"
chmod 600 "$T/stek"

# 1. the daemon, its secure heap
start_daemon "$SOCK" "$T/daemon.log" --cert "$C/p256.pem" --key "$C/p256.key" \
	--cert "$C/rsa2048.pem" --key "$C/rsa2048.key" --ticket-keys "$T/stek" ||
	{ ok 1 "handshaked starts"; finish; exit; }
ok 0 "handshaked starts with a P-256 and an RSA key and a ticket key file (pid $DPID)"
dd=$(awk '/^VmFlags:/ && / dd/ && (/ lo/ || / lf/)' /proc/"$DPID"/smaps | wc -l)
[ "$dd" -ge 1 ]
ok $? "a locked mapping marked dd (libcrypto's secure heap) in /proc/$DPID/smaps: $dd"

# 2. a signature with each key
python3 "$ROOT/kselftest/handoff-client.py" "$SOCK" any 2 >"$T/app.log" 2>&1 &
PIDS+=($!)
listening "$T/app.log" || { ok 1 "the application listens"; finish; exit; }
for s in ecdsa_secp256r1_sha256:ECDSA rsa_pss_rsae_sha256:RSA-PSS; do
	type=${s#*:} s=${s%:*}
	echo Q | timeout 20 openssl s_client -connect "127.0.0.1:$APORT" -sigalgs "$s" -CAfile "$C/ca.pem" \
		-verify_return_error -servername localhost >"$T/sc-$s.log" 2>&1
	grep -q '^Verification: OK' "$T/sc-$s.log" && grep -q "^Peer signature type: $type\$" "$T/sc-$s.log"
	st=$?
	ok $st "s_client -sigalgs $s: the daemon signed its CertificateVerify with that key"
	[ $st -eq 0 ] || diag "$T/sc-$s.log" "$T/daemon.log"
done

# 3. the core
gcore -o "$T/core" "$DPID" >"$T/gcore.log" 2>&1
CORE=$T/core.$DPID
[ -s "$CORE" ]
ok $? "gcore wrote a core of the running daemon ($(stat -c %s "$CORE" 2>/dev/null) bytes)"
[ -s "$CORE" ] || { diag "$T/gcore.log"; finish; exit; }

# 4-5. the search: one line "public|secret NAME found|absent" per value
python3 - "$CORE" "$C/p256" "$C/rsa2048" "$STEK_KEY" >"$T/search.log" 2>&1 <<'EOF'
import re, subprocess, sys

def run(*a):
    return subprocess.run(a, capture_output=True, check=True).stdout

def numbers(key):
    """The hex blocks of `openssl pkey -text`: name -> bytes (no leading zeros)."""
    out, name = {}, None
    for line in run('openssl', 'pkey', '-in', key, '-text', '-noout').decode().splitlines():
        m = re.match(r'^(\w[\w ]*):\s*(\S*)$', line)
        if m:
            name, out[m.group(1)] = m.group(1), m.group(2)
        elif name and line.startswith(' '):
            out[name] += line.strip()
    return {k: bytes.fromhex(v.replace(':', '')).lstrip(b'\0') for k, v in out.items()
            if re.fullmatch(r'[0-9a-f:]{32,}', v)}

core = open(sys.argv[1], 'rb').read()
found = lambda v: 'found' if v in core else 'absent'
for base in sys.argv[2:4]:
    name = base.rsplit('/', 1)[1]
    key = base + '.key'
    print('public', name, 'certificate DER', found(run('openssl', 'x509', '-in', base + '.pem', '-outform', 'DER')))
    for k, v in numbers(key).items():
        kind = 'public' if k in ('pub', 'modulus') else 'secret'
        print(kind, name, k, found(v))
    print('secret', name, 'PKCS#8 DER', found(run('openssl', 'pkey', '-in', key, '-outform', 'DER')))
    lines = [l for l in open(key).read().splitlines() if len(l) == 64]
    hits = sum(l.encode() in core for l in lines)
    print('secret', name, '%d PEM base64 lines' % len(lines), 'found' if hits else 'absent')
print('secret ticket key', found(bytes.fromhex(sys.argv[4])))
EOF
[ -s "$T/search.log" ] && ! grep -qvE '^(public|secret) .* (found|absent)$' "$T/search.log"
st=$?
ok $st "the core was searched ($(wc -l <"$T/search.log") values)"
[ $st -eq 0 ] || diag "$T/search.log"
while read -r kind what; do
	if [ "$kind" = public ]; then
		[[ $what == *" found" ]]
		ok $? "control: the core holds the ${what% found}"
	else
		[[ $what == *" absent" ]]
		ok $? "the core does not hold the ${what% *}"
	fi
done < <(grep -E '^(public|secret) ' "$T/search.log")
rm -f "$CORE"
finish

# Extracts every labelled hex field of RFC 8448 as one line:
#   section|step|role|heading|label|octets|hex
# (step counts "{role}  heading" lines inside a section). Page headers and
# footers are skipped; a field's octet count is checked against its hex.
# Used once to write tests/vectors/rfc8448_*.h; the build never runs it.
function flush() {
	if (label != "") {
		n = split(hex, a, " ")
		if (octets >= 0 && n != octets) {
			printf("extract: %s/%s/%s: %d octets, expected %d\n", sec, heading, label, n, octets) > "/dev/stderr"
			bad = 1
		}
		gsub(/ /, "", hex)
		print sec "|" step "|" role "|" heading "|" label "|" octets "|" hex
	}
	label = ""; hex = ""
}
{ gsub(/\f/, "") }
/^Thomson +Informational/ || /^RFC 8448 +TLS 1.3 Traces/ { next }
/^[0-9]+\.  / { flush(); sec = $1; sub(/\.$/, "", sec); step = 0; next }
/^   \{(client|server)\}  / {
	flush()
	step++
	role = $1; gsub(/[{}]/, "", role)
	heading = $0; sub(/^   \{(client|server)\}  /, "", heading); sub(/:$/, "", heading)
	next
}
/^      [^ ].*\([0-9]+ octets\): / {
	flush()
	label = $0; sub(/^ +/, "", label); sub(/ \(.*$/, "", label)
	octets = $0; sub(/^.*\(/, "", octets); sub(/ octets.*$/, "", octets); octets += 0
	rest = $0; sub(/^.*octets\): +/, "", rest)
	if (rest ~ /^\(empty\)/) rest = ""
	hex = rest
	next
}
/^   [a-z][a-z0-9 ()]*:  [0-9a-f][0-9a-f]( |$)/ {
	# section 2's key parts: "modulus (public):  b4 bb ..."
	flush()
	label = $0; sub(/^ +/, "", label); sub(/:  .*$/, "", label)
	rest = $0; sub(/^[^:]*:  /, "", rest)
	hex = rest; octets = -1
	next
}
label != "" && /^ +([0-9a-f][0-9a-f] )*[0-9a-f][0-9a-f] *$/ { line = $0; gsub(/^ +| +$/, "", line); hex = hex " " line; next }
/^ *$/ { next }
{ flush() }
END { flush(); exit bad }

// Known-answer vectors for ML-KEM-768 from @noble/post-quantum, an
// implementation independent of lib/tls/mlkem.c. tests/unit/mlkem reads the
// output (committed as mlkem768.txt; regenerate with tests/mlkem-crosscheck).
//
//   node gen.mjs [INDICES] [LABEL]   NODE_PATH or a node_modules nearby must
//                                    hold @noble/post-quantum
//
// INDICES: which seeds, e.g. "0-15,23,32" (the default: with this label,
// seeds 23 and 32 each need more than three SHAKE128 blocks for one matrix
// entry, so the committed set covers SampleNTT's longer-stream fallback).
//
// Seeds are SHAKE256("<label> <name> <i>"), so every run with the same label
// prints the same file. Each record: d, z (keygen seeds), m (encaps seed),
// ek, dk, ct, ss; then ct_bad (ct with one bit flipped) and ss_bad, noble's
// decapsulation of it: the implicit-rejection key J(z || ct_bad).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);
let modPath;
try {
	modPath = require.resolve('@noble/post-quantum/ml-kem.js',
		{ paths: [process.cwd(), ...(process.env.NODE_PATH || '').split(':').filter(Boolean)] });
} catch (e) {
	console.error('gen.mjs: @noble/post-quantum not found (npm install it, set NODE_PATH)');
	process.exit(2);
}
const { ml_kem768 } = await import(pathToFileURL(modPath).href);
const version = require(modPath.replace(/ml-kem\.js$/, 'package.json')).version;

const indices = (process.argv[2] || '0-15,23,32').split(',').flatMap((r) => {
	const [a, b] = r.split('-').map(Number);
	if (!Number.isInteger(a) || (b !== undefined && !(Number.isInteger(b) && b >= a)))
		throw new Error(`bad index range "${r}"`);
	return Array.from({ length: (b ?? a) - a + 1 }, (_, k) => a + k);
});
const label = process.argv[3] || 'handshaked mlkem768 kat';
const seed = (name, i) => new Uint8Array(
	createHash('shake256', { outputLength: 32 }).update(`${label} ${name} ${i}`).digest());
const hex = (b) => Buffer.from(b).toString('hex');

console.log(`# ML-KEM-768 vectors from @noble/post-quantum ${version}, label "${label}"`);
for (const i of indices) {
	const d = seed('d', i), z = seed('z', i), m = seed('m', i);
	const dz = new Uint8Array(64);
	dz.set(d);
	dz.set(z, 32);
	const { publicKey: ek, secretKey: dk } = ml_kem768.keygen(dz);
	const { cipherText: ct, sharedSecret: ss } = ml_kem768.encapsulate(ek, m);
	if (hex(ml_kem768.decapsulate(ct, dk)) !== hex(ss))
		throw new Error('noble round trip failed');
	const bad = Uint8Array.from(ct);
	const bit = (i * 7919) % (bad.length * 8);
	bad[bit >> 3] ^= 1 << (bit & 7);
	const ssBad = ml_kem768.decapsulate(bad, dk);
	console.log(`\ncount = ${i}`);
	for (const [k, v] of [['d', d], ['z', z], ['m', m], ['ek', ek], ['dk', dk], ['ct', ct],
		['ss', ss], ['ct_bad', bad], ['ss_bad', ssBad]])
		console.log(`${k} = ${hex(v)}`);
}

// Checks Web/burnlink-common.js, the format code of the create and fill pages, against
// independent implementations: envelopes it seals are decoded by the Python decoder of
// Tests/python/test_vectors.py (written from docs/format.md alone, PyNaCl underneath), its
// sealed boxes are opened by libsodium's crypto_box_seal_open (PyNaCl's SealedBox) and
// libsodium's open in JS, and its file-name rule is compared code point by code point
// with the Python one. Run with:  node --test Tests/js
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

// What the pages load before burnlink-common.js: tweetnacl (Debian's) and argon2id.js.
globalThis.nacl = require(process.env.BURNLINK_TWEETNACL_JS || "/usr/share/nodejs/tweetnacl/nacl-fast.js");
globalThis.burnlinkArgon2 = require(path.join(__dirname, "..", "..", "Web", "argon2id.js"));
const common = require(path.join(__dirname, "..", "..", "Web", "burnlink-common.js"));

const python = process.env.PYTHON || "python3";
const pythonDirectory = path.join(__dirname, "..", "python");
const hex = (bytes) => Buffer.from(bytes).toString("hex");
const fromHex = (text) => new Uint8Array(Buffer.from(text, "hex"));
const utf8 = new TextEncoder();

// Runs a Python snippet with Tests/python on its path; it reads JSON cases on stdin and
// prints JSON results.
function runPython(source, cases) {
  const output = execFileSync(python, ["-c", `import sys\nsys.path.insert(0, ${JSON.stringify(pythonDirectory)})\n${source}`], {
    input: JSON.stringify(cases),
    maxBuffer: 1 << 28,
  });
  return JSON.parse(output.toString("utf8"));
}

// ---- the envelope, decoded by the independent Python decoder ---------------------------

// Small Argon2id parameters: the unit test checks the construction, not the cost (the
// browser tests use the CLI's defaults).
const SMALL_KDF = { ops: 1, mem: 8192 };

async function makeSecret({ metadata, content, password }) {
  const passwordBytes = password === undefined ? null : common.passwordBytes(password);
  const keys = await common.newSecretKeys({ password: passwordBytes, kdf: SMALL_KDF });
  const sealed = await common.sealEnvelope({ linkKey: keys.linkKey, passwordKey: keys.passwordKey, metadata, content });
  const envelope = new Uint8Array(await sealed.blob.arrayBuffer());
  assert.equal(envelope.length, sealed.length, "the announced length is the envelope's");
  const contentBytes = content instanceof Uint8Array ? content : new Uint8Array(await content.arrayBuffer());
  return {
    envelope: hex(envelope),
    key: hex(keys.linkKey),
    password: password === undefined ? null : password,
    headers: keys.headers,
    expected: { kind: metadata.kind, name: metadata.name || null, size: metadata.size === undefined ? null : metadata.size, content: hex(contentBytes) },
  };
}

const decodeSource = `
import json, hashlib
import test_vectors as tv
out = []
for c in json.load(sys.stdin):
    env, K = bytes.fromhex(c["envelope"]), bytes.fromhex(c["key"])
    kdf = c["headers"].get("Burnlink-Password-KDF")
    try:
        meta, content, P = tv.decode(env, K, c["password"], kdf)
    except tv.FormatError as e:
        out.append({"error": e.code}); continue
    result = {"kind": meta["kind"], "name": meta["name"], "size": meta["size"], "content": content.hex(),
              "flags": env[10], "version": env[8], "chunk": env[9],
              "claim_verifier": tv.b64u_encode(hashlib.sha256(tv.claim_token(K)).digest())}
    if P:
        result["password_verifier"] = tv.b64u_encode(hashlib.sha256(tv.password_proof(K, P)).digest())
    out.append(result)
print(json.dumps(out))
`;

async function checkDecodes(secrets) {
  const decoded = runPython(decodeSource, secrets);
  assert.equal(decoded.length, secrets.length);
  secrets.forEach((secret, i) => {
    const got = decoded[i];
    const what = `case ${i} (${secret.expected.kind}, ${secret.expected.content.length / 2} bytes)`;
    assert.equal(got.error, undefined, `${what}: ${got.error}`);
    assert.equal(got.kind, secret.expected.kind, what);
    assert.equal(got.name, secret.expected.name, what);
    assert.equal(got.size, secret.expected.size, what);
    assert.equal(got.content, secret.expected.content, what);
    assert.equal(got.version, 1);
    assert.equal(got.chunk, 16);
    assert.equal(got.flags, secret.password === null ? 0 : 1, what);
    assert.equal(got.claim_verifier, secret.headers["Burnlink-Claim-Verifier"], `${what}: claim verifier`);
    if (secret.password !== null) {
      assert.equal(got.password_verifier, secret.headers["Burnlink-Password-Verifier"], `${what}: password verifier`);
      assert.match(secret.headers["Burnlink-Password-KDF"], /^argon2id13; ops=1; mem=8192; salt=[A-Za-z0-9_-]{22}$/);
    } else {
      assert.equal(secret.headers["Burnlink-Password-Verifier"], undefined);
      assert.equal(secret.headers["Burnlink-Password-KDF"], undefined);
    }
  });
}

function randomBlob(length) {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset += 65536) {
    globalThis.crypto.getRandomValues(bytes.subarray(offset, Math.min(length, offset + 65536)));
  }
  return new Blob([bytes]);
}

test("text envelopes decode with the Python decoder: empty, short, markup and unicode, several chunks", async () => {
  const texts = ["", "hunter2", "<script>alert(1)</script>\n  ünïcødé ☃ 🔥\r\n", "x".repeat(65536 - 4), "y".repeat(65536 - 3), "z".repeat(200_001)];
  const secrets = [];
  for (const text of texts) {
    secrets.push(await makeSecret({ metadata: { kind: "text" }, content: utf8.encode(text) }));
  }
  await checkDecodes(secrets);
});

test("file envelopes decode with the Python decoder: unicode names, chunk boundaries, read from a Blob", async () => {
  const secrets = [];
  const names = ["report.pdf", "Ünïcødé résumé ☃ 🇫🇷.txt", "رسالة\u200Cمهمة.bin", "👨\u200D👩\u200D👧.png", "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}.txt", "é".repeat(127) + "x"];
  for (const name of names) {
    const content = randomBlob(1000);
    secrets.push(await makeSecret({ metadata: { kind: "file", name, size: content.size }, content }));
  }
  // Stream lengths around the chunk boundaries (metadata of a 1-byte name is 13 bytes).
  const metadataLength = 13;
  for (const streamLength of [13, 65535, 65536, 65537, 2 * 65536, 3 * 65536 + 17, 1 << 20]) {
    const content = randomBlob(streamLength - metadataLength);
    secrets.push(await makeSecret({ metadata: { kind: "file", name: "a", size: content.size }, content }));
  }
  await checkDecodes(secrets);
});

test("password envelopes decode with the Python decoder (NFC password, Argon2id through libsodium)", async () => {
  const secrets = [
    await makeSecret({ metadata: { kind: "text" }, content: utf8.encode("behind a password"), password: "correct horse" }),
    // Decomposed here; the decoder normalises too, so both must reach the same P.
    await makeSecret({ metadata: { kind: "text" }, content: utf8.encode("café"), password: "Ca\u0301fe\u0301 au lait " }),
  ];
  const content = randomBlob(3 * 65536 + 5);
  secrets.push(await makeSecret({ metadata: { kind: "file", name: "secret ☃.bin", size: content.size }, content, password: "p" }));
  await checkDecodes(secrets);
});

test("a wrong password or a changed byte fails in the Python decoder", async () => {
  const secret = await makeSecret({ metadata: { kind: "text" }, content: utf8.encode("x"), password: "right" });
  const flipped = Buffer.from(secret.envelope, "hex");
  flipped[flipped.length - 1] ^= 1;
  const decoded = runPython(decodeSource, [
    { ...secret, password: "wrong" },
    { ...secret, envelope: flipped.toString("hex") },
  ]);
  assert.deepEqual(decoded, [{ error: "integrity" }, { error: "integrity" }]);
});

test("the page's own decoder opens what it sealed", async () => {
  const keys = await common.newSecretKeys({});
  const content = randomBlob(2 * 65536);
  const sealed = await common.sealEnvelope({ linkKey: keys.linkKey, metadata: { kind: "file", name: "x.bin", size: content.size }, content });
  const envelope = new Uint8Array(await sealed.blob.arrayBuffer());
  const header = common.checkHeader(envelope, false);
  const payloadKey = await common.hkdf(keys.linkKey, header, "burnlink v1 payload");
  const opened = common.openEnvelope(envelope, payloadKey);
  assert.equal(opened.name, "x.bin");
  assert.deepEqual(Buffer.concat(opened.parts.map((p) => Buffer.from(p))), Buffer.from(await content.arrayBuffer()));
});

test("passwords: NFC, 1 to 1024 bytes", () => {
  assert.equal(common.passwordBytes(""), null);
  assert.equal(common.passwordBytes("é".repeat(513)), null, "1026 bytes");
  assert.equal(common.passwordBytes("é".repeat(512)).length, 1024);
  assert.deepEqual(common.passwordBytes("e\u0301"), utf8.encode("\u00e9"));
  assert.deepEqual(common.passwordBytes(" a "), utf8.encode(" a "), "spaces are part of the password");
});

// ---- file names (format.md 3.2) -----------------------------------------------------

test("the refused file-name characters are exactly the Python decoder's, for every code point", () => {
  const expected = runPython(
    "import json, test_vectors as tv\n" +
      "json.load(sys.stdin)\n" +
      "print(json.dumps([c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and (chr(c) in '/\\\\' or c <= 0x1F or 0x7F <= c <= 0x9F or c in tv.INVISIBLE)]))",
    null
  );
  const actual = [];
  for (let c = 0; c < 0x110000; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    if (common.isForbiddenNameChar(c)) actual.push(c);
  }
  assert.deepEqual(actual, expected);
  // The three kinds of Cf names need stay allowed.
  for (const c of [0x200c, 0x200d, 0xe0020, 0xe007f]) assert.equal(common.isForbiddenNameChar(c), false);
});

test("file names the format refuses are refused before anything is sealed", async () => {
  const refused = [".", "..", "a/b", "a\\b", "tab\there", "nul\u0000", "del\u007f", "c1\u0085", "invoice\u202Efdp.exe",
    "zero\u200Bwidth", "bom\uFEFF", "soft\u00ADhyphen", "tag\u{E0001}", "lone\uD800surrogate", "é".repeat(128), ""];
  for (const name of refused) {
    assert.notEqual(common.fileNameProblem(name), null, JSON.stringify(name));
    await assert.rejects(
      common.sealEnvelope({ linkKey: new Uint8Array(32), metadata: { kind: "file", name, size: 1 }, content: new Uint8Array(1) }),
      (e) => e instanceof common.EnvelopeError && e.code === "invalid-metadata", JSON.stringify(name));
  }
  // A message names the character by its code point, never shows it.
  assert.match(common.fileNameProblem("invoice\u202Efdp.exe"), /U\+202E/);
  assert.doesNotMatch(common.fileNameProblem("invoice\u202Efdp.exe"), /\u202E/);
  for (const name of ["a", "...", ".hidden", "é".repeat(127) + "x", "رسالة\u200Cمهمة", "\u{1F3F4}\u{E0067}\u{E007F}"]) {
    assert.equal(common.fileNameProblem(name), null, JSON.stringify(name));
  }
});

// ---- requests: the fill token and the sealed link key (format.md 6) --------------------

test("fill and answer tokens match the Python HKDF of format.md 6.2", async () => {
  const pair = nacl.box.keyPair();
  const expected = runPython(
    "import json, test_vectors as tv\n" +
      "c = json.load(sys.stdin)\n" +
      "print(json.dumps([tv.hkdf(b'', bytes.fromhex(c['pk']), b'burnlink v1 request fill').hex(), tv.hkdf(b'', bytes.fromhex(c['sk']), b'burnlink v1 request answer').hex()]))",
    { pk: hex(pair.publicKey), sk: hex(pair.secretKey) }
  );
  assert.deepEqual([hex(await common.fillToken(pair.publicKey)), hex(await common.answerToken(pair.secretKey))], expected);
});

test("keys sealed in JS open with libsodium's crypto_box_seal_open, and the reverse", () => {
  const cases = [];
  for (let i = 0; i < 20; i++) {
    const pair = nacl.box.keyPair();
    const message = nacl.randomBytes(32);
    const sealed = common.sealToPublicKey(message, pair.publicKey);
    assert.equal(sealed.length, common.SEALED_KEY_LENGTH);
    cases.push({ sk: hex(pair.secretKey), pk: hex(pair.publicKey), sealed: hex(sealed), message: hex(message) });
  }
  const results = runPython(
    "import json\n" +
      "from nacl.public import PrivateKey, PublicKey, SealedBox\n" +
      "out = []\n" +
      "for c in json.load(sys.stdin):\n" +
      "    sk = PrivateKey(bytes.fromhex(c['sk']))\n" +
      "    assert bytes(sk.public_key).hex() == c['pk']\n" +
      "    opened = SealedBox(sk).decrypt(bytes.fromhex(c['sealed'])).hex()\n" +
      "    back = SealedBox(sk.public_key).encrypt(bytes.fromhex(c['message'])).hex()\n" +
      "    out.append({'opened': opened, 'back': back})\n" +
      "print(json.dumps(out))",
    cases
  );
  cases.forEach((c, i) => {
    assert.equal(results[i].opened, c.message, "libsodium opens the JS seal");
    const back = fromHex(results[i].back);
    assert.equal(back.length, 80);
    assert.equal(hex(common.openSealed(back, fromHex(c.pk), fromHex(c.sk))), c.message, "JS opens libsodium's seal");
    // Another key, or one changed byte, and it does not open.
    assert.equal(common.openSealed(back, fromHex(c.pk), nacl.box.keyPair().secretKey), null);
    back[40] ^= 1;
    assert.equal(common.openSealed(back, fromHex(c.pk), fromHex(c.sk)), null);
  });
});

test("two seals of one key differ (a fresh ephemeral key each time)", () => {
  const pair = nacl.box.keyPair();
  const message = nacl.randomBytes(32);
  const a = common.sealToPublicKey(message, pair.publicKey);
  const b = common.sealToPublicKey(message, pair.publicKey);
  assert.notEqual(hex(a.subarray(0, 32)), hex(b.subarray(0, 32)));
  assert.notEqual(hex(a), hex(b));
});

test("a low-order public key is refused instead of sealing to a key anyone knows", () => {
  // The all-zero point and a point of order 8 on Curve25519: X25519 with either gives zeros.
  const lowOrder = [
    new Uint8Array(32),
    fromHex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
  ];
  for (const pk of lowOrder) assert.equal(common.sealToPublicKey(nacl.randomBytes(32), pk), null, hex(pk));
  assert.equal(common.sealToPublicKey(nacl.randomBytes(32), new Uint8Array(31)), null, "wrong length");
});

test("base64url: canonical only, as the server and the CLI decode it", () => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (let i = 0; i < 50; i++) {
    const bytes = nacl.randomBytes(32);
    const text = common.b64uEncode(bytes);
    assert.equal(text, Buffer.from(bytes).toString("base64url"));
    assert.deepEqual(common.b64uDecode(text, 32), bytes);
    // The last of 43 characters carries 4 bits of the key and 2 unused bits, which must be zero.
    const index = alphabet.indexOf(text[42]);
    assert.equal(index & 3, 0);
    assert.equal(common.b64uDecode(text.slice(0, 42) + alphabet[index | 1], 32), null);
    assert.equal(common.b64uDecode(text + "=", 32), null);
    assert.equal(common.b64uDecode(text.slice(1), 32), null);
    assert.equal(common.b64uDecode("+" + text.slice(1), 32), null);
  }
});

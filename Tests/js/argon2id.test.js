// Checks Web/argon2id.js: BLAKE2b against RFC 7693 and two independent implementations
// (node's OpenSSL BLAKE2b-512, Python's hashlib.blake2b), Argon2id against the RFC 9106
// test vector and against libsodium's crypto_pwhash (through PyNaCl) for the parameters
// burnlink uses. Run with:  node --test Tests/js
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const crypto = require("node:crypto");
const path = require("node:path");
const { execFileSync } = require("node:child_process");

const { blake2b, argon2id } = require(path.join(__dirname, "..", "..", "Web", "argon2id.js"));

const hex = (bytes) => Buffer.from(bytes).toString("hex");
const fromHex = (text) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ""), "hex"));
const python = process.env.PYTHON || "python3";

// Runs a Python snippet that reads JSON cases on stdin and prints JSON results.
function runPython(source, cases) {
  const output = execFileSync(python, ["-c", source], { input: JSON.stringify(cases), maxBuffer: 1 << 26 });
  return JSON.parse(output.toString("utf8"));
}

test("BLAKE2b-512 of \"abc\" is the RFC 7693 appendix A value", () => {
  const expected =
    "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1" +
    "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923";
  assert.equal(hex(blake2b(new TextEncoder().encode("abc"), 64)), expected);
});

test("BLAKE2b-512 matches node's OpenSSL implementation for inputs of 0 to 600 bytes", () => {
  for (let length = 0; length <= 600; length++) {
    const input = crypto.randomBytes(length);
    const expected = crypto.createHash("blake2b512").update(input).digest("hex");
    assert.equal(hex(blake2b(new Uint8Array(input), 64)), expected, `input of ${length} bytes`);
  }
});

test("BLAKE2b of every output length, keyed and unkeyed, matches Python's hashlib", () => {
  const cases = [];
  for (let outLength = 1; outLength <= 64; outLength++) {
    for (const inLength of [0, 1, 127, 128, 129, 256, 1000 + outLength]) {
      const keyLength = (outLength * 7 + inLength) % 3 === 0 ? 0 : (outLength % 64) + 1;
      cases.push({
        input: crypto.randomBytes(inLength).toString("hex"),
        key: crypto.randomBytes(keyLength).toString("hex"),
        out: outLength,
      });
    }
  }
  const expected = runPython(
    "import hashlib, json, sys\n" +
      "cases = json.load(sys.stdin)\n" +
      "print(json.dumps([hashlib.blake2b(bytes.fromhex(c['input']), digest_size=c['out'], key=bytes.fromhex(c['key'])).hexdigest() for c in cases]))",
    cases
  );
  assert.equal(expected.length, cases.length);
  cases.forEach((c, i) => {
    const actual = hex(blake2b(fromHex(c.input), c.out, fromHex(c.key)));
    assert.equal(actual, expected[i], `out ${c.out}, input ${c.input.length / 2} bytes, key ${c.key.length / 2} bytes`);
  });
});

test("Argon2id matches the RFC 9106 section 5.3 test vector (4 lanes, secret and associated data)", async () => {
  const tag = await argon2id({
    password: new Uint8Array(32).fill(0x01),
    salt: new Uint8Array(16).fill(0x02),
    secret: new Uint8Array(8).fill(0x03),
    associatedData: new Uint8Array(12).fill(0x04),
    passes: 3,
    memoryKiB: 32,
    parallelism: 4,
    tagLength: 32,
  });
  assert.equal(hex(tag), "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
});

// libsodium's crypto_pwhash(..., crypto_pwhash_ALG_ARGON2ID13) as burnlink's PasswordKDF calls it.
const libsodiumSource =
  "import json, sys\n" +
  "from nacl.bindings import crypto_pwhash_alg, crypto_pwhash_ALG_ARGON2ID13\n" +
  "cases = json.load(sys.stdin)\n" +
  "print(json.dumps([crypto_pwhash_alg(32, bytes.fromhex(c['password']), bytes.fromhex(c['salt']), c['ops'], c['mem'], crypto_pwhash_ALG_ARGON2ID13).hex() for c in cases]))";

async function checkAgainstLibsodium(cases) {
  const expected = runPython(libsodiumSource, cases);
  assert.equal(expected.length, cases.length);
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const tag = await argon2id({
      password: fromHex(c.password),
      salt: fromHex(c.salt),
      passes: c.ops,
      memoryKiB: c.mem / 1024,
    });
    assert.equal(hex(tag), expected[i], `ops ${c.ops}, mem ${c.mem}, password ${c.password.length / 2} bytes`);
  }
}

test("Argon2id matches libsodium for small memory, every allowed ops value and odd block counts", async () => {
  const cases = [];
  // mem is a multiple of 1024 from libsodium's minimum 8192; odd KiB counts exercise the
  // rounding down to a multiple of 4 blocks.
  const memories = [8192, 9216, 13312, 65536, 140288];
  for (let ops = 1; ops <= 10; ops++) {
    const password = crypto.randomBytes(1 + ((ops * 37) % 60));
    cases.push({ password: password.toString("hex"), salt: crypto.randomBytes(16).toString("hex"), ops, mem: memories[ops % memories.length] });
  }
  // Password lengths at the limits of the format (1 and 1024 bytes), and an NFC UTF-8 one.
  cases.push({ password: "61", salt: crypto.randomBytes(16).toString("hex"), ops: 2, mem: 16384 });
  cases.push({ password: crypto.randomBytes(1024).toString("hex"), salt: crypto.randomBytes(16).toString("hex"), ops: 2, mem: 16384 });
  cases.push({ password: Buffer.from("pässwörd ☃".normalize("NFC")).toString("hex"), salt: crypto.randomBytes(16).toString("hex"), ops: 3, mem: 32768 });
  await checkAgainstLibsodium(cases);
});

test("Argon2id matches libsodium for burnlink's defaults (ops 3, 64 MiB)", async () => {
  const start = Date.now();
  await checkAgainstLibsodium([
    { password: Buffer.from("correct horse battery staple").toString("hex"), salt: crypto.randomBytes(16).toString("hex"), ops: 3, mem: 67108864 },
  ]);
  console.log(`# Argon2id ops=3 mem=64MiB in JavaScript: ${((Date.now() - start) / 1000).toFixed(1)} s (including libsodium)`);
});

test("Argon2id refuses parameters out of range instead of computing something else", async () => {
  const base = { password: new Uint8Array([1]), salt: new Uint8Array(16), passes: 1, memoryKiB: 8 };
  await assert.rejects(argon2id({ ...base, passes: 0 }), RangeError);
  await assert.rejects(argon2id({ ...base, memoryKiB: 7 }), RangeError);
  await assert.rejects(argon2id({ ...base, salt: new Uint8Array(7) }), RangeError);
});

test("BLAKE2b refuses output lengths outside 1 to 64 bytes", () => {
  assert.throws(() => blake2b(new Uint8Array(1), 0), RangeError);
  assert.throws(() => blake2b(new Uint8Array(1), 65), RangeError);
  assert.throws(() => blake2b(new Uint8Array(1), 32, new Uint8Array(65)), RangeError);
});

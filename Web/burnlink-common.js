// burnlink: the format of docs/format.md for the browser pages (reveal, create, fill).
//
// Everything here is plain computation: base64url, the key schedule (HKDF-SHA-256 from
// WebCrypto), the password KDF parameters, the inner metadata, the envelope (sealed with
// tweetnacl's secretbox, XSalsa20-Poly1305 as libsodium's crypto_secretbox_easy) and the
// sealed box of a request (format.md section 6.3). No DOM: the same file loads under node
// for Tests/js, where the tests put tweetnacl and argon2id.js on globalThis first.
//
// tweetnacl (globalThis.nacl) and argon2id.js (globalThis.burnlinkArgon2) are looked up
// when a function needs them, not when this file loads.
(function (root) {
  "use strict";

  const HEADER_LENGTH = 27;
  const MAGIC = [0x62, 0x75, 0x72, 0x6e, 0x6c, 0x69, 0x6e, 0x6b]; // "burnlink"
  const CHUNK = 65536;
  const TAG = 16;
  const SEALED_CHUNK = CHUNK + TAG;
  const PASSWORD_FLAG = 0x01;
  /** The CLI's Argon2id defaults (format.md 2.1). */
  const DEFAULT_KDF = Object.freeze({ ops: 3, mem: 67108864 });
  /** A sealed link key: epk (32) || tag (16) || encrypted K (32). */
  const SEALED_KEY_LENGTH = 80;

  const utf8 = new TextEncoder();
  const nacl = () => globalThis.nacl;
  const argon2 = () => globalThis.burnlinkArgon2;

  // ---- base64url without padding, strict (format.md: one encoding per value) ----

  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  function b64uEncode(bytes) {
    let out = "";
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
      out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63] + ALPHABET[(n >>> 6) & 63] + ALPHABET[n & 63];
    }
    const rest = bytes.length - i;
    if (rest === 1) {
      const n = bytes[i] << 16;
      out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63];
    } else if (rest === 2) {
      const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
      out += ALPHABET[n >>> 18] + ALPHABET[(n >>> 12) & 63] + ALPHABET[(n >>> 6) & 63];
    }
    return out;
  }

  /** Decodes exactly `count` bytes, or returns null (wrong length, alphabet, or non-canonical). */
  function b64uDecode(text, count) {
    if (typeof text !== "string" || text.length !== Math.ceil((count * 4) / 3) || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
    const out = new Uint8Array(count);
    let bits = 0;
    let value = 0;
    let o = 0;
    for (const ch of text) {
      value = ((value << 6) | ALPHABET.indexOf(ch)) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        if (o < count) out[o++] = (value >>> bits) & 0xff;
      }
    }
    // Unused low bits of the last character must be zero.
    if (o !== count || b64uEncode(out) !== text) return null;
    return out;
  }

  // ---- bytes ----

  function concat(...parts) {
    let length = 0;
    for (const p of parts) length += p.length;
    const out = new Uint8Array(length);
    let offset = 0;
    for (const p of parts) { out.set(p, offset); offset += p.length; }
    return out;
  }

  function wipe(...buffers) {
    for (const b of buffers) if (b) b.fill(0);
  }

  function randomBytes(n) {
    return globalThis.crypto.getRandomValues(new Uint8Array(n));
  }

  const pause = () => new Promise((resolve) => setTimeout(resolve, 0));

  // ---- key schedule (format.md 2.2 and 6.2) ----

  async function hkdf(ikm, salt, info) {
    const subtle = globalThis.crypto.subtle;
    const key = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
    const bits = await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: salt, info: utf8.encode(info) }, key, 256);
    return new Uint8Array(bits);
  }

  async function sha256(bytes) {
    return new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes));
  }

  const EMPTY = new Uint8Array(0);
  const claimToken = (linkKey) => hkdf(linkKey, EMPTY, "burnlink v1 claim");
  const fillToken = (publicKey) => hkdf(publicKey, EMPTY, "burnlink v1 request fill");
  const answerToken = (secretKey) => hkdf(secretKey, EMPTY, "burnlink v1 request answer");

  async function passwordProof(linkKey, passwordKey) {
    const ikm = concat(linkKey, passwordKey);
    try {
      return await hkdf(ikm, EMPTY, "burnlink v1 password");
    } finally {
      wipe(ikm);
    }
  }

  /** b64u(SHA256(token)): what the server stores instead of a token. */
  async function verifier(token) {
    return b64uEncode(await sha256(token));
  }

  // ---- password (format.md 2 and 2.1) ----

  /** The password's KDF input: UTF-8 of its NFC form, 1 to 1024 bytes; null otherwise. */
  function passwordBytes(text) {
    if (typeof text !== "string") return null;
    const bytes = utf8.encode(text.normalize("NFC"));
    if (bytes.length < 1 || bytes.length > 1024) { wipe(bytes); return null; }
    return bytes;
  }

  function formatKDF(kdf) {
    return `argon2id13; ops=${kdf.ops}; mem=${kdf.mem}; salt=${b64uEncode(kdf.salt)}`;
  }

  /** Parameters as sent by a server, refused (with { error }) before any work when outside the caps. */
  function parseKDF(text) {
    const fields = typeof text === "string" ? text.split("; ") : [];
    const decimal = (field, name) => {
      const prefix = name + "=";
      if (!field.startsWith(prefix)) return null;
      const digits = field.slice(prefix.length);
      if (!/^(0|[1-9][0-9]{0,19})$/.test(digits)) return null;
      return Number(digits);
    };
    if (fields.length !== 4) return { error: "the password settings are malformed" };
    if (fields[0] !== "argon2id13") return { error: "the password settings name an unsupported algorithm" };
    const ops = decimal(fields[1], "ops");
    const mem = decimal(fields[2], "mem");
    if (ops === null || mem === null) return { error: "the password settings are malformed" };
    if (ops < 1 || ops > 10) return { error: `ops must be 1 to 10, got ${ops}` };
    if (mem < 8192 || mem > 1073741824 || mem % 1024 !== 0) return { error: `mem must be a multiple of 1024 from 8192 to 1073741824, got ${mem}` };
    const salt = fields[3].startsWith("salt=") ? b64uDecode(fields[3].slice(5), 16) : null;
    if (!salt) return { error: "the password salt must be 16 bytes in base64url" };
    return { ops: ops, mem: mem, salt: salt };
  }

  /**
   * A new password key for a secret being made: fresh salt, the given (default: the
   * CLI's) ops and mem. Returns { key, kdf } where kdf is { ops, mem, salt }. Wipes nothing
   * of the caller's: `bytes` stays the caller's to wipe.
   */
  async function newPasswordKey(bytes, options) {
    const kdf = { ops: (options && options.ops) || DEFAULT_KDF.ops, mem: (options && options.mem) || DEFAULT_KDF.mem, salt: randomBytes(16) };
    const key = await argon2().argon2id({
      password: bytes,
      salt: kdf.salt,
      passes: kdf.ops,
      memoryKiB: kdf.mem / 1024,
      onProgress: options && options.onProgress,
    });
    return { key: key, kdf: kdf };
  }

  // ---- inner metadata (format.md 3.2) ----

  // The format characters refused in file names (a fixed list).
  const INVISIBLE = [
    [0xad, 0xad], [0x600, 0x605], [0x61c, 0x61c], [0x6dd, 0x6dd], [0x70f, 0x70f], [0x890, 0x891],
    [0x8e2, 0x8e2], [0x180e, 0x180e], [0x200b, 0x200b], [0x200e, 0x200f], [0x202a, 0x202e],
    [0x2060, 0x2064], [0x2066, 0x206f], [0xfeff, 0xfeff], [0xfff9, 0xfffb], [0x110bd, 0x110bd],
    [0x110cd, 0x110cd], [0x13430, 0x1343f], [0x1bca0, 0x1bca3], [0x1d173, 0x1d17a],
    [0xe0001, 0xe0001]
  ];

  /** `/`, `\`, a control character (C0, DEL, C1) or a refused format character. */
  function isForbiddenNameChar(code) {
    return code === 0x2f || code === 0x5c || code <= 0x1f || (code >= 0x7f && code <= 0x9f) ||
      INVISIBLE.some(([low, high]) => code >= low && code <= high);
  }

  /** U+XXXX of a code point, for messages that must not show the character itself. */
  function codePointName(code) {
    return "U+" + code.toString(16).toUpperCase().padStart(4, "0");
  }

  /**
   * Why a file name cannot go into the metadata, in words, or null when it can. Lone
   * surrogates (a JS string need not be valid UTF-16) count as invalid UTF-8.
   */
  function fileNameProblem(name) {
    if (typeof name !== "string" || name.length === 0) return "the file has no name";
    if (name === "." || name === "..") return `the name "${name}" is not a file name`;
    for (const ch of name) {
      const code = ch.codePointAt(0);
      if (code >= 0xd800 && code <= 0xdfff) return "the name is not valid Unicode";
      if (isForbiddenNameChar(code)) {
        return code === 0x2f || code === 0x5c
          ? "the name contains a slash or backslash"
          : `the name contains ${codePointName(code)}, a control or invisible character that could disguise it`;
      }
    }
    const length = utf8.encode(name).length;
    if (length > 255) return `the name is ${length} bytes long in UTF-8; at most 255 are allowed`;
    return null;
  }

  class EnvelopeError extends Error {
    constructor(code) {
      super(code);
      this.code = code;
    }
  }

  /**
   * The metadata bytes: `{ kind: "text" }` (no size, no name, as `burnlink send` does for
   * text), or `{ kind: "file", name, size }`. Throws EnvelopeError("invalid-metadata") for
   * a name fileNameProblem refuses.
   */
  function encodeMetadata(metadata) {
    const file = metadata.kind === "file";
    if (!file && metadata.kind !== "text") throw new EnvelopeError("invalid-metadata");
    const name = file ? metadata.name : null;
    if (file && fileNameProblem(name) !== null) throw new EnvelopeError("invalid-metadata");
    const nameBytes = file ? utf8.encode(name) : new Uint8Array(0);
    const hasSize = metadata.size !== undefined && metadata.size !== null;
    const out = new Uint8Array(2 + (hasSize ? 8 : 0) + 2 + nameBytes.length);
    out[0] = file ? 2 : 1;
    out[1] = hasSize ? 1 : 0;
    let offset = 2;
    if (hasSize) {
      let size = metadata.size;
      if (!Number.isSafeInteger(size) || size < 0) throw new EnvelopeError("invalid-metadata");
      for (let i = 7; i >= 0; i--) { out[offset + i] = size % 256; size = Math.floor(size / 256); }
      offset += 8;
    }
    out[offset] = nameBytes.length >> 8;
    out[offset + 1] = nameBytes.length & 0xff;
    out.set(nameBytes, offset + 2);
    return out;
  }

  /** Inner metadata at the start of chunk 0's plaintext; returns it and its length. */
  function parseMetadata(plain) {
    const fail = () => { throw new EnvelopeError("invalid-metadata"); };
    if (plain.length < 2) fail();
    const kind = plain[0];
    const flags = plain[1];
    if (kind !== 1 && kind !== 2) fail();
    if ((flags & ~1) !== 0) fail();
    let offset = 2;
    let size = null;
    if (flags & 1) {
      if (plain.length < offset + 8) fail();
      size = 0;
      for (let i = 0; i < 8; i++) size = size * 256 + plain[offset + i];
      offset += 8;
    }
    if (plain.length < offset + 2) fail();
    const nameLength = (plain[offset] << 8) | plain[offset + 1];
    offset += 2;
    if (plain.length < offset + nameLength) fail();
    const nameBytes = plain.subarray(offset, offset + nameLength);
    offset += nameLength;
    let name = null;
    if (kind === 1) {
      if (nameLength !== 0) fail();
    } else {
      if (nameLength < 1 || nameLength > 255) fail();
      try {
        name = new TextDecoder("utf-8", { fatal: true }).decode(nameBytes);
      } catch (e) {
        fail();
      }
      if (name === "." || name === "..") fail();
      for (const ch of name) if (isForbiddenNameChar(ch.codePointAt(0))) fail();
    }
    return { kind: kind === 1 ? "text" : "file", name: name, size: size, length: offset };
  }

  // ---- the envelope (format.md 3) ----

  function chunkNonce(prefix, counter, final) {
    const nonce = new Uint8Array(24);
    nonce.set(prefix, 0);
    // uint56 big-endian; counters here stay far below 2^53.
    let c = counter;
    for (let i = 22; i >= 16; i--) {
      nonce[i] = c % 256;
      c = Math.floor(c / 256);
    }
    nonce[23] = final ? 1 : 0;
    return nonce;
  }

  /** Bytes of the envelope for a stream (metadata + content) of `streamLength` bytes. */
  function envelopeLength(streamLength) {
    return HEADER_LENGTH + streamLength + TAG * Math.max(1, Math.ceil(streamLength / CHUNK));
  }

  function checkHeader(envelope, havePassword) {
    const n = envelope.length;
    for (let i = 0; i < MAGIC.length; i++) {
      if (i >= n) throw new EnvelopeError("truncated");
      if (envelope[i] !== MAGIC[i]) throw new EnvelopeError("not-an-envelope");
    }
    if (n < 9) throw new EnvelopeError("truncated");
    if (envelope[8] !== 1) throw new EnvelopeError("unsupported-version");
    if (n < 10) throw new EnvelopeError("truncated");
    if (envelope[9] !== 16) throw new EnvelopeError("unsupported-parameters");
    if (n < 11) throw new EnvelopeError("truncated");
    if ((envelope[10] & ~PASSWORD_FLAG) !== 0) throw new EnvelopeError("unsupported-parameters");
    if (n < HEADER_LENGTH) throw new EnvelopeError("truncated");
    const flagged = (envelope[10] & PASSWORD_FLAG) !== 0;
    if (flagged && !havePassword) throw new EnvelopeError("password-required");
    if (!flagged && havePassword) throw new EnvelopeError("no-password-expected");
    return envelope.subarray(0, HEADER_LENGTH);
  }

  /**
   * Opens a whole envelope with payload key E (decoding rules of section 3.4).
   * Returns { kind, name, parts: [Uint8Array], length }.
   */
  function openEnvelope(envelope, key) {
    const prefix = envelope.subarray(11, HEADER_LENGTH);
    let offset = HEADER_LENGTH;
    let counter = 0;
    const plaintexts = [];
    while (envelope.length - offset > SEALED_CHUNK) {
      const opened = nacl().secretbox.open(envelope.subarray(offset, offset + SEALED_CHUNK), chunkNonce(prefix, counter, false), key);
      if (!opened) throw new EnvelopeError("integrity");
      plaintexts.push(opened);
      offset += SEALED_CHUNK;
      counter++;
    }
    const remainder = envelope.subarray(offset);
    if (remainder.length < TAG + 1) throw new EnvelopeError("truncated");
    const final = nacl().secretbox.open(remainder, chunkNonce(prefix, counter, true), key);
    if (!final) {
      // A cut at a chunk boundary leaves a whole non-final chunk at the end.
      const asInner = nacl().secretbox.open(remainder, chunkNonce(prefix, counter, false), key);
      if (asInner) { asInner.fill(0); throw new EnvelopeError("truncated"); }
      throw new EnvelopeError("integrity");
    }
    plaintexts.push(final);

    const metadata = parseMetadata(plaintexts[0]);
    plaintexts[0] = plaintexts[0].subarray(metadata.length);
    let length = 0;
    for (const p of plaintexts) length += p.length;
    if (metadata.size !== null && metadata.size !== length) throw new EnvelopeError("invalid-metadata");
    return { kind: metadata.kind, name: metadata.name, parts: plaintexts, length: length };
  }

  /** `length` bytes of the content from `offset`: a Uint8Array (text) or a Blob/File, read by slice. */
  async function readContent(content, offset, length) {
    if (length === 0) return new Uint8Array(0);
    if (content instanceof Uint8Array) return content.slice(offset, offset + length);
    const bytes = new Uint8Array(await content.slice(offset, offset + length).arrayBuffer());
    if (bytes.length !== length) throw new Error("the file changed while it was being read");
    return bytes;
  }

  // Sealed chunks are gathered into Blobs of this many, so the ciphertext moves into the
  // browser's blob storage as it is made and the JS heap holds at most a group at a time.
  const CHUNKS_PER_BLOB = 16;

  /**
   * Seals `content` (a Uint8Array, or a Blob/File read in 64 KiB slices) under link key K
   * and, when given, password key P, exactly as `burnlink send` does. Returns the envelope
   * as a Blob composed of its parts (never one JS buffer) and its length.
   *
   * options: { linkKey, passwordKey (optional), metadata: { kind, name, size }, content,
   *            noncePrefix (optional, for tests), onProgress(fraction) (optional) }
   */
  async function sealEnvelope(options) {
    const content = options.content;
    const contentLength = content instanceof Uint8Array ? content.length : content.size;
    const metadata = encodeMetadata(options.metadata);
    const header = new Uint8Array(HEADER_LENGTH);
    header.set(MAGIC, 0);
    header[8] = 1;
    header[9] = 16;
    header[10] = options.passwordKey ? PASSWORD_FLAG : 0;
    header.set(options.noncePrefix || randomBytes(16), 11);
    const prefix = header.slice(11);

    const ikm = options.passwordKey ? concat(options.linkKey, options.passwordKey) : options.linkKey.slice();
    const payloadKey = await hkdf(ikm, header, "burnlink v1 payload");
    wipe(ikm);

    const streamLength = metadata.length + contentLength;
    const count = Math.max(1, Math.ceil(streamLength / CHUNK));
    const blobs = [new Blob([header])];
    let group = [];
    try {
      for (let i = 0; i < count; i++) {
        const start = i * CHUNK;
        const end = Math.min(streamLength, start + CHUNK);
        const plain = new Uint8Array(end - start);
        let filled = 0;
        if (start < metadata.length) {
          const head = metadata.subarray(start, Math.min(end, metadata.length));
          plain.set(head, 0);
          filled = head.length;
        }
        const contentStart = Math.max(0, start - metadata.length);
        const piece = await readContent(content, contentStart, end - start - filled);
        plain.set(piece, filled);
        wipe(piece);
        group.push(nacl().secretbox(plain, chunkNonce(prefix, i, i === count - 1), payloadKey));
        wipe(plain);
        if (group.length === CHUNKS_PER_BLOB) {
          blobs.push(new Blob(group));
          group = [];
          if (options.onProgress) options.onProgress((i + 1) / count);
          await pause();
        }
      }
    } finally {
      wipe(payloadKey, metadata);
    }
    if (group.length > 0) blobs.push(new Blob(group));
    if (options.onProgress) options.onProgress(1);
    const blob = new Blob(blobs, { type: "application/octet-stream" });
    return { blob: blob, length: envelopeLength(streamLength) };
  }

  /**
   * Everything a new secret needs besides its content: a fresh link key K and, with a
   * password, P and the KDF parameters; plus the create headers of http-api.md 3.1
   * (claim verifier, and password verifier and KDF with a password).
   * options: { password: Uint8Array (optional, NFC UTF-8), kdf: { ops, mem } (optional),
   *            onProgress (optional, for Argon2id) }
   */
  async function newSecretKeys(options) {
    const linkKey = randomBytes(32);
    const headers = {};
    const token = await claimToken(linkKey);
    headers["Burnlink-Claim-Verifier"] = await verifier(token);
    wipe(token);
    let passwordKey = null;
    if (options && options.password) {
      const made = await newPasswordKey(options.password, { ops: options.kdf && options.kdf.ops, mem: options.kdf && options.kdf.mem, onProgress: options.onProgress });
      passwordKey = made.key;
      const proof = await passwordProof(linkKey, passwordKey);
      headers["Burnlink-Password-Verifier"] = await verifier(proof);
      headers["Burnlink-Password-KDF"] = formatKDF(made.kdf);
      wipe(proof);
    }
    return { linkKey: linkKey, passwordKey: passwordKey, headers: headers };
  }

  // ---- requests (format.md 6) ----

  function isAllZero(bytes) {
    let acc = 0;
    for (const b of bytes) acc |= b;
    return acc === 0;
  }

  /** The sealed-box nonce: BLAKE2b-192 of epk || pk, unkeyed. */
  function sealNonce(ephemeralPublicKey, publicKey) {
    return argon2().blake2b(concat(ephemeralPublicKey, publicKey), 24);
  }

  /**
   * libsodium's crypto_box_seal(message, pk): epk || crypto_box_easy(message, nonce, pk, esk)
   * with a fresh key pair and nonce = BLAKE2b(epk || pk, 24). Like libsodium, refuses a
   * public key whose shared secret is all zeros (a low-order point): it would seal to a
   * key anyone knows. Returns null then.
   */
  function sealToPublicKey(message, publicKey) {
    const box = nacl().box;
    if (!(publicKey instanceof Uint8Array) || publicKey.length !== box.publicKeyLength) return null;
    const pair = box.keyPair();
    const shared = nacl().scalarMult(pair.secretKey, publicKey);
    const weak = isAllZero(shared);
    wipe(shared);
    if (weak) { wipe(pair.secretKey); return null; }
    const sealed = box(message, sealNonce(pair.publicKey, publicKey), publicKey, pair.secretKey);
    wipe(pair.secretKey);
    return concat(pair.publicKey, sealed);
  }

  /** crypto_box_seal_open: the message, or null (wrong length, wrong key, altered). */
  function openSealed(sealed, publicKey, secretKey) {
    if (!(sealed instanceof Uint8Array) || sealed.length < 48) return null;
    const epk = sealed.subarray(0, 32);
    return nacl().box.open(sealed.subarray(32), sealNonce(epk, publicKey), epk, secretKey);
  }

  // ---- words for people ----

  function humanSize(bytes) {
    if (bytes < 1024) return `${bytes} bytes`;
    const units = ["KiB", "MiB", "GiB"];
    let value = bytes / 1024;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
    return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
  }

  function humanWhen(iso) {
    const date = new Date(iso);
    if (isNaN(date.getTime())) return String(iso);
    const minutes = Math.round((date.getTime() - Date.now()) / 60000);
    let relative;
    if (minutes < 1) relative = "in less than a minute";
    else if (minutes < 90) relative = `in ${minutes} minute${minutes === 1 ? "" : "s"}`;
    else if (minutes < 48 * 60) relative = `in ${Math.round(minutes / 60)} hours`;
    else relative = `in ${Math.round(minutes / 1440)} days`;
    return `${date.toLocaleString()} (${relative})`;
  }

  /** The JSON error body of a response ({ error, message }), or {} when there is none. */
  async function readError(response) {
    try {
      const body = await response.json();
      return body && typeof body === "object" ? body : {};
    } catch (e) {
      return {};
    }
  }

  /** " Try again in N s." from a Retry-After header, else " Try again later." */
  function retryAfter(response) {
    const seconds = Number(response.headers.get("Retry-After"));
    return Number.isFinite(seconds) && seconds > 0 ? ` Try again in ${seconds} s.` : " Try again later.";
  }

  const api = {
    HEADER_LENGTH, CHUNK, TAG, SEALED_CHUNK, DEFAULT_KDF, SEALED_KEY_LENGTH,
    b64uEncode, b64uDecode, concat, wipe, randomBytes, pause,
    hkdf, sha256, claimToken, fillToken, answerToken, passwordProof, verifier,
    passwordBytes, formatKDF, parseKDF, newPasswordKey,
    isForbiddenNameChar, fileNameProblem, codePointName, encodeMetadata, parseMetadata,
    EnvelopeError, chunkNonce, envelopeLength, checkHeader, openEnvelope, sealEnvelope, newSecretKeys,
    sealToPublicKey, openSealed,
    humanSize, humanWhen, readError, retryAfter,
  };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.burnlinkCommon = api;
})(typeof self !== "undefined" ? self : this);

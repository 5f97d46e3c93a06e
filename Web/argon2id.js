// burnlink: BLAKE2b (RFC 7693) and Argon2id version 1.3 (RFC 9106) for the reveal page.
//
// WebCrypto has neither, and the page must derive the same password key P as the CLI
// (libsodium's crypto_pwhash with crypto_pwhash_ALG_ARGON2ID13), so both are written
// here from the RFCs. 64-bit words are kept as pairs of 32-bit halves (low, high) in
// Uint32Arrays: JavaScript numbers are exact only to 2^53, and BigInt is far too slow.
//
// Checked by Tests/js/argon2id.test.js against the RFC test vectors, node's own
// BLAKE2b-512, Python's hashlib.blake2b, and libsodium (PyNaCl) for our parameters.
(function (root) {
  "use strict";

  // ---- BLAKE2b (RFC 7693) -------------------------------------------------------------

  // Initialisation vector (the SHA-512 IV), as (low, high) 32-bit halves.
  const IV = new Uint32Array([
    0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a,
    0xade682d1, 0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
  ]);

  // Message word schedule; rounds 10 and 11 reuse rows 0 and 1.
  const SIGMA = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
  ];

  // v[a] += v[b] + m (64-bit, halves at 2i and 2i+1).
  function add3(v, a, b, m, mi) {
    const lo = v[a] + v[b] + m[mi];
    v[a + 1] = v[a + 1] + v[b + 1] + m[mi + 1] + ((lo / 4294967296) | 0);
    v[a] = lo;
  }

  function add2(v, a, b) {
    const lo = v[a] + v[b];
    v[a + 1] = v[a + 1] + v[b + 1] + ((lo / 4294967296) | 0);
    v[a] = lo;
  }

  // v[d] = (v[d] ^ v[a]) rotated right by r (r is 16, 24, 32 or 63).
  function xorRotate(v, d, a, r) {
    const lo = v[d] ^ v[a];
    const hi = v[d + 1] ^ v[a + 1];
    if (r === 32) {
      v[d] = hi; v[d + 1] = lo;
    } else if (r === 63) {
      v[d] = (lo << 1) | (hi >>> 31); v[d + 1] = (hi << 1) | (lo >>> 31);
    } else {
      v[d] = (lo >>> r) | (hi << (32 - r)); v[d + 1] = (hi >>> r) | (lo << (32 - r));
    }
  }

  function mix(v, a, b, c, d, m, x, y) {
    add3(v, a, b, m, x); xorRotate(v, d, a, 32);
    add2(v, c, d); xorRotate(v, b, c, 24);
    add3(v, a, b, m, y); xorRotate(v, d, a, 16);
    add2(v, c, d); xorRotate(v, b, c, 63);
  }

  // The compression function F; h and m hold 8 and 16 words as 32-bit halves.
  const work = new Uint32Array(32);
  function compress(h, m, counter, last) {
    for (let i = 0; i < 16; i++) { work[i] = h[i]; work[i + 16] = IV[i]; }
    // The byte counter fits in 2^53, far above anything hashed here.
    work[24] ^= counter >>> 0;
    work[25] ^= Math.floor(counter / 4294967296) >>> 0;
    if (last) { work[28] = ~work[28]; work[29] = ~work[29]; }
    for (let round = 0; round < 12; round++) {
      const s = SIGMA[round % 10];
      mix(work, 0, 8, 16, 24, m, s[0] * 2, s[1] * 2);
      mix(work, 2, 10, 18, 26, m, s[2] * 2, s[3] * 2);
      mix(work, 4, 12, 20, 28, m, s[4] * 2, s[5] * 2);
      mix(work, 6, 14, 22, 30, m, s[6] * 2, s[7] * 2);
      mix(work, 0, 10, 20, 30, m, s[8] * 2, s[9] * 2);
      mix(work, 2, 12, 22, 24, m, s[10] * 2, s[11] * 2);
      mix(work, 4, 14, 16, 26, m, s[12] * 2, s[13] * 2);
      mix(work, 6, 8, 18, 28, m, s[14] * 2, s[15] * 2);
    }
    for (let i = 0; i < 16; i++) h[i] ^= work[i] ^ work[i + 16];
  }

  // Reads 128 bytes as 16 little-endian 64-bit words.
  function loadBlock(bytes, offset, m) {
    for (let i = 0; i < 32; i++) {
      const j = offset + i * 4;
      m[i] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
    }
  }

  /** BLAKE2b of `input` (Uint8Array) with an output of `outLength` bytes (1..64), optional key (0..64 bytes). */
  function blake2b(input, outLength, key) {
    key = key || new Uint8Array(0);
    if (!(outLength >= 1 && outLength <= 64) || key.length > 64) throw new RangeError("blake2b: bad lengths");
    const h = new Uint32Array(16);
    for (let i = 0; i < 16; i++) h[i] = IV[i];
    h[0] ^= 0x01010000 ^ (key.length << 8) ^ outLength;

    let data = input;
    if (key.length > 0) {
      data = new Uint8Array(128 + input.length);
      data.set(key, 0);
      data.set(input, 128);
    }
    const m = new Uint32Array(32);
    const pad = new Uint8Array(128);
    let offset = 0;
    // Every full block but the last is compressed as not final.
    while (data.length - offset > 128) {
      loadBlock(data, offset, m);
      offset += 128;
      compress(h, m, offset, false);
    }
    pad.fill(0);
    pad.set(data.subarray(offset), 0);
    loadBlock(pad, 0, m);
    compress(h, m, data.length, true);

    const out = new Uint8Array(outLength);
    for (let i = 0; i < outLength; i++) out[i] = h[i >> 2] >>> (8 * (i & 3));
    return out;
  }

  // ---- Argon2id (RFC 9106) ------------------------------------------------------------

  const BLOCK_WORDS = 256; // 1024 bytes as 32-bit halves
  const VERSION = 0x13;
  const TYPE_ID = 2;
  const SYNC_POINTS = 4;

  function le32(n) {
    return new Uint8Array([n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]);
  }

  function concat(parts) {
    let length = 0;
    for (const p of parts) length += p.length;
    const out = new Uint8Array(length);
    let offset = 0;
    for (const p of parts) { out.set(p, offset); offset += p.length; }
    return out;
  }

  /** H' of RFC 9106 section 3.3: BLAKE2b stretched to `length` bytes. */
  function hashLong(input, length) {
    const prefixed = concat([le32(length), input]);
    if (length <= 64) return blake2b(prefixed, length);
    const out = new Uint8Array(length);
    const r = Math.ceil(length / 32) - 2;
    let v = blake2b(prefixed, 64);
    out.set(v.subarray(0, 32), 0);
    for (let i = 1; i < r; i++) {
      v = blake2b(v, 64);
      out.set(v.subarray(0, 32), i * 32);
    }
    out.set(blake2b(v, length - 32 * r), 32 * r);
    return out;
  }

  // 64-bit product of two 32-bit values, split so every intermediate is exact in a double.
  let productLow = 0;
  let productHigh = 0;
  function multiply32(x, y) {
    const t1 = x * (y >>> 16); // < 2^48
    const t2 = x * (y & 0xffff); // < 2^48
    productLow = Math.imul(x, y) >>> 0;
    const q = (t1 / 65536) >>> 0; // floor: both are below 2^32 here
    productHigh = (q + ((((t1 - q * 65536) * 65536 + t2) / 4294967296) | 0)) >>> 0;
  }

  // GB of RFC 9106 section 3.6 on the words at (doubled) indices a, b, c, d of v, with
  // BlaMka's x + y + 2 * lo(x) * lo(y) for additions. Everything runs on local 32-bit
  // halves (this is the hot loop: 128 calls per block); 64-bit values are (l, h) pairs.
  function gb(v, a, b, c, d) {
    let al = v[a], ah = v[a + 1], bl = v[b], bh = v[b + 1];
    let cl = v[c], ch = v[c + 1], dl = v[d], dh = v[d + 1];
    let t1, t2, q, pl, ph, lo, xl, xh;

    // a = a + b + 2 * lo(a) * lo(b); d = (d ^ a) >>> 32
    t1 = al * (bl >>> 16); t2 = al * (bl & 0xffff);
    pl = Math.imul(al, bl) >>> 0;
    q = (t1 / 65536) >>> 0;
    ph = q + ((((t1 - q * 65536) * 65536 + t2) / 4294967296) | 0);
    ph = (ph << 1) | (pl >>> 31); pl = (pl << 1) >>> 0;
    lo = al + bl + pl;
    ah = (ah + bh + ph + ((lo / 4294967296) | 0)) >>> 0; al = lo >>> 0;
    xl = dl ^ al; dl = (dh ^ ah) >>> 0; dh = xl >>> 0;

    // c = c + d + 2 * lo(c) * lo(d); b = (b ^ c) >>> 24
    t1 = cl * (dl >>> 16); t2 = cl * (dl & 0xffff);
    pl = Math.imul(cl, dl) >>> 0;
    q = (t1 / 65536) >>> 0;
    ph = q + ((((t1 - q * 65536) * 65536 + t2) / 4294967296) | 0);
    ph = (ph << 1) | (pl >>> 31); pl = (pl << 1) >>> 0;
    lo = cl + dl + pl;
    ch = (ch + dh + ph + ((lo / 4294967296) | 0)) >>> 0; cl = lo >>> 0;
    xl = bl ^ cl; xh = bh ^ ch;
    bl = ((xl >>> 24) | (xh << 8)) >>> 0; bh = ((xh >>> 24) | (xl << 8)) >>> 0;

    // a = a + b + 2 * lo(a) * lo(b); d = (d ^ a) >>> 16
    t1 = al * (bl >>> 16); t2 = al * (bl & 0xffff);
    pl = Math.imul(al, bl) >>> 0;
    q = (t1 / 65536) >>> 0;
    ph = q + ((((t1 - q * 65536) * 65536 + t2) / 4294967296) | 0);
    ph = (ph << 1) | (pl >>> 31); pl = (pl << 1) >>> 0;
    lo = al + bl + pl;
    ah = (ah + bh + ph + ((lo / 4294967296) | 0)) >>> 0; al = lo >>> 0;
    xl = dl ^ al; xh = dh ^ ah;
    dl = ((xl >>> 16) | (xh << 16)) >>> 0; dh = ((xh >>> 16) | (xl << 16)) >>> 0;

    // c = c + d + 2 * lo(c) * lo(d); b = (b ^ c) >>> 63
    t1 = cl * (dl >>> 16); t2 = cl * (dl & 0xffff);
    pl = Math.imul(cl, dl) >>> 0;
    q = (t1 / 65536) >>> 0;
    ph = q + ((((t1 - q * 65536) * 65536 + t2) / 4294967296) | 0);
    ph = (ph << 1) | (pl >>> 31); pl = (pl << 1) >>> 0;
    lo = cl + dl + pl;
    ch = (ch + dh + ph + ((lo / 4294967296) | 0)) >>> 0; cl = lo >>> 0;
    xl = bl ^ cl; xh = bh ^ ch;
    bl = ((xl << 1) | (xh >>> 31)) >>> 0; bh = ((xh << 1) | (xl >>> 31)) >>> 0;

    v[a] = al; v[a + 1] = ah; v[b] = bl; v[b + 1] = bh;
    v[c] = cl; v[c + 1] = ch; v[d] = dl; v[d + 1] = dh;
  }

  // The permutation P on 16 words given by their word indices (already doubled).
  function permute(v, w0, w1, w2, w3, w4, w5, w6, w7, w8, w9, w10, w11, w12, w13, w14, w15) {
    gb(v, w0, w4, w8, w12);
    gb(v, w1, w5, w9, w13);
    gb(v, w2, w6, w10, w14);
    gb(v, w3, w7, w11, w15);
    gb(v, w0, w5, w10, w15);
    gb(v, w1, w6, w11, w12);
    gb(v, w2, w7, w8, w13);
    gb(v, w3, w4, w9, w14);
  }

  const blockR = new Uint32Array(BLOCK_WORDS);
  const blockT = new Uint32Array(BLOCK_WORDS);

  // next = G(prev, ref), or next ^= G(prev, ref) when withXor (passes after the first).
  // prev, ref and next are offsets (in 32-bit halves) into the arrays given.
  function fillBlock(prevMem, prev, refMem, ref, nextMem, next, withXor) {
    for (let i = 0; i < BLOCK_WORDS; i++) blockR[i] = prevMem[prev + i] ^ refMem[ref + i];
    for (let i = 0; i < BLOCK_WORDS; i++) blockT[i] = withXor ? blockR[i] ^ nextMem[next + i] : blockR[i];
    const v = blockR;
    // Rows: the 8 runs of 16 consecutive words.
    for (let i = 0; i < 8; i++) {
      const o = 32 * i;
      permute(v, o, o + 2, o + 4, o + 6, o + 8, o + 10, o + 12, o + 14,
        o + 16, o + 18, o + 20, o + 22, o + 24, o + 26, o + 28, o + 30);
    }
    // Columns: word pairs (2i, 2i+1), (2i+16, 2i+17), ... (2i+112, 2i+113).
    for (let i = 0; i < 8; i++) {
      const o = 4 * i;
      permute(v, o, o + 2, o + 32, o + 34, o + 64, o + 66, o + 96, o + 98,
        o + 128, o + 130, o + 160, o + 162, o + 192, o + 194, o + 224, o + 226);
    }
    for (let i = 0; i < BLOCK_WORDS; i++) nextMem[next + i] = blockT[i] ^ blockR[i];
  }

  function bytesToWords(bytes, words, offset) {
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const j = i * 4;
      words[offset + i] = bytes[j] | (bytes[j + 1] << 8) | (bytes[j + 2] << 16) | (bytes[j + 3] << 24);
    }
  }

  function wordsToBytes(words, offset) {
    const out = new Uint8Array(1024);
    for (let i = 0; i < BLOCK_WORDS; i++) {
      const w = words[offset + i];
      out[i * 4] = w & 0xff; out[i * 4 + 1] = (w >>> 8) & 0xff;
      out[i * 4 + 2] = (w >>> 16) & 0xff; out[i * 4 + 3] = (w >>> 24) & 0xff;
    }
    return out;
  }

  function setWord(block, index, value) {
    block[2 * index] = value >>> 0;
    block[2 * index + 1] = Math.floor(value / 4294967296) >>> 0;
  }

  // Position of the reference block within its lane (RFC 9106 section 3.4.1.2).
  function referenceIndex(pass, slice, index, segmentLength, laneLength, j1, sameLane) {
    let areaSize;
    if (pass === 0) {
      if (slice === 0) areaSize = index - 1;
      else if (sameLane) areaSize = slice * segmentLength + index - 1;
      else areaSize = slice * segmentLength + (index === 0 ? -1 : 0);
    } else if (sameLane) {
      areaSize = laneLength - segmentLength + index - 1;
    } else {
      areaSize = laneLength - segmentLength + (index === 0 ? -1 : 0);
    }
    multiply32(j1, j1);
    const x = productHigh;
    multiply32(areaSize >>> 0, x);
    const relative = areaSize - 1 - productHigh;
    const start = pass !== 0 && slice !== SYNC_POINTS - 1 ? (slice + 1) * segmentLength : 0;
    return (start + relative) % laneLength;
  }

  const pause = () => new Promise((resolve) => setTimeout(resolve, 0));

  /**
   * Argon2id v1.3. Options: password, salt (Uint8Array), passes (t), memoryKiB (m),
   * parallelism (p, default 1), tagLength (default 32), secret and associatedData
   * (optional Uint8Array), onProgress(fraction) (optional). Yields to the event loop
   * between segments so a page stays responsive. Returns the tag as a Uint8Array.
   */
  async function argon2id(options) {
    const password = options.password;
    const salt = options.salt;
    const passes = options.passes;
    const memoryKiB = options.memoryKiB;
    const lanes = options.parallelism || 1;
    const tagLength = options.tagLength || 32;
    const secret = options.secret || new Uint8Array(0);
    const associated = options.associatedData || new Uint8Array(0);
    if (!(passes >= 1) || !(lanes >= 1 && lanes <= 0xffffff) || !(tagLength >= 4) ||
        !(memoryKiB >= 8 * lanes) || !(salt.length >= 8)) {
      throw new RangeError("argon2id: parameters out of range");
    }

    const h0 = blake2b(concat([
      le32(lanes), le32(tagLength), le32(memoryKiB), le32(passes), le32(VERSION), le32(TYPE_ID),
      le32(password.length), password, le32(salt.length), salt,
      le32(secret.length), secret, le32(associated.length), associated,
    ]), 64);

    const segmentLength = Math.floor(memoryKiB / (SYNC_POINTS * lanes));
    const laneLength = segmentLength * SYNC_POINTS;
    const blockCount = laneLength * lanes;
    const memory = new Uint32Array(blockCount * BLOCK_WORDS);

    for (let lane = 0; lane < lanes; lane++) {
      for (let k = 0; k < 2; k++) {
        bytesToWords(hashLong(concat([h0, le32(k), le32(lane)]), 1024), memory, (lane * laneLength + k) * BLOCK_WORDS);
      }
    }

    const zero = new Uint32Array(BLOCK_WORDS);
    const input = new Uint32Array(BLOCK_WORDS);
    const address = new Uint32Array(BLOCK_WORDS);
    const nextAddresses = () => {
      setWord(input, 6, input[12] + input[13] * 4294967296 + 1);
      fillBlock(zero, 0, input, 0, address, 0, false);
      fillBlock(zero, 0, address, 0, address, 0, false);
    };

    const totalSegments = passes * SYNC_POINTS * lanes;
    let doneSegments = 0;
    for (let pass = 0; pass < passes; pass++) {
      for (let slice = 0; slice < SYNC_POINTS; slice++) {
        for (let lane = 0; lane < lanes; lane++) {
          // Argon2id: data-independent addresses in the first half of the first pass.
          const independent = pass === 0 && slice < SYNC_POINTS / 2;
          if (independent) {
            input.fill(0);
            setWord(input, 0, pass); setWord(input, 1, lane); setWord(input, 2, slice);
            setWord(input, 3, blockCount); setWord(input, 4, passes); setWord(input, 5, TYPE_ID);
          }
          let startIndex = 0;
          if (pass === 0 && slice === 0) {
            startIndex = 2;
            if (independent) nextAddresses();
          }
          let current = lane * laneLength + slice * segmentLength + startIndex;
          let previous = current % laneLength === 0 ? current + laneLength - 1 : current - 1;
          for (let i = startIndex; i < segmentLength; i++, current++, previous++) {
            if (current % laneLength === 1) previous = current - 1;
            let j1, j2;
            if (independent) {
              if (i % 128 === 0) nextAddresses();
              j1 = address[2 * (i % 128)];
              j2 = address[2 * (i % 128) + 1];
            } else {
              j1 = memory[previous * BLOCK_WORDS];
              j2 = memory[previous * BLOCK_WORDS + 1];
            }
            const refLane = pass === 0 && slice === 0 ? lane : j2 % lanes;
            const refIndex = referenceIndex(pass, slice, i, segmentLength, laneLength, j1, refLane === lane);
            fillBlock(memory, previous * BLOCK_WORDS, memory, (refLane * laneLength + refIndex) * BLOCK_WORDS,
              memory, current * BLOCK_WORDS, pass !== 0);
          }
          doneSegments++;
          if (options.onProgress) options.onProgress(doneSegments / totalSegments);
          await pause();
        }
      }
    }

    const final = new Uint32Array(BLOCK_WORDS);
    for (let lane = 0; lane < lanes; lane++) {
      const last = (lane * laneLength + laneLength - 1) * BLOCK_WORDS;
      for (let i = 0; i < BLOCK_WORDS; i++) final[i] ^= memory[last + i];
    }
    const finalBytes = wordsToBytes(final, 0);
    const tag = hashLong(finalBytes, tagLength);
    memory.fill(0);
    finalBytes.fill(0);
    return tag;
  }

  const api = { blake2b: blake2b, argon2id: argon2id };
  if (typeof module !== "undefined" && module.exports) module.exports = api;
  else root.burnlinkArgon2 = api;
})(typeof self !== "undefined" ? self : this);

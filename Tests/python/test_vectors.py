"""Independent cross-check of the burnlink format, version 1.

Written from docs/format.md alone (no Swift code consulted), so that the Swift
implementation and this decoder can only agree if both follow the document.
Run with:  python3 -m pytest -q Tests/python
"""

import base64
import functools
import hashlib
import hmac
import re
import unicodedata
from pathlib import Path

import nacl.bindings as sodium
import nacl.exceptions
import pytest

VECTORS = Path(__file__).resolve().parent.parent / "Vectors"
ALL_VECTORS = sorted(VECTORS.glob("*.vector"))

# Section 4: the only error codes a vector may expect.
ERROR_CODES = {
    "truncated", "integrity", "unsupported-version", "not-an-envelope",
    "unsupported-parameters", "bad-kdf-parameters", "password-required",
    "no-password-expected", "invalid-metadata",
    "bad-sealed-key",  # section 6.5: request vectors only
}


class FormatError(Exception):
    """A rejection by the decoder, carrying one section-4 error code."""

    def __init__(self, code, why):
        assert code in ERROR_CODES
        super().__init__(f"{code}: {why}")
        self.code = code


# ---------------------------------------------------------------- base64url

_B64U_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64u_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text):
    """Strict base64url without padding: exactly one encoding per byte string."""
    # Python's decoder is lenient, so the alphabet (which excludes '=') is checked first.
    if not _B64U_ALPHABET.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError(f"not base64url without padding: {text!r}")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Python ignores non-zero unused bits; re-encoding catches non-canonical input.
    if b64u_encode(data) != text:
        raise ValueError(f"non-canonical base64url: {text!r}")
    return data


# --------------------------------------------------------------------- HKDF

def hmac_sha256(key, message):
    return hmac.new(key, message, hashlib.sha256).digest()


def hkdf_extract(salt, ikm):
    # An empty salt means 32 zero bytes (HMAC pads keys with zeros, so it is the same).
    return hmac_sha256(salt or bytes(32), ikm)


def hkdf_expand(prk, info, length):
    assert length <= 255 * 32
    okm, t, i = b"", b"", 1
    while len(okm) < length:
        t = hmac_sha256(prk, t + info + bytes([i]))
        okm, i = okm + t, i + 1
    return okm[:length]


def hkdf(salt, ikm, info, length=32):
    return hkdf_expand(hkdf_extract(salt, ikm), info, length)


# ---------------------------------------------------- password KDF (2, 2.1)

# Fixed order, each field once, "; " separators, decimals without leading zeros.
_KDF = re.compile(r"argon2id13; ops=(0|[1-9][0-9]*); mem=(0|[1-9][0-9]*); salt=(.*)")


def parse_kdf(text):
    """Returns (ops, mem, salt), or refuses with bad-kdf-parameters before any work."""
    m = _KDF.fullmatch(text or "")
    if not m:
        raise FormatError("bad-kdf-parameters", f"malformed or other algorithm: {text!r}")
    ops, mem = int(m.group(1)), int(m.group(2))
    if not 1 <= ops <= 10:
        raise FormatError("bad-kdf-parameters", f"ops={ops} outside 1..10")
    # The cap protects against a hostile server; the KiB multiple keeps implementations equal.
    if not 8192 <= mem <= 1 << 30 or mem % 1024:
        raise FormatError("bad-kdf-parameters", f"mem={mem} not allowed")
    try:
        salt = b64u_decode(m.group(3))
    except ValueError as e:
        raise FormatError("bad-kdf-parameters", str(e)) from None
    if len(salt) != 16:
        raise FormatError("bad-kdf-parameters", "salt is not 16 bytes")
    return ops, mem, salt


def password_bytes(password):
    """UTF-8 of the NFC form, 1 to 1024 bytes (section 2)."""
    pw = unicodedata.normalize("NFC", password).encode("utf-8")
    if not 1 <= len(pw) <= 1024:
        raise ValueError("password must be 1 to 1024 bytes")  # the spec names no error code
    return pw


@functools.lru_cache(maxsize=None)  # Argon2 is slow on purpose; the flip test reuses P
def argon2id(pw, salt, ops, mem):
    return sodium.crypto_pwhash_alg(32, pw, salt, ops, mem, sodium.crypto_pwhash_ALG_ARGON2ID13)


def password_key(password, kdf):
    ops, mem, salt = parse_kdf(kdf)
    return argon2id(password_bytes(password), salt, ops, mem)


# ------------------------------------------------------ key schedule (2.2)

def claim_token(K):
    return hkdf(b"", K, b"burnlink v1 claim")


def password_proof(K, P):
    return hkdf(b"", K + P, b"burnlink v1 password")


def payload_key(header, K, P=b""):
    return hkdf(header, K + P, b"burnlink v1 payload")


# ------------------------------------------------------------ envelope (3)

MAGIC = b"burnlink"
HEADER_LEN = 27
CHUNK = 1 << 16
SEALED = CHUNK + 16  # a sealed non-final chunk
TAG = 16


def open_chunk(E, prefix, counter, final, sealed):
    nonce = prefix + counter.to_bytes(7, "big") + bytes([final])
    try:
        return sodium.crypto_secretbox_open(sealed, nonce, E)
    except nacl.exceptions.CryptoError:
        return None


def open_chunks(env, E, prefix):
    """Yields plaintext chunks in order, following the rules of 3.4."""
    pos, counter = HEADER_LEN, 0
    # Step 1: while more than one sealed chunk remains, the next one is non-final.
    while len(env) - pos > SEALED:
        plain = open_chunk(E, prefix, counter, 0, env[pos:pos + SEALED])
        if plain is None:
            raise FormatError("integrity", f"chunk {counter} does not open")
        yield plain
        pos, counter = pos + SEALED, counter + 1
    rest = env[pos:]
    # Step 3: nothing, or less than a tag and one byte, after the header or last chunk.
    if len(rest) <= TAG:
        raise FormatError("truncated", f"{len(rest)} bytes where the final chunk should be")
    plain = open_chunk(E, prefix, counter, 1, rest)
    if plain is None:
        # Step 4: a valid non-final chunk in last place means a cut at a chunk boundary.
        if open_chunk(E, prefix, counter, 0, rest) is not None:
            raise FormatError("truncated", f"chunk {counter} is not marked final")
        raise FormatError("integrity", f"final chunk {counter} does not open")  # step 5
    yield plain


# format.md 3.2: the format characters refused in file names (a fixed list).
INVISIBLE = {0x00AD, *range(0x0600, 0x0606), 0x061C, 0x06DD, 0x070F, *range(0x0890, 0x0892), 0x08E2, 0x180E, 0x200B, *range(0x200E, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2065), *range(0x2066, 0x2070), 0xFEFF, *range(0xFFF9, 0xFFFC), 0x110BD, 0x110CD, *range(0x13430, 0x13440), *range(0x1BCA0, 0x1BCA4), *range(0x1D173, 0x1D17B), 0xE0001}


def check_file_name(raw):
    bad = FormatError("invalid-metadata", f"bad file name {raw!r}")
    try:
        name = raw.decode("utf-8")  # strict: rejects overlongs, surrogates, > U+10FFFF
    except UnicodeDecodeError:
        raise bad from None
    if name in (".", ".."):
        raise bad
    if any(c in "/\\" or ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F or ord(c) in INVISIBLE for c in name):
        raise bad
    return name


def parse_metadata(chunk0):
    """Splits chunk 0 into (metadata, start of content); the metadata must fit in it."""
    def need(n):
        if len(chunk0) < n:
            raise FormatError("invalid-metadata", "metadata does not fit in chunk 0")

    need(2)
    kind, flags = chunk0[0], chunk0[1]
    if kind not in (1, 2):
        raise FormatError("invalid-metadata", f"unknown kind {kind}")
    if flags & 0xFE:
        raise FormatError("invalid-metadata", f"unknown flags {flags:#04x}")
    pos, size = 2, None
    if flags & 1:
        need(pos + 8)
        size, pos = int.from_bytes(chunk0[pos:pos + 8], "big"), pos + 8
    need(pos + 2)
    n, pos = int.from_bytes(chunk0[pos:pos + 2], "big"), pos + 2
    need(pos + n)
    raw, pos = chunk0[pos:pos + n], pos + n
    if kind == 1:
        if n != 0:
            raise FormatError("invalid-metadata", "text with a name")
        name = None
    else:
        if not 1 <= n <= 255:
            raise FormatError("invalid-metadata", f"file name length {n}")
        name = check_file_name(raw)
    meta = {"kind": "text" if kind == 1 else "file", "name": name, "size": size}
    return meta, chunk0[pos:]


def decode(env, K, password=None, kdf=None):
    """Decodes an envelope; returns (metadata, content, P) or raises FormatError."""
    # Header fields in byte order, as far as the input goes (section 4), then length.
    header = env[:HEADER_LEN]
    if header[:8] != MAGIC[:len(header[:8])]:
        raise FormatError("not-an-envelope", "wrong magic")
    if len(header) > 8 and header[8] != 1:
        raise FormatError("unsupported-version", f"version {header[8]}")
    if (len(header) > 9 and header[9] != 16) or (len(header) > 10 and header[10] & 0xFE):
        raise FormatError("unsupported-parameters", "chunk size or flags")
    if len(env) < HEADER_LEN:
        raise FormatError("truncated", "shorter than the header")
    has_password = header[10] & 1
    if has_password and password is None:
        raise FormatError("password-required", "flag bit 0 set")
    if not has_password and password is not None:
        raise FormatError("no-password-expected", "flag bit 0 clear")
    P = password_key(password, kdf) if has_password else b""
    E = payload_key(header, K, P)

    meta, content = None, bytearray()
    for plain in open_chunks(env, E, header[11:27]):
        if meta is None:  # like a streaming decoder: metadata is checked once chunk 0 opens
            meta, plain = parse_metadata(plain)
        content += plain
    if meta["size"] is not None and len(content) != meta["size"]:
        raise FormatError("invalid-metadata", f"content is {len(content)} bytes, declared {meta['size']}")
    return meta, bytes(content), P


# ------------------------------------------------------------- vector files

def read_vector(path):
    """Section 4: `name: value` lines, one empty line, then raw bytes."""
    raw = path.read_bytes()
    head, sep, body = raw.partition(b"\n\n")
    assert sep, f"{path.name}: no empty line after the header lines"
    fields = {}
    for line in head.decode("utf-8").split("\n"):
        name, colon, value = line.partition(":")
        assert colon and name and name not in fields, f"{path.name}: bad header line {line!r}"
        fields[name] = value[1:] if value.startswith(" ") else value  # `name:` alone is empty
    return fields, body


def is_envelope_vector(path):
    return "expect" in read_vector(path)[0]


def check_hkdf(f):
    ikm, salt, info = (bytes.fromhex(f[k]) for k in ("ikm", "salt", "info"))
    prk = hkdf_extract(salt, ikm)
    assert prk.hex() == f["prk"].lower()
    assert hkdf_expand(prk, info, int(f["length"])).hex() == f["okm"].lower()
    assert int(f["length"]) == len(bytes.fromhex(f["okm"]))


def check_secretbox(f):
    key, nonce, message, box = (bytes.fromhex(f[k]) for k in ("key", "nonce", "message", "box"))
    # This pins the layout the decoder relies on: tag first, then the ciphertext.
    assert len(box) == len(message) + TAG
    assert sodium.crypto_secretbox(message, nonce, key) == box
    assert sodium.crypto_secretbox_easy(message, nonce, key) == box
    assert sodium.crypto_secretbox_open(box, nonce, key) == message


# ------------------------------------------------------------- requests (section 6)

def open_sealed_key(sealed, pk, sk):
    """Section 6.4: exactly 80 bytes that open as a sealed box to (pk, sk), else bad-sealed-key."""
    if len(sealed) != 80:
        raise FormatError("bad-sealed-key", f"{len(sealed)} bytes, not 80")
    try:
        K = sodium.crypto_box_seal_open(sealed, pk, sk)
    except nacl.exceptions.CryptoError:
        raise FormatError("bad-sealed-key", "does not open") from None
    assert len(K) == 32
    return K


def seal_by_hand(K, pk, esk):
    """Section 6.3 spelled out: epk || crypto_box_easy(K, BLAKE2b-24(epk || pk), pk, esk)."""
    epk = sodium.crypto_scalarmult_base(esk)
    nonce = hashlib.blake2b(epk + pk, digest_size=24).digest()
    return epk + sodium.crypto_box(K, nonce, pk, esk)


def check_request(f, env):
    sk = b64u_decode(f["secret-key"])
    pk = sodium.crypto_scalarmult_base(sk)
    assert b64u_encode(pk) == f["public-key"]
    assert f["fill-token"] == b64u_encode(hkdf(b"", pk, b"burnlink v1 request fill"))
    assert f["answer-token"] == b64u_encode(hkdf(b"", sk, b"burnlink v1 request answer"))
    assert "key" not in f, "a request vector carries the sealed key, not the link key"
    sealed = b64u_decode(f["sealed-key"])
    try:
        K = open_sealed_key(sealed, pk, sk)
    except FormatError as error:
        assert f["expect"] == f"error {error.code}", str(error)
        return
    check_envelope({**f, "key": b64u_encode(K)}, env)


def test_sealing_by_hand_is_crypto_box_seal():
    """The construction of section 6.3, built from its parts, opens with libsodium's own
    crypto_box_seal_open, and libsodium's seal has the same layout (80 bytes, epk first)."""
    sk, esk, K = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 96))
    pk = sodium.crypto_scalarmult_base(sk)
    assert sodium.crypto_box_seal_open(seal_by_hand(K, pk, esk), pk, sk) == K
    sealed = sodium.crypto_box_seal(K, pk)
    assert len(sealed) == 80
    epk = sealed[:32]
    nonce = hashlib.blake2b(epk + pk, digest_size=24).digest()
    assert sodium.crypto_box_open(sealed[32:], nonce, epk, sk) == K


def check_envelope(f, env):
    K = b64u_decode(f["key"])
    assert len(K) == 32
    password, kdf = f.get("password"), f.get("kdf")
    assert (password is None) == (kdf is None), "password: and kdf: go together"
    if "claim-token" in f:
        assert f["claim-token"] == b64u_encode(claim_token(K))

    expect = f["expect"]
    if expect == "success":
        assert "claim-token" in f
        meta, content, P = decode(env, K, password, kdf)
        assert meta["kind"] == f["kind"]
        assert (meta["name"] or "") == f.get("name", "")  # text has no name
        assert (str(meta["size"]) if meta["size"] is not None else "none") == f["size"]
        assert len(content) == int(f["content-length"])
        assert hashlib.sha256(content).hexdigest() == f["content-sha256"].lower()
        if "password-proof" in f:
            assert f["password-proof"] == b64u_encode(password_proof(K, P))
        return

    code = expect.removeprefix("error ")
    assert expect.startswith("error ") and code in ERROR_CODES, f"bad expect line {expect!r}"
    with pytest.raises(FormatError) as caught:
        decode(env, K, password, kdf)
    assert caught.value.code == code, str(caught.value)
    if "password-proof" in f:
        try:
            P = password_key(password, kdf)
        except FormatError:
            return  # refused parameters define no P to check the proof against
        assert f["password-proof"] == b64u_encode(password_proof(K, P))


@pytest.mark.parametrize("path", ALL_VECTORS, ids=[p.name for p in ALL_VECTORS])
def test_vector(path):
    fields, body = read_vector(path)
    if path.name.startswith("request-"):
        check_request(fields, body)
    elif "expect" in fields:
        check_envelope(fields, body)
    elif path.name.startswith("hkdf-"):
        assert body == b""
        check_hkdf(fields)
    elif path.name.startswith("secretbox-"):
        assert body == b""
        check_secretbox(fields)
    else:
        pytest.fail(f"unknown kind of vector: {path.name}")


def test_enough_envelope_vectors():
    # An empty or half-written folder must not pass silently.
    count = sum(map(is_envelope_vector, ALL_VECTORS))
    assert count >= 20, f"only {count} envelope vectors in {VECTORS}"


def _small_success_vector():
    found = [read_vector(p) for p in ALL_VECTORS if is_envelope_vector(p)]
    found = [(f, env) for f, env in found if f["expect"] == "success"]
    if not found:
        pytest.fail("no success envelope vector to mutate")
    return min(found, key=lambda v: len(v[1]))


def test_every_byte_flip_is_rejected():
    f, env = _small_success_vector()
    K, password, kdf = b64u_decode(f["key"]), f.get("password"), f.get("kdf")
    decode(env, K, password, kdf)  # the unchanged envelope opens
    for i in range(len(env)):
        for mask in (0x01, 0x80, 0xFF):
            flipped = env[:i] + bytes([env[i] ^ mask]) + env[i + 1:]
            with pytest.raises(FormatError):
                decode(flipped, K, password, kdf)


def test_every_cut_and_extension_is_rejected():
    f, env = _small_success_vector()
    K, password, kdf = b64u_decode(f["key"]), f.get("password"), f.get("kdf")
    for cut in range(len(env)):
        with pytest.raises(FormatError):
            decode(env[:cut], K, password, kdf)
    for extra in (b"\x00", bytes(17), bytes(SEALED)):
        with pytest.raises(FormatError):
            decode(env + extra, K, password, kdf)


# ----------------------------------------- the decoder's own building blocks

def test_b64u_is_strict():
    assert b64u_decode("") == b""
    assert b64u_decode("AQ") == b"\x01"
    assert b64u_decode("-_8") == b"\xfb\xff"
    for bad in ("AQ==", "AQ=", "A", "AR", "+/8", "AQ ", " AQ", "AQ\n", "A\u0661"):
        with pytest.raises(ValueError):
            b64u_decode(bad)


def test_kdf_parameters():
    salt = b64u_encode(bytes(range(16)))
    assert parse_kdf(f"argon2id13; ops=3; mem=67108864; salt={salt}") == (3, 67108864, bytes(range(16)))
    assert parse_kdf(f"argon2id13; ops=10; mem=1073741824; salt={salt}")[:2] == (10, 1 << 30)
    assert parse_kdf(f"argon2id13; ops=1; mem=8192; salt={salt}")[:2] == (1, 8192)
    refused = [
        f"argon2i13; ops=3; mem=67108864; salt={salt}",         # another algorithm
        f"argon2id13; ops=0; mem=67108864; salt={salt}",
        f"argon2id13; ops=11; mem=67108864; salt={salt}",
        f"argon2id13; ops=03; mem=67108864; salt={salt}",       # leading zero
        f"argon2id13; ops=3; mem=7168; salt={salt}",            # under 8192
        f"argon2id13; ops=3; mem=1073742848; salt={salt}",      # over 1 GiB
        f"argon2id13; ops=3; mem=67108865; salt={salt}",        # not a multiple of 1024
        f"argon2id13; mem=67108864; ops=3; salt={salt}",        # wrong order
        f"argon2id13;ops=3;mem=67108864;salt={salt}",           # wrong separator
        f"argon2id13; ops=3; ops=3; mem=67108864; salt={salt}", # field twice
        f"argon2id13; ops=3; mem=67108864; salt={salt}=",       # padding
        f"argon2id13; ops=3; mem=67108864; salt={salt[:-1]}",   # 21 characters
        "argon2id13; ops=3; mem=67108864; salt=" + b64u_encode(bytes(17)),
        f"argon2id13; ops=3; mem=67108864; salt={salt}; ",
        "",
    ]
    for text in refused:
        with pytest.raises(FormatError) as caught:
            parse_kdf(text)
        assert caught.value.code == "bad-kdf-parameters"


def test_file_names():
    for good in ("a.txt", "...", "café", " x "):
        assert check_file_name(good.encode()) == good
    for bad in (b".", b"..", b"a/b", b"a\\b", b"a\x00", b"a\x1f", b"a\x7f",
                "a\u0085".encode(), b"\xff", b"\xed\xa0\x80", b"\xc0\xaf"):
        with pytest.raises(FormatError):
            check_file_name(bad)

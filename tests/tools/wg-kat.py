#!/usr/bin/python3
"""Known answers for tests/unit/test-wg-crypto.c, computed independently of
libfz: BLAKE2s and HMAC from Python's hashlib/hmac, X25519 and
ChaCha20-Poly1305 from python3-cryptography, XChaCha20-Poly1305 from
python3-nacl. Run by hand when a vector is added; the suite does not run
it. Prints C literals."""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt


def H(*parts):
    return hashlib.blake2s(b"".join(parts)).digest()


def MAC(key, data):
    return hashlib.blake2s(data, key=key, digest_size=16).digest()


def HMAC(key, data):
    return hmac.new(key, data, hashlib.blake2s).digest()


def KDF(n, key, data):
    t0 = HMAC(key, data)
    out, prev = [], b""
    for i in range(1, n + 1):
        prev = HMAC(t0, prev + bytes([i]))
        out.append(prev)
    return out


def pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def DH(priv, peer):
    return X25519PrivateKey.from_private_bytes(priv).exchange(
        X25519PublicKey.from_public_bytes(peer))


def AEAD(key, counter, pt, ad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", counter), pt, ad)


def c_hex(name, b):
    s = b.hex()
    lines = [s[i:i + 64] for i in range(0, len(s), 64)]
    print("#define %s \\\n  " % name + " \\\n  ".join('"%s"' % l for l in lines))


# RFC 8439 2.8.2, checked against the RFC's own answer first.
key = bytes(range(0x80, 0xa0))
ad = bytes.fromhex("50515253c0c1c2c3c4c5c6c7")
pt = (b"Ladies and Gentlemen of the class of '99: If I could offer you only one "
      b"tip for the future, sunscreen would be it.")
rfc = ChaCha20Poly1305(key).encrypt(bytes.fromhex("070000004041424344454647"), pt, ad)
assert rfc[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
c_hex("RFC8439_CT", rfc)
# The same inputs in WireGuard's nonce form: 32 zero bits, then the counter.
c_hex("WG_NONCE_CT", AEAD(key, 0x4746454443424140, pt, ad))

# draft-irtf-cfrg-xchacha-03 A.3.1
xkey = bytes(range(0x80, 0xa0))
xnonce = bytes(range(0x40, 0x58))
xct = crypto_aead_xchacha20poly1305_ietf_encrypt(pt, ad, xnonce, xkey)
assert xct[-16:].hex() == "c0875924c1c7987947deafd8780acf49"
c_hex("XCHACHA_CT", xct)

# BLAKE2s over several blocks; HMAC and KDF on more than a block, and on
# the empty input the transport keys come from. Key 00..1f.
long_in = bytes(i & 0xff for i in range(200))
k32 = bytes(range(32))
c_hex("B2S_LONG", H(long_in))
c_hex("MAC_LONG", MAC(k32, long_in))
c_hex("HMAC_LONG", HMAC(k32, long_in))
for i, t in enumerate(KDF(3, k32, b"")):
    c_hex("KDF_EMPTY_%d" % (i + 1), t)

# WireGuard IKpsk2 (whitepaper 5.4.2-5.4.5), fixed keys and time.
def label(s):
    return hashlib.sha256(s.encode()).digest()

si, sr, ei, er, psk = (label("initiator static"), label("responder static"),
                       label("initiator ephemeral"), label("responder ephemeral"),
                       label("preshared key"))
Si, Sr, Ei, Er = pub(si), pub(sr), pub(ei), pub(er)
I_IDX, R_IDX = 0x11223344, 0x55667788
SECS = 1700000000  # wall clock 2023-11-14T22:13:20Z, no fraction
# TAI64N as wireguard-go and Linux write it: 2^62 + 10 (TAI - UTC in 1972).
ts = struct.pack(">QI", 0x400000000000000a + SECS, 0)

C = H(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")
Hh = H(C, b"WireGuard v1 zx2c4 Jason@zx2c4.com")
Hh = H(Hh, Sr)
C = KDF(1, C, Ei)[0]
Hh = H(Hh, Ei)
C, k = KDF(2, C, DH(ei, Sr))
enc_static = AEAD(k, 0, Si, Hh)
Hh = H(Hh, enc_static)
C, k = KDF(2, C, DH(si, Sr))
enc_ts = AEAD(k, 0, ts, Hh)
Hh = H(Hh, enc_ts)
init = struct.pack("<I", 1) + struct.pack("<I", I_IDX) + Ei + enc_static + enc_ts
init += MAC(H(b"mac1----", Sr), init) + b"\0" * 16
assert len(init) == 148

C = KDF(1, C, Er)[0]
Hh = H(Hh, Er)
C = KDF(1, C, DH(er, Ei))[0]
C = KDF(1, C, DH(er, Si))[0]
C, tau, k = KDF(3, C, psk)
Hh = H(Hh, tau)
empty = AEAD(k, 0, b"", Hh)
resp = struct.pack("<I", 2) + struct.pack("<II", R_IDX, I_IDX) + Er + empty
resp += MAC(H(b"mac1----", Si), resp) + b"\0" * 16
assert len(resp) == 92
t_send_i, t_recv_i = KDF(2, C, b"")

for n, v in (("SI", si), ("SR", sr), ("EI", ei), ("ER", er), ("PSK", psk),
             ("INITIATION", init), ("RESPONSE", resp), ("I_SEND", t_send_i),
             ("I_RECV", t_recv_i),
             ("FIRST_DATA", struct.pack("<II", 4, R_IDX) + struct.pack("<Q", 0)
              + AEAD(t_send_i, 0, b"", b""))):
    c_hex("HS_" + n, v)

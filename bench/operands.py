#!/usr/bin/env python3
"""Writes the modexp operands shared by compare.rs and openssl_modexp.c (fixed, derived from
SHA-512 so anyone can regenerate them): the 1536-bit MODP prime p (RFC 3526 group 5), a base in
the order-q subgroup, a 320-bit and a 1536-bit exponent, and the expected results."""
import hashlib
import sys

P = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E34"
    "04DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6"
    "F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A6916"
    "3FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA237327"
    "FFFFFFFFFFFFFFFF", 16)


def expand(label: str, bits: int) -> int:
    out = b""
    i = 0
    while len(out) * 8 < bits:
        out += hashlib.sha512(f"offrecord-bench {label} {i}".encode()).digest()
        i += 1
    value = int.from_bytes(out, "big") >> (len(out) * 8 - bits)
    return value | (1 << (bits - 1))  # full length


base = pow(2, expand("base", 320), P)
e320 = expand("e320", 320)
e1536 = expand("e1536", 1536) % P
with open(sys.argv[1], "w") as f:
    for name, value in [
        ("p", P),
        ("base", base),
        ("e320", e320),
        ("e1536", e1536),
        ("expect320", pow(base, e320, P)),
        ("expect1536", pow(base, e1536, P)),
    ]:
        f.write(f"{name} {value:X}\n")

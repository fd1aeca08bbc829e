"""eSSP: the encryption layer of SSP (sans-IO). ITL GA138 section "Encryption" / GA02204.

Key negotiation (Diffie-Hellman over 64-bit numbers, all sent as 8 bytes little-endian):

1. host -> SET_GENERATOR (0x4A) g, a prime; host -> SET_MODULUS (0x4B) p, a prime;
2. host -> REQUEST_KEY_EXCHANGE (0x4C) with its intermediate key A = g^a mod p; the slave
   answers OK + its intermediate key B = g^b mod p;
3. both compute the negotiated key K = B^a mod p = A^b mod p.

The AES-128 key is the 64-bit fixed key (default 0x0123456701234567; set per unit by the
operator) in the low 8 bytes, then K in the high 8 bytes, both little-endian.

An encrypted packet's SSP data is ``STEX (0x7E)`` followed by AES-128-ECB of::

    eLENGTH (1) | eCOUNT (4, LE) | DATA (eLENGTH) | PACKING (random) | eCRC (2, LE)

PACKING makes the whole a multiple of 16 bytes; eCRC is the SSP CRC (0x8005/0xFFFF) over
eLENGTH..PACKING. eCOUNT counts the encrypted packets since the key exchange: the slave rejects a
packet whose count is not the one it expects (replay), and both sides step it after each
exchange. The outer SSP packet (SEQ/ID, LENGTH, CRC, stuffing) wraps the STEX block unchanged.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from drivers.base.errors import FrameError
from drivers.bill_acceptor.ssp.frames import crc16_ssp

__all__ = ["DEFAULT_FIXED_KEY", "STEX", "EsspKey", "KeyExchange", "is_probable_prime", "random_prime"]

STEX = 0x7E
DEFAULT_FIXED_KEY = 0x0123456701234567
_BLOCK = 16


def is_probable_prime(n: int, rounds: int = 24) -> bool:
    """Miller-Rabin (the generator and modulus must be primes)."""
    if n < 4:
        return n in (2, 3)
    if n % 2 == 0:
        return False
    d, r = n - 1, 0
    while d % 2 == 0:
        d //= 2
        r += 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def random_prime(bits: int = 63) -> int:
    while True:
        n = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        if is_probable_prime(n):
            return n


@dataclass
class KeyExchange:
    """One side of the Diffie-Hellman exchange."""

    generator: int
    modulus: int
    secret: int = field(default_factory=lambda: secrets.randbits(62) | 1)

    def __post_init__(self) -> None:
        for name, value in (("generator", self.generator), ("modulus", self.modulus)):
            if not 0 < value < 1 << 64 or not is_probable_prime(value):
                raise ValueError(f"{name} must be a prime below 2**64")

    @property
    def intermediate(self) -> int:
        return pow(self.generator, self.secret, self.modulus)

    def shared(self, other_intermediate: int) -> int:
        return pow(other_intermediate, self.secret, self.modulus)


@dataclass
class EsspKey:
    """An established eSSP session: the AES key and the packet counter."""

    negotiated: int
    fixed: int = DEFAULT_FIXED_KEY
    count: int = 0

    @property
    def aes_key(self) -> bytes:
        return self.fixed.to_bytes(8, "little") + self.negotiated.to_bytes(8, "little")

    def _cipher(self) -> Cipher[modes.ECB]:
        return Cipher(algorithms.AES(self.aes_key), modes.ECB())  # ECB: what the protocol specifies

    def wrap(self, data: bytes, count: int | None = None, *, packing: bytes | None = None) -> bytes:
        """``STEX + AES(eLENGTH eCOUNT DATA PACKING eCRC)`` for SSP data ``data``."""
        n = self.count if count is None else count
        head = bytes([len(data)]) + n.to_bytes(4, "little") + data
        pad = (-(len(head) + 2)) % _BLOCK
        head += packing[:pad].ljust(pad, b"\0") if packing is not None else os.urandom(pad)
        plain = head + crc16_ssp(head).to_bytes(2, "little")
        enc = self._cipher().encryptor()
        return bytes([STEX]) + enc.update(plain) + enc.finalize()

    def unwrap(self, data: bytes) -> tuple[bytes, int]:
        """The inner data and its eCOUNT.

        Raises:
            FrameError: not an STEX block, bad length, or eCRC mismatch (wrong key or corrupt).
        """
        if not data or data[0] != STEX:
            raise FrameError("not an encrypted (STEX) packet")
        body = data[1:]
        if not body or len(body) % _BLOCK:
            raise FrameError(f"encrypted block of {len(body)} bytes is not a multiple of 16")
        dec = self._cipher().decryptor()
        plain = dec.update(body) + dec.finalize()
        crc = int.from_bytes(plain[-2:], "little")
        if crc != crc16_ssp(plain[:-2]):
            raise FrameError("eCRC mismatch: wrong key or corrupt packet")
        length = plain[0]
        if 5 + length > len(plain) - 2:
            raise FrameError(f"eLENGTH {length} exceeds the block")
        return bytes(plain[5: 5 + length]), int.from_bytes(plain[1:5], "little")

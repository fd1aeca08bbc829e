"""Checksums used by the peripheral protocols. Pure functions, one per named algorithm."""

from __future__ import annotations


def xor8(data: bytes) -> int:
    """XOR of every byte (the ID-card SAM protocol's check byte; CRT's BCC)."""
    acc = 0
    for b in data:
        acc ^= b
    return acc


def crc16_kermit(data: bytes) -> int:
    """CRC-16/KERMIT (poly 0x1021 reflected = 0x8408, init 0, no xorout).

    JCM ID003 sends the result little-endian. Check value for b"123456789" is 0x2189.
    """
    crc = 0
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection). Check: 0x29B1."""
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def sum8(data: bytes) -> int:
    """Sum of bytes modulo 256."""
    return sum(data) & 0xFF

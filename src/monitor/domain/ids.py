"""UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then randomness.

Python 3.11 has no uuid7 and PostgreSQL 15 no uuidv7(); these few lines keep
the layout exact and the randomness an explicit input.
"""

from __future__ import annotations

import uuid

RANDOM_BYTES = 10  # 74 random bits are used: 12 in rand_a, 62 in rand_b


def uuid7(unix_ms: int, random_bytes: bytes) -> uuid.UUID:
    if not 0 <= unix_ms < 1 << 48:
        raise ValueError("unix_ms must fit in 48 bits")
    if len(random_bytes) != RANDOM_BYTES:
        raise ValueError(f"need {RANDOM_BYTES} random bytes")
    randomness = int.from_bytes(random_bytes, "big")
    rand_a = randomness >> 68 & 0xFFF
    rand_b = randomness & (1 << 62) - 1
    value = unix_ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def uuid7_unix_ms(value: uuid.UUID) -> int:
    return value.int >> 80

"""Deterministic pseudo-random draws keyed by integers.

Every value the sandbox market shows is a pure function of (seed, what, where), so the
same seed and tick always give the same answer, without any stored state.
"""

import random
import uuid

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MUL_A = 0xBF58476D1CE4E5B9
_MUL_B = 0x94D049BB133111EB
_UNIT_SCALE = float(1 << 53)


def mix(*parts: int) -> int:
    """Fold integers into one well-scrambled 64-bit value (splitmix64's finaliser)."""
    h = _GOLDEN
    for part in parts:
        h = (h * _MUL_A + part) & _MASK64
    h = (h ^ (h >> 30)) * _MUL_A & _MASK64
    h = (h ^ (h >> 27)) * _MUL_B & _MASK64
    return h ^ (h >> 31)


def unit(*parts: int) -> float:
    """A float in [0, 1) determined by `parts`."""
    return (mix(*parts) >> 11) / _UNIT_SCALE


def rng(*parts: int) -> random.Random:
    """A private generator for one record; seeded from `parts`, never from global state."""
    return random.Random(mix(*parts))


def stable_uuid(*parts: int) -> str:
    """A version-4-shaped UUID string derived from `parts`."""
    high = mix(*parts, 1)
    low = mix(*parts, 2)
    return str(uuid.UUID(int=(high << 64) | low, version=4))

"""Generated (not modelled) columns: ids, people, places, ages and constants.

Ids are a pure function of (global row index, the model's id key), so batches made independently never
repeat an id: numerical ids are `start + index`; a uuid holds a keyed bijection of the index in its low 62
bits (the rest is a keyed hash, with the version-4 and variant bits set); a pattern id is a keyed bijection
of the index onto the pattern's space (Feistel rounds with cycle walking), written with its placeholders:
`{digits:n}` 0-9, `{letters:n}` A-Z, `{hex:n}` 0-9a-f. People and places come from Faker seeded from the
generator passed in, never from source values: a pool of `POOL_SIZE` values is drawn once, then rows pick
from it; the person columns of a row (names, e-mail) belong to one pool person, and likewise for places.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Dict, List, Tuple, Union

import numpy as np
import pandas as pd
from faker import Faker

from ..config.schema import ID_PATTERN_PLACEHOLDER, IdColumn, LocationColumn, PersonColumn
from .column_encoders import where

POOL_SIZE = 2000
_ALPHABETS = {"digits": "0123456789", "letters": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "hex": "0123456789abcdef"}
_MASK64 = (1 << 64) - 1
_BIJECTION_BITS = 62  # uniqueness is guaranteed for up to 2**62 rows


def _splitmix64(value: int) -> int:
    """A well-mixed 64-bit function of a Python int (used to derive round keys)."""
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _mix(values: np.ndarray, key: int) -> np.ndarray:
    """A keyed 64-bit hash of uint64 values (splitmix64 finaliser), vectorised."""
    values = values ^ np.uint64(key)
    values = (values ^ (values >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    values = (values ^ (values >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def keyed_permutation(index: np.ndarray, size: int, key: int, rounds: int = 4) -> np.ndarray:
    """A keyed bijection of [0, size) applied to `index`: balanced Feistel rounds over the smallest even
    number of bits covering `size`, cycle-walking values that land outside [0, size)."""
    half = max(1, (int(size - 1).bit_length() + 1) // 2)
    mask = np.uint64((1 << half) - 1)
    round_keys = [_splitmix64(key + round_number) for round_number in range(rounds)]

    def encrypt(values: np.ndarray) -> np.ndarray:
        left, right = values >> np.uint64(half), values & mask
        for round_key in round_keys:
            left, right = right, left ^ (_mix(right, round_key) & mask)
        return (left << np.uint64(half)) | right

    values = encrypt(np.asarray(index, dtype=np.uint64))
    outside = values >= np.uint64(size)
    while outside.any():
        values[outside] = encrypt(values[outside])
        outside = values >= np.uint64(size)
    return values


def _text_from_codepoints(codepoints: np.ndarray) -> pd.Series:
    """Rows of an (n, width) uint32 code-point matrix as strings."""
    width = codepoints.shape[1]
    fixed = np.ascontiguousarray(codepoints, dtype=np.uint32).view(f"<U{width}").ravel()
    return pd.Series(pd.array(fixed.astype(object), dtype="str"))


def _digits(values: np.ndarray, radix: int, width: int) -> np.ndarray:
    """(n, width) digits of `values` in base `radix`, most significant first."""
    out = np.empty((len(values), width), dtype=np.uint64)
    remaining = values.copy()
    for position in range(width - 1, -1, -1):
        out[:, position] = remaining % np.uint64(radix)
        remaining //= np.uint64(radix)
    return out


def pattern_parts(pattern: str) -> List[Tuple[str, str, int]]:
    """The pattern as (literal, alphabet name, width) pieces; the last piece may have width 0."""
    parts, position = [], 0
    for match in ID_PATTERN_PLACEHOLDER.finditer(pattern):
        parts.append((pattern[position : match.start()], match.group(1), int(match.group(2))))
        position = match.end()
    parts.append((pattern[position:], "digits", 0))
    return parts


def pattern_space(pattern: str) -> int:
    """How many distinct ids a pattern can hold."""
    size = 1
    for _, alphabet, width in pattern_parts(pattern):
        size *= len(_ALPHABETS[alphabet]) ** width
    return size


def pattern_ids(pattern: str, index: np.ndarray, key: int) -> pd.Series:
    """Ids of the given global row indexes: a keyed bijection of the index onto the pattern's space."""
    parts = pattern_parts(pattern)
    size = pattern_space(pattern)
    capacity = min(size, 1 << _BIJECTION_BITS)
    remaining = keyed_permutation(index, capacity, key)
    # Fill positions from the least significant: first with the bijection's digits, and once it is used up
    # (a space beyond 2**62), with a keyed hash of the index.
    columns: List[np.ndarray] = []
    used, position = 1, 0
    for literal, alphabet, width in reversed(parts):
        letters = np.array([ord(ch) for ch in _ALPHABETS[alphabet]], dtype=np.uint32)
        radix = len(letters)
        for _ in range(width):
            if used < capacity:
                digit, used = remaining % np.uint64(radix), used * radix
                remaining = remaining // np.uint64(radix)
            else:
                digit = _mix(np.asarray(index, dtype=np.uint64), _splitmix64(key + position)) % np.uint64(radix)
            position += 1
            columns.append(letters[digit.astype(np.int64)])
        for ch in reversed(literal):
            columns.append(np.full(len(index), ord(ch), dtype=np.uint32))
    if not columns:
        return pd.Series([pattern] * len(index), dtype="str")
    return _text_from_codepoints(np.column_stack(columns[::-1]))


def uuid_ids(index: np.ndarray, key: int) -> pd.Series:
    """Version-4-shaped uuids; the low 62 bits are a keyed bijection of the index, so they never repeat."""
    index = np.asarray(index, dtype=np.uint64)
    high = _mix(index, _splitmix64(key))
    high = (high & ~np.uint64(0xF000)) | np.uint64(0x4000)  # version 4
    low = keyed_permutation(index, 1 << _BIJECTION_BITS, key) | np.uint64(0b10 << 62)  # RFC 4122 variant
    hex_codes = np.array([ord(ch) for ch in "0123456789abcdef"], dtype=np.uint32)
    nibbles = np.concatenate([_digits(high, 16, 16), _digits(low, 16, 16)], axis=1).astype(np.int64)
    chars = hex_codes[nibbles]
    dash = np.full((len(index), 1), ord("-"), dtype=np.uint32)
    groups = [chars[:, 0:8], dash, chars[:, 8:12], dash, chars[:, 12:16], dash, chars[:, 16:20], dash, chars[:, 20:]]
    return _text_from_codepoints(np.concatenate(groups, axis=1))


def generate_ids(column: IdColumn, n_rows: int, start_index: int, key: int, table: str) -> pd.Series:
    """The id column for global rows [start_index, start_index + n_rows)."""
    index = np.arange(start_index, start_index + n_rows, dtype=np.int64)
    if column.format.value == "numerical":
        return pd.Series(index + column.start, name=column.name)
    if column.format.value == "uuid":
        return uuid_ids(index, key).rename(column.name)
    size = pattern_space(column.pattern)
    if start_index + n_rows > size:
        raise ValueError(
            f"{where(table, column.name)}: pattern '{column.pattern}' holds {size} distinct ids, "
            f"but rows up to {start_index + n_rows} were requested"
        )
    return pattern_ids(column.pattern, index, key).rename(column.name)


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def person_pool(locale: str, seed: int, size: int = POOL_SIZE) -> Dict[str, np.ndarray]:
    """`size` Faker people: first_name, last_name, full_name and email of each."""
    fake = Faker(locale)
    fake.seed_instance(seed)
    first = [fake.first_name() for _ in range(size)]
    last = [fake.last_name() for _ in range(size)]
    domains = [fake.free_email_domain() for _ in range(size)]
    emails = [f"{_ascii_word(f) or 'user'}.{_ascii_word(s) or 'name'}@{d}" for f, s, d in zip(first, last, domains)]
    full = [f"{f} {s}" for f, s in zip(first, last)]
    return {
        "first_name": np.array(first, dtype=object),
        "last_name": np.array(last, dtype=object),
        "full_name": np.array(full, dtype=object),
        "email": np.array(emails, dtype=object),
    }


def location_pool(locale: str, seed: int, size: int = POOL_SIZE) -> Dict[str, np.ndarray]:
    """`size` Faker places: city, postcode, street (one line) and country of each."""
    fake = Faker(locale)
    fake.seed_instance(seed)
    return {
        "city": np.array([fake.city() for _ in range(size)], dtype=object),
        "postcode": np.array([fake.postcode() for _ in range(size)], dtype=object),
        "street": np.array([fake.street_address().replace("\n", ", ") for _ in range(size)], dtype=object),
        "country": np.array([fake.country() for _ in range(size)], dtype=object),
    }


class FakerPicks:
    """People and places of one batch: a pool per (kind, locale), seeded from `rng` when first needed, and
    one pool row per table row, shared by the columns of that kind and locale."""

    def __init__(self, n_rows: int, rng: np.random.Generator) -> None:
        self.n_rows = n_rows
        self.rng = rng
        self._pools: Dict[Tuple[str, str], Tuple[Dict[str, np.ndarray], np.ndarray]] = {}

    def column(self, column: Union[PersonColumn, LocationColumn]) -> pd.Series:
        key = (column.type, column.locale)
        if key not in self._pools:
            make_pool = person_pool if column.type == "person" else location_pool
            # no rows (a manifest sample turned off, an empty table): no Faker pool, the same draws from rng
            pool = make_pool(column.locale, int(self.rng.integers(2**63)), size=POOL_SIZE if self.n_rows else 0)
            self._pools[key] = (pool, self.rng.integers(0, POOL_SIZE, self.n_rows))
        pool, rows = self._pools[key]
        return pd.Series(pd.array(pool[column.part.value], dtype="str").take(rows), name=column.name)


def ages(dob: np.ndarray, reference: date, name: str) -> pd.Series:
    """Whole years from each date of birth (datetime64, NaT for null) to `reference` (nullable Int64)."""
    null = np.isnat(dob)
    days = dob.astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    birth_year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    birth_month = months.astype(np.int64) % 12 + 1
    birth_day = (days - months).astype(np.int64) + 1
    before_birthday = (reference.month < birth_month) | ((reference.month == birth_month) & (reference.day < birth_day))
    years = reference.year - birth_year - before_birthday.astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(np.where(null, 0, years), null), name=name)


def constant(value, n_rows: int, name: str) -> pd.Series:
    """`value` in every row (null when the value is None)."""
    if value is None:
        return pd.Series([None] * n_rows, name=name, dtype=object)
    if isinstance(value, str):
        return pd.Series(pd.array([value], dtype="str").take(np.zeros(n_rows, dtype=np.int64)), name=name)
    return pd.Series(np.full(n_rows, value), name=name)


"""SCP-ECG sample coding: Huffman tables (Section 2), difference coding, bimodal compression.

Everything here works on one lead's bytes and says exactly how many samples it must produce, so
decoding is bounded: a stream that runs out before the declared count, a code missing from the
table, or data left over after the declared count is an :class:`ECGFormatError`, never a shorter
or longer lead.

Bit order: codes are read most significant bit first. A table entry (EN 1064 Section 2) is
``prefix bits, total bits, table-mode switch, base value (int16), base code (uint32)``; the base
code is stored with its bits reversed (the code's first bit in the word's lowest bit). An entry
whose total length exceeds its prefix is followed by ``total - prefix`` bits holding the value in
two's complement (added to the base value, 0 in every known table). A table-mode switch of 0 means
"switch to table <base value>" and produces no sample.

The default table (Section 2 says 19999): 0 -> ``0``; +-n (n = 1..8) -> n ones, a zero, a sign bit
(0 = positive); anything else -> nine ones, then ``0`` and the value in 8 bits or ``1`` and the
value in 16 bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ecgcore.errors import ECGFormatError

DEFAULT_TABLE_MARKER = 19999  # Section 2 "number of tables" that selects the default table
_WINDOW = 32                  # bits looked at per step; a prefix is at most 16, extra bits at most 32
_MAX_PREFIX = 16


@dataclass(frozen=True)
class HuffmanCode:
    """One Section 2 table entry, with ``code`` already in reading (MSB-first) order."""

    prefix_bits: int
    total_bits: int
    mode: int          # 1: the entry is a value; 0: switch to table ``value`` (1-based)
    value: int
    code: int


@dataclass(frozen=True)
class HuffmanTable:
    """A table ready for decoding: a lookup on the next ``width`` bits -> entry index (-1: no code)."""

    codes: tuple[HuffmanCode, ...]
    width: int
    lookup: tuple[int, ...]

    @property
    def steps(self) -> tuple[tuple[int, int, int, int] | None, ...]:
        """The lookup resolved for the decoder: (total bits, extra bits, mode, value) or None."""
        found = self.__dict__.get("_steps")
        if found is None:
            resolved = [(c.total_bits, c.total_bits - c.prefix_bits, c.mode, c.value) for c in self.codes]
            found = tuple(resolved[i] if i >= 0 else None for i in self.lookup)
            object.__setattr__(self, "_steps", found)
        return found

    @classmethod
    def build(cls, codes: tuple[HuffmanCode, ...], what: str = "Huffman table") -> HuffmanTable:
        if not codes:
            raise ECGFormatError(f"{what} has no codes.")
        width = max(c.prefix_bits for c in codes)
        lookup = [-1] * (1 << width)
        for index, c in enumerate(codes):
            if not 1 <= c.prefix_bits <= _MAX_PREFIX:
                raise ECGFormatError(f"{what}: a code of {c.prefix_bits} bits (1-{_MAX_PREFIX} are supported).")
            extra = c.total_bits - c.prefix_bits
            if not 0 <= extra <= _WINDOW or c.mode not in (0, 1):
                raise ECGFormatError(
                    f"{what}: entry {index + 1} is malformed (prefix {c.prefix_bits} bits, total {c.total_bits} bits, "
                    f"mode {c.mode})."
                )
            if c.code >> c.prefix_bits:
                raise ECGFormatError(f"{what}: entry {index + 1}'s code is wider than its {c.prefix_bits} bits.")
            span = 1 << (width - c.prefix_bits)
            start = c.code << (width - c.prefix_bits)
            if any(slot != -1 for slot in lookup[start:start + span]):
                raise ECGFormatError(f"{what} is not a prefix code: entry {index + 1} overlaps another entry.")
            lookup[start:start + span] = [index] * span
        return cls(tuple(codes), width, tuple(lookup))


def _default_codes() -> tuple[HuffmanCode, ...]:
    codes = [HuffmanCode(1, 1, 1, 0, 0b0)]
    for n in range(1, 9):
        ones = (1 << n) - 1
        codes.append(HuffmanCode(n + 2, n + 2, 1, n, (ones << 2) | 0b00))
        codes.append(HuffmanCode(n + 2, n + 2, 1, -n, (ones << 2) | 0b01))
    nine_ones = (1 << 9) - 1
    codes.append(HuffmanCode(10, 18, 1, 0, (nine_ones << 1) | 0))
    codes.append(HuffmanCode(10, 26, 1, 0, (nine_ones << 1) | 1))
    return tuple(codes)


DEFAULT_TABLE = HuffmanTable.build(_default_codes(), "The default Huffman table")


@dataclass(frozen=True)
class Coding:
    """How a Section 5/6 stream is coded: ``tables`` empty means plain little-endian int16 samples."""

    tables: tuple[HuffmanTable, ...]
    description: str

    @property
    def huffman(self) -> bool:
        return bool(self.tables)


NO_HUFFMAN = Coding((), "none (16-bit samples)")
DEFAULT_CODING = Coding((DEFAULT_TABLE,), "default Huffman table")


def parse_section2(data: bytes) -> Coding:
    """Section 2's body: 19999 (default table), 0 (no Huffman coding) or the tables themselves."""
    if len(data) < 2:
        raise ECGFormatError("Section 2 (Huffman tables) is too short to say how many tables it holds.")
    n_tables = int.from_bytes(data[0:2], "little")
    if n_tables == DEFAULT_TABLE_MARKER:
        return DEFAULT_CODING
    if n_tables == 0:
        return NO_HUFFMAN
    if n_tables > 256:
        raise ECGFormatError(f"Section 2 declares {n_tables} Huffman tables; that is not a plausible table count.")
    offset = 2
    tables: list[HuffmanTable] = []
    for t in range(n_tables):
        what = f"Section 2, Huffman table {t + 1}"
        if offset + 2 > len(data):
            raise ECGFormatError(f"{what} is cut off: Section 2 ends after {len(data)} bytes.")
        n_codes = int.from_bytes(data[offset:offset + 2], "little")
        offset += 2
        if offset + 9 * n_codes > len(data):
            raise ECGFormatError(f"{what} declares {n_codes} codes ({9 * n_codes} bytes) but Section 2 ends first.")
        codes = []
        for _ in range(n_codes):
            prefix, total, mode = data[offset], data[offset + 1], data[offset + 2]
            value = int.from_bytes(data[offset + 3:offset + 5], "little", signed=True)
            stored = int.from_bytes(data[offset + 5:offset + 9], "little")
            if prefix > 32 or stored >> prefix:
                raise ECGFormatError(f"{what}: a base code is wider than its {prefix} prefix bits.")
            codes.append(HuffmanCode(prefix, total, mode, value, _reverse_bits(stored, prefix)))
            offset += 9
        tables.append(HuffmanTable.build(tuple(codes), what))
    for t, table in enumerate(tables):
        for c in table.codes:
            if c.mode == 0 and not 1 <= c.value <= len(tables):
                raise ECGFormatError(f"Section 2, Huffman table {t + 1} switches to table {c.value}, which does not exist.")
    return Coding(tuple(tables), f"{len(tables)} Huffman table(s) from Section 2")


def _reverse_bits(value: int, width: int) -> int:
    out = 0
    for _ in range(width):
        out = (out << 1) | (value & 1)
        value >>= 1
    return out


def _windows(data: bytes) -> list[int]:
    """For every bit position p of ``data``: the 32 bits starting at p (zeros past the end)."""
    raw = np.frombuffer(bytes(data) + b"\x00" * 5, dtype=np.uint8).astype(np.uint64)
    n = len(data)
    five = ((raw[0:n] << np.uint64(32)) | (raw[1:n + 1] << np.uint64(24)) | (raw[2:n + 2] << np.uint64(16))
            | (raw[3:n + 3] << np.uint64(8)) | raw[4:n + 4])
    shifts = np.uint64(8) - np.arange(8, dtype=np.uint64)  # bit p = 8*i + k: drop the low 8-k bits of 40
    windows = (five[:, None] >> shifts[None, :]) & np.uint64(0xFFFFFFFF)
    return windows.reshape(-1).tolist()


def decode_huffman(data: bytes, n_samples: int, tables: tuple[HuffmanTable, ...], *, what: str) -> np.ndarray:
    """Exactly ``n_samples`` values from a Huffman-coded stream (before undoing differences)."""
    n_bits = 8 * len(data)
    if n_samples > n_bits:
        raise ECGFormatError(
            f"{what}: {n_samples} samples are declared but the stream has only {len(data)} bytes "
            f"({n_bits} bits; every sample takes at least one bit)."
        )
    windows = _windows(data)
    out: list[int] = []
    append = out.append
    table_number = 1
    shift = _WINDOW - tables[0].width
    steps = tables[0].steps
    pos = 0
    t = 0
    while t < n_samples:
        if pos >= n_bits:
            raise ECGFormatError(f"{what}: the bit stream runs out after {t} of {n_samples} declared samples.")
        step = steps[windows[pos] >> shift]
        if step is None:
            raise ECGFormatError(
                f"{what}: bits at sample {t} match no code of Huffman table {table_number} (corrupt stream)."
            )
        total, extra, mode, value = step
        end = pos + total
        if end > n_bits:
            raise ECGFormatError(f"{what}: the bit stream runs out inside sample {t + 1} of {n_samples}.")
        if mode == 0:  # switch tables; consumes bits, yields no sample, so the loop stays bounded
            table_number = value
            shift = _WINDOW - tables[value - 1].width
            steps = tables[value - 1].steps
        elif extra:
            bits = windows[end - extra] >> (_WINDOW - extra)
            if bits >> (extra - 1):
                bits -= 1 << extra
            append(value + bits)
            t += 1
        else:
            append(value)
            t += 1
        pos = end
    if pos < n_bits and _nonzero_from(data, pos):
        raise ECGFormatError(
            f"{what}: the stream holds more data than its {n_samples} declared samples "
            f"({n_bits - pos} bits left over, not all zero padding)."
        )
    return np.array(out, dtype=np.int64)


def _nonzero_from(data: bytes, pos: int) -> bool:
    """Whether any bit from bit position ``pos`` on is set (zero bits are padding)."""
    byte, bit = divmod(pos, 8)
    if bit and data[byte] & ((1 << (8 - bit)) - 1):
        return True
    return any(data[byte + (1 if bit else 0):])


def decode_raw16(data: bytes, n_samples: int, *, what: str) -> np.ndarray:
    """Exactly ``n_samples`` little-endian int16 values (no Huffman coding)."""
    if 2 * n_samples > len(data):
        raise ECGFormatError(
            f"{what}: {n_samples} samples (16 bits each) are declared but the stream has only {len(data)} bytes."
        )
    return np.frombuffer(bytes(data[:2 * n_samples]), dtype="<i2").astype(np.int64)


def decode_stream(data: bytes, n_samples: int, coding: Coding, difference: int, *, what: str) -> np.ndarray:
    """One lead: decode ``n_samples`` values and undo the difference coding (0, 1 or 2)."""
    if difference not in (0, 1, 2):
        raise ECGFormatError(f"{what}: difference coding {difference} is not defined (0, 1 or 2).")
    if n_samples <= 0:
        raise ECGFormatError(f"{what}: {n_samples} samples declared.")
    if coding.huffman:
        values = decode_huffman(data, n_samples, coding.tables, what=what)
    else:
        values = decode_raw16(data, n_samples, what=what)
    return undifference(values, difference)


def undifference(values: np.ndarray, order: int) -> np.ndarray:
    """Undo first (``x[t] = d[t] + x[t-1]``) or second (``x[t] = d[t] + 2x[t-1] - x[t-2]``) differences.

    The first ``order`` values are stored as they are.
    """
    d = np.asarray(values, dtype=np.int64)
    if order == 0 or d.size <= order:
        return d.copy()
    if order == 1:
        return np.cumsum(d)
    slopes = np.empty_like(d)
    slopes[0] = d[0]
    slopes[1] = d[1] - d[0]
    slopes[2:] = d[2:]
    slopes[1:] = np.cumsum(slopes[1:])
    return np.cumsum(slopes)


def bimodal_stored_count(start: int, end: int, zones: list[tuple[int, int]], rate: int) -> int:
    """How many values a bimodally compressed lead holds: one per sample inside a protected zone,
    one per ``rate`` samples (a block, cut short at a zone or the lead's end) outside."""
    return len(_bimodal_layout(start, end, zones, rate))


def _bimodal_layout(start: int, end: int, zones: list[tuple[int, int]], rate: int) -> list[tuple[int, int]]:
    """(first, last) sample number that each stored value stands for, in order."""
    inside = sorted((max(a, start), min(b, end)) for a, b in zones if b >= start and a <= end and b >= a)
    layout: list[tuple[int, int]] = []
    t = start
    for a, b in inside + [(end + 1, end)]:
        while t < a:  # outside: blocks of `rate` samples, cut at the zone
            last = min(t + rate - 1, a - 1)
            layout.append((t, last))
            t = last + 1
        while t <= b:
            layout.append((t, t))
            t += 1
    return layout


def expand_bimodal(stored: np.ndarray, start: int, end: int, zones: list[tuple[int, int]], rate: int) -> np.ndarray:
    """Back to one value per sample: protected samples as stored, each block value (the block's mean)
    placed at the block's centre and linearly interpolated in between."""
    layout = _bimodal_layout(start, end, zones, rate)
    if len(layout) != len(stored):
        raise ECGFormatError(f"Bimodal data: {len(stored)} values for a layout of {len(layout)}.")
    centres = np.array([(a + b) / 2.0 for a, b in layout])
    samples = np.arange(start, end + 1, dtype=np.float64)
    return np.interp(samples, centres, np.asarray(stored, dtype=np.float64))


__all__ = [
    "DEFAULT_CODING",
    "DEFAULT_TABLE",
    "NO_HUFFMAN",
    "Coding",
    "HuffmanCode",
    "HuffmanTable",
    "bimodal_stored_count",
    "decode_huffman",
    "decode_raw16",
    "decode_stream",
    "expand_bimodal",
    "parse_section2",
    "undifference",
]

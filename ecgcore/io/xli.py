"""XLI, the waveform compression of Philips SierraECG / PhilipsECG XML (``compression="XLI"``).

Written from the public description of the format (sierra-ecg-tools by Christopher A. Watford, MIT;
its wiki and reference decoders); no code was copied. The base64-decoded ``<parsedwaveforms>`` bytes
hold one chunk per channel, back to back::

    offset 0  int32 LE  size of the compressed data that follows (bytes)
           4  int16 LE  unknown (1 in every file seen)
           6  int16 LE  start: the first "last delta" of the delta decoder below
           8  ...       LZW data, `size` bytes

1. **LZW** with fixed 10-bit codes read most-significant bit first. Codes 0-255 are the single bytes,
   new entries get 256, 257 ... up to 1022 and the dictionary then stays as it is (no reset);
   code 1023 ends the chunk. A code equal to the next free entry is the usual LZW special case
   (previous string + its first byte).
2. The output bytes are **split in halves**: the first half holds the high bytes and the second
   half the low bytes of 16-bit signed values ``d[0..n-1]`` (so ``2 n`` bytes for ``n`` samples).
3. **Delta decoding** (second differences): ``x[0] = d[0]``, ``x[1] = d[1]`` and for ``i >= 2``
   ``x[i] = 2 x[i-1] - x[i-2] - e[i]`` with ``e[2] = start`` and ``e[i] = d[i-1] - 64``.

The reader then rebuilds III, aVR, aVL and aVF, which Philips stores as residuals against I and II
(see :func:`ecgcore.io.philips_reader.reconstruct_limb_leads`).

Hostile input is refused with :class:`XLIError`, never decoded into a half-read signal: a chunk
header or chunk that runs past the data, a negative size, a code outside the dictionary, and a
stream that expands beyond the expected ``2 n`` bytes (decoding stops there, so output is bounded
by what the caller expects, not by what the stream asks for).
"""

from __future__ import annotations

import struct

import numpy as np

from ecgcore.errors import ECGFormatError

CODE_BITS = 10
END_CODE = (1 << CODE_BITS) - 1  # 1023 ends a chunk
MAX_CODE = END_CODE - 1  # 1022: the last dictionary entry
HEADER = struct.Struct("<ihh")  # size, unknown, start
DELTA_BIAS = 64


class XLIError(ECGFormatError):
    """XLI data that cannot be decoded (truncated, corrupt or hostile)."""


def lzw_codes(data: bytes) -> np.ndarray:
    """The 10-bit codes of ``data``, most significant bit first; trailing bits that do not fill a code are dropped."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
    count = bits.size // CODE_BITS
    weights = 1 << np.arange(CODE_BITS - 1, -1, -1, dtype=np.int64)
    return bits[: count * CODE_BITS].reshape(count, CODE_BITS).astype(np.int64) @ weights


def lzw_decode(data: bytes, max_bytes: int) -> bytes:
    """Decompress one chunk's LZW data; refuses codes outside the dictionary and output past ``max_bytes``."""
    table: list[bytes] = [bytes((i,)) for i in range(256)]
    size = 256  # entries in the table
    out = bytearray()
    produced = 0
    previous = b""
    for position, code in enumerate(lzw_codes(data).tolist()):
        if code < size:
            entry = table[code]
        elif code == END_CODE:
            break
        elif code == size and previous:
            entry = previous + previous[:1]
        else:
            raise XLIError(
                f"LZW code {code} (code {position + 1} of the chunk) points outside the dictionary "
                f"({size} entries so far); the data is corrupt."
            )
        out += entry
        produced += len(entry)
        if produced > max_bytes:
            raise XLIError(
                f"the compressed data expands beyond the {max_bytes} bytes expected; the data is corrupt "
                "or not XLI."
            )
        if previous and size <= MAX_CODE:
            table.append(previous + entry[:1])
            size += 1
        previous = entry
    return bytes(out)


def unpack_deltas(raw: bytes) -> np.ndarray:
    """16-bit signed values from the decompressed bytes: high bytes in the first half, low bytes in the second."""
    if len(raw) % 2:
        raise XLIError(f"a chunk decompresses to {len(raw)} bytes, not a whole number of 16-bit values.")
    half = len(raw) // 2
    octets = np.frombuffer(raw, dtype=np.uint8)
    words = (octets[:half].astype(np.uint16) << 8) | octets[half:].astype(np.uint16)
    return words.view(np.int16).astype(np.int64)


def decode_deltas(deltas: np.ndarray, start: int) -> np.ndarray:
    """Undo XLI's second-difference coding (see the module docstring); int64 sample values."""
    d = np.asarray(deltas, dtype=np.int64)
    n = d.size
    out = d.copy()
    if n <= 2:
        return out
    # x[i] - 2 x[i-1] + x[i-2] = -e[i]: two cumulative sums rebuild x from x[0], x[1] and e.
    e = np.empty(n - 2, dtype=np.int64)
    e[0] = start
    e[1:] = d[2 : n - 1] - DELTA_BIAS
    first_differences = (d[1] - d[0]) - np.cumsum(e)
    out[2:] = d[1] + np.cumsum(first_differences)
    return out


def decode_xli(data: bytes, n_channels: int, n_samples: int) -> list[np.ndarray]:
    """The first ``n_channels`` channels of an XLI stream, ``n_samples`` int64 counts each.

    Channels after ``n_channels`` (carts write 16, the last four holding only calibration marks)
    are not decoded. Every decoded channel must hold exactly ``n_samples`` samples.
    """
    if n_channels < 1 or n_samples < 1:
        raise XLIError(f"nothing to decode ({n_channels} channels of {n_samples} samples).")
    expected = 2 * n_samples
    channels: list[np.ndarray] = []
    offset = 0
    for index in range(n_channels):
        which = f"channel {index + 1} of {n_channels}"
        if offset + HEADER.size > len(data):
            if offset >= len(data):
                raise XLIError(
                    f"the XLI data holds {index} channel(s) but {n_channels} are declared; the waveform "
                    "data is truncated or the lead count is wrong."
                )
            raise XLIError(
                f"the chunk header of {which} is cut off ({len(data) - offset} of {HEADER.size} bytes); "
                "the waveform data is truncated."
            )
        size, _unknown, start = HEADER.unpack_from(data, offset)
        offset += HEADER.size
        if size <= 0:
            raise XLIError(f"the chunk of {which} declares a size of {size} bytes; the data is corrupt.")
        if offset + size > len(data):
            raise XLIError(
                f"the chunk of {which} declares {size} bytes but only {len(data) - offset} remain; the "
                "waveform data is truncated."
            )
        raw = lzw_decode(data[offset : offset + size], max_bytes=expected)
        offset += size
        if len(raw) != expected:
            raise XLIError(
                f"{which} decodes to {len(raw) / 2:g} samples but {n_samples} are declared; the "
                "waveform data is truncated or the declared duration is wrong."
            )
        channels.append(decode_deltas(unpack_deltas(raw), start))
    return channels


__all__ = ["XLIError", "decode_deltas", "decode_xli", "lzw_codes", "lzw_decode", "unpack_deltas"]

"""A flat container of named NumPy arrays for checkpoints, written without holding the GIL for long.

``np.savez`` builds a zip in memory: tens of MB of copies made while the GIL is held, which at 50,000
agents stalled the event loop (and every API request behind it) for 20-30 ms at a time on every periodic
checkpoint. Here the payload is one preallocated buffer and every array goes in with ``np.copyto``,
which releases the GIL for large copies (page faults of the fresh buffer included).

Layout: ``MAGIC`` (8 bytes), the header's length (8 bytes, little-endian), the header (JSON: name,
dtype, shape and offset of every array), then each array's bytes from a 64-byte-aligned offset. Only
booleans, integers and floats are accepted, in both directions: nothing is ever unpickled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

MAGIC = b"FAPACK1\n"
_ALIGN = 64
_KINDS = frozenset("biuf")


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


def pack_arrays(arrays: Mapping[str, np.ndarray]) -> memoryview:
    """Every array of ``arrays`` in one buffer (a read-only view of it, usable wherever bytes are)."""
    entries: list[tuple[str, str, list[int], int]] = []
    offset = 0
    for name, array in arrays.items():
        if array.dtype.kind not in _KINDS:
            raise ValueError(f"array {name!r} has dtype {array.dtype}: only bool, int and float are packed")
        entries.append((name, array.dtype.str, list(array.shape), offset))
        offset = _aligned(offset + array.nbytes)
    header = json.dumps({"arrays": entries}).encode()
    prefix = MAGIC + len(header).to_bytes(8, "little") + header
    start = _aligned(len(prefix))
    out = np.empty(start + offset, dtype=np.uint8)
    out[: len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    out[len(prefix) : start] = 0
    for (_, _, _, at), array in zip(entries, arrays.values(), strict=True):
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
        np.copyto(out[start + at : start + at + flat.size], flat)
    out.flags.writeable = False
    return out.data


def is_packed(payload: bytes | memoryview) -> bool:
    return bytes(payload[: len(MAGIC)]) == MAGIC


def unpack_arrays(payload: bytes | memoryview) -> dict[str, np.ndarray]:
    """The arrays of a :func:`pack_arrays` payload (read-only views into it); ``ValueError`` if malformed."""
    view = memoryview(payload).cast("B")
    if not is_packed(view) or len(view) < len(MAGIC) + 8:
        raise ValueError("not a packed array payload")
    size = int.from_bytes(view[len(MAGIC) : len(MAGIC) + 8], "little")
    if size > len(view) - len(MAGIC) - 8:
        raise ValueError("packed array header runs past the payload")
    try:
        entries = json.loads(bytes(view[len(MAGIC) + 8 : len(MAGIC) + 8 + size]))["arrays"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("packed array header is not valid") from exc
    start = _aligned(len(MAGIC) + 8 + size)
    arrays: dict[str, np.ndarray] = {}
    for name, dtype_str, shape, offset in entries:
        dtype = np.dtype(dtype_str)
        if dtype.kind not in _KINDS:
            raise ValueError(f"array {name!r} has dtype {dtype}: only bool, int and float are unpacked")
        count = int(np.prod(shape, dtype=np.int64))
        if count < 0 or offset < 0 or start + offset + count * dtype.itemsize > len(view):
            raise ValueError(f"array {name!r} runs past the payload")
        array = np.frombuffer(view, dtype=dtype, count=count, offset=start + offset)
        arrays[str(name)] = array.reshape(shape)
    return arrays

"""The checkpoint container: exact round trips, only plain numeric arrays, malformed payloads refused."""

from __future__ import annotations

import numpy as np
import pytest

from freeagentics.services.runtime.array_pack import MAGIC, is_packed, pack_arrays, unpack_arrays


def test_arrays_of_every_plain_dtype_and_shape_come_back_exactly() -> None:
    rng = np.random.default_rng(0)
    arrays = {
        "qs": rng.random((7, 5)).astype(np.float32),
        "ids": rng.integers(0, 256, (7, 16)).astype(np.uint8),
        "ticks": rng.integers(-5, 5, 7),
        "running": rng.random(7) < 0.5,
        "empty": np.zeros((0, 3), dtype=np.float64),
        "scalar": np.array(3.5),
        "strided": rng.random((6, 4))[:, ::2],
    }
    payload = pack_arrays(arrays)
    assert is_packed(payload)
    assert bytes(payload[: len(MAGIC)]) == MAGIC
    back = unpack_arrays(bytes(payload))
    assert list(back) == list(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype
        assert back[name].shape == array.shape
        np.testing.assert_array_equal(back[name], array)


def test_object_arrays_are_refused_both_ways() -> None:
    with pytest.raises(ValueError, match="only bool, int and float"):
        pack_arrays({"bad": np.array([object()], dtype=object)})
    payload = bytearray(pack_arrays({"x": np.zeros(2, dtype=np.int64)}))
    patched = payload.replace(b'"<i8"', b'"|O8"', 1)
    assert patched != payload
    with pytest.raises(ValueError, match="only bool, int and float"):
        unpack_arrays(bytes(patched))


def test_truncated_or_foreign_payloads_are_refused() -> None:
    payload = bytes(pack_arrays({"x": np.arange(100, dtype=np.int64)}))
    with pytest.raises(ValueError, match="runs past"):
        unpack_arrays(payload[:-100])
    with pytest.raises(ValueError):
        unpack_arrays(b"PK\x03\x04 an npz")
    with pytest.raises(ValueError):
        unpack_arrays(MAGIC + (10**9).to_bytes(8, "little"))

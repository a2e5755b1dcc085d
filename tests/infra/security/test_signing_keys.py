"""Key dir: files 0600 in a 0700 dir, the newest key signs, rotation retires only expired keys, running key
rings notice changes, and permissive or hostile inputs are refused."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest

from freeagentics.infra.security.keys import (
    KID_PATTERN,
    KeyDirError,
    KeyRing,
    add_key,
    read_key_dir,
    retire_expired,
)


def test_added_keys_are_private_and_the_newest_signs(tmp_path) -> None:
    first = add_key(tmp_path / "keys", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    second = add_key(tmp_path / "keys", dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    assert KID_PATTERN.fullmatch(first.kid)
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in (tmp_path / "keys").iterdir())
    ring = KeyRing(tmp_path / "keys")
    assert ring.signing_key().kid == second.kid
    assert ring.verification_key(first.kid) is not None
    assert {key["kid"] for key in ring.jwks()["keys"]} == {first.kid, second.kid}
    assert all("d" not in key for key in ring.jwks()["keys"])


def test_retire_keeps_keys_until_their_successor_outlived_every_token(tmp_path) -> None:
    directory = tmp_path / "keys"
    old = add_key(directory, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    new = add_key(directory, dt.datetime(2026, 1, 10, tzinfo=dt.UTC))
    keep_for = dt.timedelta(days=7, minutes=15)
    assert retire_expired(directory, keep_for, now=dt.datetime(2026, 1, 17, tzinfo=dt.UTC)) == []
    assert retire_expired(directory, keep_for, now=dt.datetime(2026, 1, 18, tzinfo=dt.UTC)) == [old.kid]
    assert [key.kid for key in read_key_dir(directory)] == [new.kid]


def test_a_running_ring_picks_up_a_rotation(tmp_path) -> None:
    directory = tmp_path / "keys"
    add_key(directory)
    ring = KeyRing(directory)
    before = ring.signing_key().kid
    time.sleep(0.01)
    rotated = add_key(directory)
    os.utime(directory, ns=(time.time_ns(), time.time_ns()))
    assert ring.signing_key().kid == rotated.kid
    assert ring.verification_key(before) is not None


def test_a_world_readable_key_is_refused(tmp_path) -> None:
    key = add_key(tmp_path / "keys")
    (tmp_path / "keys" / f"{key.kid}.pem").chmod(0o644)
    with pytest.raises(KeyDirError, match="chmod 600"):
        read_key_dir(tmp_path / "keys")


@pytest.mark.parametrize(
    "kid", ["../../etc/passwd", "x' OR 1=1 --", "A" * 10_000, "", "20260101T000000000000Z-zzzzzzzz"]
)
def test_hostile_kids_never_touch_the_file_system(tmp_path, kid) -> None:
    add_key(tmp_path / "keys")
    ring = KeyRing(tmp_path / "keys")
    assert ring.verification_key(kid) is None


def test_an_empty_key_dir_has_no_signing_key(tmp_path) -> None:
    (tmp_path / "keys").mkdir()
    with pytest.raises(KeyDirError, match="keys rotate"):
        KeyRing.open(tmp_path / "keys", create_if_empty=False)
    assert KeyRing.open(tmp_path / "keys", create_if_empty=True).signing_key()


def test_public_keys_are_derived_once_and_match_the_private_key(tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = add_key(tmp_path / "keys")
    ring = KeyRing(tmp_path / "keys")
    loaded = ring.verification_key(key.kid)
    assert loaded is not None
    assert loaded.public_key is ring.verification_key(key.kid).public_key  # type: ignore[union-attr]
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert loaded.public_key.public_bytes(*raw) == key.private_key.public_key().public_bytes(*raw)


def test_a_deleted_key_stops_verifying_at_the_next_use(tmp_path) -> None:
    directory = tmp_path / "keys"
    old = add_key(directory, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    new = add_key(directory, dt.datetime(2026, 2, 1, tzinfo=dt.UTC))
    ring = KeyRing(directory)
    assert ring.verification_key(old.kid) is not None
    (directory / f"{old.kid}.pem").unlink()
    os.utime(directory, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert ring.verification_key(old.kid) is None
    assert ring.signing_key().kid == new.kid

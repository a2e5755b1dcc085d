"""Ed25519 signing keys in the key dir, one PEM file per key id, picked up by running processes.

- File names are ``<kid>.pem`` with ``kid = <UTC yyyymmddThhmmssffffff>Z-<8 hex>``; the newest key signs,
  every key in the dir verifies. Files are written with mode 0600 in a 0700 directory.
- A process re-reads the dir when its modification time changes (one ``stat`` of the dir per use, the
  keys themselves are parsed only on a change), so ``freeagentics keys rotate`` in another process, or a
  deleted key file, takes effect at the next request without a restart.
- :meth:`KeyRing.rotate` adds a key and deletes keys superseded longer ago than the longest token life plus
  leeway: no token they signed can still be valid.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.utils import base64url_encode

logger = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
KID_PATTERN = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{8}$")
_KID_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"


class KeyDirError(RuntimeError):
    """The key dir has no usable key, or a key file is unreadable or too permissive."""


@dataclass(frozen=True)
class SigningKey:
    kid: str
    created_at: dt.datetime
    private_key: Ed25519PrivateKey
    #: Derived once from ``private_key`` (every token verification uses it).
    public_key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "public_key", self.private_key.public_key())

    def jwk(self) -> dict[str, str]:
        raw = self.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": base64url_encode(raw).decode("ascii"),
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }


def new_kid(now: dt.datetime | None = None) -> str:
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return f"{moment.strftime(_KID_TIME_FORMAT)}-{secrets.token_hex(4)}"


def kid_created_at(kid: str) -> dt.datetime:
    return dt.datetime.strptime(kid.split("-", 1)[0], _KID_TIME_FORMAT).replace(tzinfo=dt.UTC)


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, pem)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    # Rename is atomic, so a reader never sees half a key.
    temporary.replace(path)


def _read_key(path: Path) -> SigningKey:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyDirError(f"{path}: mode {mode:o} lets other users read a private key; chmod 600 it")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyDirError(f"{path}: not an Ed25519 private key")
    kid = path.stem
    return SigningKey(kid=kid, created_at=kid_created_at(kid), private_key=key)


def read_key_dir(key_dir: Path) -> list[SigningKey]:
    """Every key in the dir, oldest first. Files not named like a key id are ignored."""
    if not key_dir.is_dir():
        return []
    keys = [_read_key(path) for path in key_dir.glob("*.pem") if KID_PATTERN.fullmatch(path.stem)]
    return sorted(keys, key=lambda key: key.created_at)


def add_key(key_dir: Path, now: dt.datetime | None = None) -> SigningKey:
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    kid = new_kid(now)
    private_key = Ed25519PrivateKey.generate()
    _write_private(key_dir / f"{kid}.pem", private_key)
    return SigningKey(kid=kid, created_at=kid_created_at(kid), private_key=private_key)


def retire_expired(key_dir: Path, keep_for: dt.timedelta, now: dt.datetime | None = None) -> list[str]:
    """Delete keys whose successor has signed for longer than ``keep_for``; returns the retired kids."""
    moment = now or dt.datetime.now(dt.UTC)
    keys = read_key_dir(key_dir)
    retired = []
    for older, newer in itertools.pairwise(keys):
        if newer.created_at + keep_for < moment:
            (key_dir / f"{older.kid}.pem").unlink(missing_ok=True)
            retired.append(older.kid)
    return retired


class KeyRing:
    """The keys of one process, re-read whenever the key dir changes."""

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self._key_dir_path = os.fspath(key_dir)  # os.stat on a str: no pathlib work per request
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._keys: dict[str, SigningKey] = {}
        self._signing: SigningKey | None = None
        self._refresh()

    @classmethod
    def open(cls, key_dir: Path, *, create_if_empty: bool) -> KeyRing:
        if create_if_empty and not read_key_dir(key_dir):
            created = add_key(key_dir)
            logger.info(
                "signing_key_created", extra={"fields": {"kid": created.kid, "key_dir": str(key_dir)}}
            )
        ring = cls(key_dir)
        if ring._signing is None:
            raise KeyDirError(f"no signing key in {key_dir}; create one with `freeagentics keys rotate`")
        return ring

    def _dir_stamp(self) -> int | None:
        try:
            return os.stat(self._key_dir_path).st_mtime_ns
        except FileNotFoundError:
            return None

    def _refresh(self) -> None:
        stamp = self._dir_stamp()
        if stamp == self._stamp and self._keys:
            return
        with self._lock:
            keys = read_key_dir(self.key_dir)
            if not keys and self._keys:
                # A dir emptied by mistake must not lock everyone out mid-flight; keep what we had.
                logger.error("key_dir_empty: keeping the keys already loaded")
                return
            self._keys = {key.kid: key for key in keys}
            self._signing = keys[-1] if keys else None
            self._stamp = stamp

    def signing_key(self) -> SigningKey:
        self._refresh()
        if self._signing is None:
            raise KeyDirError(f"no signing key in {self.key_dir}")
        return self._signing

    def verification_key(self, kid: str) -> SigningKey | None:
        if not KID_PATTERN.fullmatch(kid):
            return None
        self._refresh()
        return self._keys.get(kid)

    def jwks(self) -> dict[str, Any]:
        self._refresh()
        return {"keys": [key.jwk() for key in self._keys.values()]}

    @property
    def kids(self) -> list[str]:
        self._refresh()
        return list(self._keys)

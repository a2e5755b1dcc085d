"""JWT access and refresh tokens (RFC 8725): EdDSA only, ``kid`` required, explicit types, all claims checked.

The algorithm is pinned by the key, never read from the token: ``alg`` must equal the key's algorithm, so
``none`` in any case and HS256 "signed" with the public key are both refused before any signature check.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import jwt

from freeagentics.infra.security.keys import ALGORITHM, KeyRing
from freeagentics.services.auth.ports import InvalidTokenError, TokenClaims, TokenType

#: Header ``typ`` per token type (RFC 8725 §3.11, RFC 9068) so one kind can never pass for the other.
HEADER_TYPES = {TokenType.ACCESS: "at+jwt", TokenType.REFRESH: "rt+jwt"}
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "jti", "iss", "aud", "sub", "typ", "ver", "fam"]
MAX_TOKEN_BYTES = 4096


class JwtCodec:
    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str,
        audience: str,
        access_lifetime: dt.timedelta,
        refresh_lifetime: dt.timedelta,
        leeway_seconds: int,
    ) -> None:
        if leeway_seconds > 10:
            raise ValueError("leeway must be at most 10 seconds")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.lifetimes = {TokenType.ACCESS: access_lifetime, TokenType.REFRESH: refresh_lifetime}
        self.leeway_seconds = leeway_seconds

    @property
    def max_lifetime(self) -> dt.timedelta:
        return max(self.lifetimes.values())

    def issue(
        self, token_type: TokenType, user_id: uuid.UUID, family_id: str, token_version: int
    ) -> tuple[str, TokenClaims]:
        key = self.keys.signing_key()
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        expires = now + self.lifetimes[token_type]
        token_id = uuid.uuid4().hex
        payload = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(user_id),
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": token_id,
            "typ": token_type.value,
            "ver": token_version,
            "fam": family_id,
        }
        token = jwt.encode(
            payload,
            key.private_key,
            algorithm=ALGORITHM,
            headers={"kid": key.kid, "typ": HEADER_TYPES[token_type]},
        )
        claims = TokenClaims(
            token_id=token_id,
            token_type=token_type,
            user_id=user_id,
            family_id=family_id,
            token_version=token_version,
            issued_at=now,
            expires_at=expires,
        )
        return token, claims

    def decode(self, token: str, expected: TokenType) -> TokenClaims:
        if len(token) > MAX_TOKEN_BYTES:
            raise InvalidTokenError("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError("malformed token") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidTokenError("algorithm not allowed")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise InvalidTokenError("missing kid")
        key = self.keys.verification_key(kid)
        if key is None:
            raise InvalidTokenError("unknown kid")
        if header.get("typ") != HEADER_TYPES[expected]:
            raise InvalidTokenError(f"wrong token type (expected {expected.value})")
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_seconds,
                options={"require": REQUIRED_CLAIMS, "strict_aud": True},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidTokenError("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise InvalidTokenError("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise InvalidTokenError("wrong issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidTokenError(f"missing claim {exc.claim}") from None
        except jwt.InvalidSignatureError:
            raise InvalidTokenError("bad signature") from None
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"invalid token ({type(exc).__name__})") from None
        return _claims(payload, expected)


def _claims(payload: dict[str, Any], expected: TokenType) -> TokenClaims:
    if payload.get("typ") != expected.value:
        raise InvalidTokenError(f"wrong token type (expected {expected.value})")
    try:
        user_id = uuid.UUID(str(payload["sub"]))
        token_id = str(payload["jti"])
        family_id = str(payload["fam"])
        version = payload["ver"]
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("ver")
        if not (token_id.isalnum() and len(token_id) <= 64 and family_id.isalnum() and len(family_id) <= 64):
            raise ValueError("ids")
        issued = dt.datetime.fromtimestamp(int(payload["iat"]), dt.UTC)
        expires = dt.datetime.fromtimestamp(int(payload["exp"]), dt.UTC)
    except (ValueError, TypeError, KeyError):
        raise InvalidTokenError("malformed claims") from None
    return TokenClaims(
        token_id=token_id,
        token_type=expected,
        user_id=user_id,
        family_id=family_id,
        token_version=version,
        issued_at=issued,
        expires_at=expires,
    )

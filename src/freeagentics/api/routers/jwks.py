"""``/.well-known/jwks.json``: the public keys that verify this deployment's tokens (RFC 7517)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from freeagentics.api.dependencies import ContainerDep

router = APIRouter(tags=["auth"])


@router.get("/.well-known/jwks.json", summary="Public signing keys (JWKS)")
async def jwks(container: ContainerDep) -> JSONResponse:
    return JSONResponse(container.security.keys.jwks(), headers={"Cache-Control": "public, max-age=300"})

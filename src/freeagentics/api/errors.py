"""Every error the API returns has one machine-readable shape, mapped from exceptions in one place.

``{"error": {"code": "...", "message": "...", "details": [...]}, "request_id": "..."}``
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from freeagentics.domain.models import ModelValidationError
from freeagentics.domain.world import WorldValidationError
from freeagentics.services.agents import LimitExceededError, NotFoundError

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


class ApiError(Exception):
    """An error with an HTTP status, a stable code and optional structured details."""

    def __init__(
        self, status_code: int, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details or []


def error_body(request: Request, code: str, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    body["request_id"] = getattr(request.state, "request_id", None)
    return body


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "msg": str(error.get("msg", "")),
            "type": str(error.get("type", "")),
        }
        for error in exc.errors()
    ]


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(request, exc.code, exc.message, exc.details), status_code=exc.status_code)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES_BY_STATUS.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return JSONResponse(
        error_body(request, code, message), status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


async def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(
        jsonable_encoder(
            error_body(request, "validation_error", "Request is invalid", _validation_details(exc))
        ),
        status_code=422,
    )


async def _model_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelValidationError | WorldValidationError)
    return JSONResponse(
        jsonable_encoder(error_body(request, "validation_error", "Request is invalid", exc.as_dicts())),
        status_code=422,
    )


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFoundError)
    return JSONResponse(error_body(request, "not_found", f"{exc.kind} not found"), status_code=404)


async def _limit_exceeded(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body(request, "limit_exceeded", str(exc)), status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelValidationError, _model_invalid)
    app.add_exception_handler(WorldValidationError, _model_invalid)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(LimitExceededError, _limit_exceeded)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)

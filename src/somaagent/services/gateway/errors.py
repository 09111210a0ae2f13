"""JSON errors for every refusal, and the request body size limit.

Every error answer has the shape `{"error": {"code": ..., "message": ..., "field": ...}}`;
docs/operations.md lists the codes. Bad input is a 4xx naming the problem, never a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from somaagent.domain.errors import (
    BackendError,
    BackendTimeoutError,
    ConflictError,
    NotFoundError,
    SomaError,
    ValidationError,
)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """An answer other than success: status, stable code, message, optional field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    return {"error": body}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, field), status_code=status)


def _soma_status(exc: SomaError) -> tuple[int, str]:
    if isinstance(exc, ValidationError):
        return 422, "invalid_input"
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, ConflictError):
        return 409, "conflict"
    if isinstance(exc, BackendTimeoutError):
        return 504, "backend_timeout"
    if isinstance(exc, BackendError):
        return 503, "backend_unavailable"
    return 400, "refused"


async def _on_api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.field)


async def _on_soma_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SomaError)
    status, code = _soma_status(exc)
    return error_response(status, code, exc.message, getattr(exc, "field", None))


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "the request body is not valid JSON", "body")
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    return error_response(422, "invalid_input", f"{field}: {first.get('msg')}", field)


async def _on_http(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    field = "body" if exc.status_code == 413 else None
    return error_response(exc.status_code, code, str(exc.detail), field)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(SomaError, _on_soma_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)


class _BodyTooLarge(StarletteHTTPException):
    """Raised from `receive`; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body exceeds {max_bytes} bytes")


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, by header and by counting.

    POSTs to a path ending in one of `own_limit_suffixes` (file uploads) pass through: those
    routes count their body against their own limit while they read it."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, own_limit_suffixes: tuple[str, ...] = ("/attachments",)
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.own_limit_suffixes = own_limit_suffixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["method"] == "POST" and scope["path"].endswith(self.own_limit_suffixes)
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "payload_too_large", f"request body exceeds {self.max_bytes} bytes", "body"
        )
        await response(scope, receive, send)

"""Every refusal of the OpenAI-compatible API in OpenAI's error shape, never a stack trace.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "model",
               "code": "model_not_found"}}

The platform's own errors are translated here: an ApiError (a bad key: 401), a
ValidationError (400), a NotFoundError (404) and a BackendError (503, its details only in
the log, since they name hosts and ports).
"""

from __future__ import annotations

import structlog
from fastapi.responses import JSONResponse

from somaagent.domain.errors import (
    BackendError,
    BackendTimeoutError,
    NotFoundError,
    SomaError,
    ValidationError,
)
from somaagent.services.gateway.errors import ApiError
from somaagent.services.gateway.openai_schema import ErrorType, OpenAiError

log = structlog.get_logger(__name__)

_API_TYPES: dict[int, ErrorType] = {
    401: "authentication_error",
    403: "authentication_error",
    404: "not_found_error",
}
_API_CODES = {401: "invalid_api_key"}


def _from_api(exc: ApiError) -> OpenAiError:
    kind = _API_TYPES.get(exc.status, "invalid_request_error")
    return OpenAiError(
        exc.status, kind, _API_CODES.get(exc.status, exc.code), exc.message, exc.field
    )


def _from_soma(exc: SomaError) -> OpenAiError:
    if isinstance(exc, ValidationError):
        return OpenAiError(400, "invalid_request_error", "invalid_request", exc.message, exc.field)
    if isinstance(exc, NotFoundError):
        return OpenAiError(404, "not_found_error", "not_found", exc.message)
    if isinstance(exc, BackendError):
        log.warning("gateway.openai.backend_failed", error=exc.message)
        status = 504 if isinstance(exc, BackendTimeoutError) else 503
        return OpenAiError(
            status,
            "service_unavailable",
            "backend_unavailable",
            f"a service this request needs is unavailable ({type(exc).__name__}); "
            "try again shortly",
            retry_after_s=2,
        )
    return OpenAiError(400, "invalid_request_error", "refused", exc.message)


def as_openai(exc: OpenAiError | ApiError | SomaError) -> OpenAiError:
    if isinstance(exc, OpenAiError):
        return exc
    if isinstance(exc, ApiError):
        return _from_api(exc)
    return _from_soma(exc)


def openai_error_response(error: OpenAiError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s else None
    return JSONResponse(error.body(), status_code=error.status, headers=headers)

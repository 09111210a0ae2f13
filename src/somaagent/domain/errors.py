"""The error tree of SomaAgent.

Every error the product raises on purpose descends from SomaError and says whether
retrying the same operation may succeed.

    SomaError
    ├── ValidationError            bad input; names the field and the reason
    │   └── SchemaVersionError     an event version this code cannot read
    ├── NotFoundError              an id that does not exist (or is not yours)
    ├── ConflictError              optimistic concurrency lost (retriable)
    ├── SupersededError            a newer attempt of a turn's step took over from this one
    ├── PolicyDeniedError          a policy verdict said no
    ├── BackendError               a real server failed or is unreachable (retriable)
    │   ├── BackendUnavailableError
    │   └── BackendTimeoutError
    ├── ModelError                 the model server failed a request
    ├── ToolError                  a tool could not run (unknown tool, bad arguments)
    └── InfraError                 the local stack launcher could not start a service
"""

from __future__ import annotations


class SomaError(Exception):
    """Root of every error SomaAgent raises on purpose."""

    retriable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(SomaError):
    """Input that cannot be accepted; `field` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SchemaVersionError(ValidationError):
    """An event whose schema_version this code cannot read or upcast."""


class NotFoundError(SomaError):
    """A thing that does not exist, or that the caller may not see."""


class ConflictError(SomaError):
    """Optimistic concurrency lost: someone else wrote first. Retry after re-reading."""

    retriable = True


class SupersededError(SomaError):
    """A newer attempt of the same turn step owns the turn (this one was thought dead and its
    event redelivered): this attempt stops without writing or announcing anything."""


class PolicyDeniedError(SomaError):
    """A policy decision refused the action."""


class BackendError(SomaError):
    """A real backend (Kafka, PostgreSQL, Redis, OPA, OpenFGA, a model server) failed."""

    retriable = True


class BackendUnavailableError(BackendError):
    """The backend could not be reached."""


class BackendTimeoutError(BackendError):
    """The backend did not answer within its timeout."""


class ModelError(SomaError):
    """The model server refused or failed a request."""


class ToolError(SomaError):
    """A tool call that cannot run: unknown tool or invalid arguments."""


class InfraError(SomaError):
    """The local stack launcher could not install or start a service."""

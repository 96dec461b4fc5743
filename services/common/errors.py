"""The one root of domain errors.

Core and store code raise these; they know nothing about gRPC. The API layer turns them into
status codes with ``google.rpc`` details (see ``services.common.status``), and client wrappers
turn a downstream service's status back into the same classes, so an error keeps its meaning as it
crosses process boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request: its path (``agent.name``) and what is wrong with it."""

    field: str
    description: str


class AgentSuiteError(Exception):
    """Root of every error the suite raises on purpose.

    ``reason`` is a stable UPPER_SNAKE identifier (``google.rpc.ErrorInfo.reason``) and
    ``metadata`` carries machine-readable facts (for example the id of a running run).
    """

    def __init__(self, message: str, *, reason: str = "", metadata: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})


class NotFound(AgentSuiteError):
    """The resource does not exist, or belongs to another tenant."""

    def __init__(self, resource_type: str, resource_id: str, message: str | None = None):
        super().__init__(message or f"{resource_type} {resource_id!r} not found", reason="NOT_FOUND")
        self.resource_type = resource_type
        self.resource_id = resource_id


class AlreadyExists(AgentSuiteError):
    """A resource with the same identity already exists."""


class InvalidArgument(AgentSuiteError):
    """The request is malformed; ``violations`` name each bad field.

    Every error message of the suite reads "<subject>: <what is wrong>"; for a bad request the
    subjects are field paths, so the message is the violations themselves, joined by "; " (exactly
    what ``google.rpc.BadRequest`` lists): ``messages[0].content: must not be empty``.
    """

    def __init__(self, violations: list[FieldViolation]):
        if not violations:
            raise ValueError("an InvalidArgument names at least one bad field")
        super().__init__(violations_message(violations), reason="INVALID_ARGUMENT")
        self.violations = list(violations)

    @classmethod
    def field(cls, field_path: str, description: str) -> InvalidArgument:
        """A request with exactly one bad field."""
        return cls([FieldViolation(field_path, description)])


def violations_message(violations: list[FieldViolation]) -> str:
    """The one phrasing of a bad request: ``field: what is wrong``, joined by ``; ``."""
    return "; ".join(f"{v.field}: {v.description}" for v in violations)


class FailedPrecondition(AgentSuiteError):
    """The system is not in a state that allows the call (a stale epoch, a finished run)."""


class OutOfRange(AgentSuiteError):
    """A position past the end (a seq beyond a run's last event)."""


class Conflict(AgentSuiteError):
    """A concurrent change won (stale version, busy agent): retrying at a higher level may work."""


class ResourceExhausted(AgentSuiteError):
    """A quota or bounded queue is full."""


class Unauthenticated(AgentSuiteError):
    """No valid credentials came with the call."""


class PermissionDenied(AgentSuiteError):
    """The caller is known but may not do this."""


class Unavailable(AgentSuiteError):
    """A dependency (database, another service, the LLM provider) cannot be reached right now."""


class DeadlineExceeded(AgentSuiteError):
    """The call ran out of time."""


class Cancelled(AgentSuiteError):
    """The caller went away or cancelled."""


class Unimplemented(AgentSuiteError):
    """The RPC is part of the contract but not built yet."""


@dataclass(frozen=True)
class Validation:
    """Collects field violations and raises them together, so a caller fixes a request in one go."""

    violations: list[FieldViolation] = field(default_factory=list)

    def check(self, ok: bool, field_path: str, description: str) -> None:
        if not ok:
            self.violations.append(FieldViolation(field_path, description))

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)

"""One execution of a tool: what is sent into the sandbox, the limits it runs under, and its outcome."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime


class ExecutionStatus(enum.Enum):
    """How an execution ended (mirrors ``agentsuite.tools.v1.ExecutionStatus``)."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    KILLED = "killed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, kw_only=True)
class Limits:
    """Resource limits of one sandboxed call; the runner applies them with setrlimit before the
    tool's code runs, the supervisor enforces the wall clock and the output caps."""

    timeout_seconds: float
    cpu_seconds: int
    memory_bytes: int
    max_processes: int
    file_size_bytes: int
    open_files: int = 256
    """File descriptors per process, RLIMIT_NOFILE: without it a tool inherits the host's limit."""
    output_bytes: int
    """stdout and stderr kept, each; beyond it they are drained and dropped."""
    result_chars: int
    """Characters of the result returned; beyond it the result is cut."""

    @property
    def flood_bytes(self) -> int:
        """Output beyond which the call is killed instead of drained: keeps the service's CPU bounded."""
        return max(16 * self.output_bytes, 4 * 1024 * 1024)

    @property
    def result_bytes(self) -> int:
        """Bytes of the result read from the sandbox (a UTF-8 character is at most four)."""
        return 4 * self.result_chars + 64 * 1024


@dataclass(frozen=True, kw_only=True)
class Job:
    """What the runner inside the sandbox receives on its stdin."""

    source_code: str
    function_name: str
    arguments: dict
    environment: dict[str, str] = field(repr=False)
    """The granted secrets; nothing else of the service's environment."""
    limits: Limits

    def encode(self) -> bytes:
        return json.dumps(
            {
                "source": self.source_code,
                "function": self.function_name,
                "arguments": self.arguments,
                "env": self.environment,
                "limits": {
                    "cpu_seconds": self.limits.cpu_seconds,
                    "memory_bytes": self.limits.memory_bytes,
                    "max_processes": self.limits.max_processes,
                    "file_size_bytes": self.limits.file_size_bytes,
                    "open_files": self.limits.open_files,
                    "result_chars": self.limits.result_chars,
                },
            }
        ).encode()


@dataclass(frozen=True, kw_only=True)
class ExecutionResult:
    """The outcome the caller sees."""

    status: ExecutionStatus
    result_json: str = ""
    stdout: str = ""
    stderr: str = ""
    error_type: str = ""
    error_message: str = ""
    truncated: bool = False
    duration_seconds: float = 0.0


@dataclass(frozen=True)
class Claim:
    """The answer to a claim: exactly one of the three holds."""

    won: bool = False
    """The caller holds the claim and executes."""
    result: ExecutionResult | None = None
    """The call was executed before: its stored result."""
    held_until: datetime | None = None
    """Another claimant may still be executing it until then."""

"""Exit statuses of ``agentsuite``, one per kind of failure a script may want to tell apart, and the
error every command raises for a failure a user can cause (printed on stderr, never a traceback)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What ``agentsuite`` exits with."""

    OK = 0
    ERROR = 1
    """Anything else: a conflict, a refused change, a run that failed, a server error."""
    USAGE = 2
    """Bad arguments or input: unknown options, a malformed file, INVALID_ARGUMENT."""
    NOT_FOUND = 3
    """No agent, block, tool, archive, run or key of that name or id."""
    UNAVAILABLE = 4
    """The suite is down or cannot be reached, or one of its services is unavailable."""
    UNAUTHENTICATED = 5
    """No API key, or the key was refused (unknown or revoked)."""
    INTERRUPTED = 130
    """Stopped with Ctrl-C (128 + SIGINT, as shells report it)."""


class CliError(Exception):
    """A failure to report in one or a few lines on stderr, with its exit status."""

    def __init__(self, message: str, code: ExitCode = ExitCode.ERROR, *, details: tuple[str, ...] = ()):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details
        """Further lines (one per bad field, a hint)."""

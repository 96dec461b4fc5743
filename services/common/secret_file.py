"""Secrets a deployment sets in its environment, with a generated file as the laptop default."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from services.common.settings import SettingsError

log = logging.getLogger(__name__)


def configured_or_file(
    configured: str | None, path: Path, *, generate: Callable[[], str], variable: str
) -> str:
    """``configured`` when set; otherwise the content of ``path``, created (mode 0600) when missing.

    Replicas sharing ``path`` agree on the value: the first to create the file wins.
    """
    if configured:
        return configured.strip()
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Written whole under a private name, then linked into place: a replica starting at the
        # same moment sees either no file or the complete one, never an empty one.
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(generate() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another replica made it first
        else:
            log.warning(f"{variable} is not set: generated a secret file", extra={"path": str(path)})
        finally:
            draft.unlink()
    return path.read_text().strip()


INTERNAL_TOKEN_FILE = "internal.token"


MIN_INTERNAL_TOKEN = 32


def internal_token(configured: str | None, state_dir: Path) -> str:
    """The token backends show the gateway (see ``Settings.internal_token``).

    Raises :class:`SettingsError` when it is shorter than 32 characters: it lets its holder act for any
    tenant, so a guessable (or empty) one must stop the service at start-up.
    """
    token = configured_or_file(
        configured,
        state_dir / INTERNAL_TOKEN_FILE,
        generate=lambda: secrets.token_urlsafe(32),
        variable="AGENTSUITE_INTERNAL_TOKEN",
    )
    if len(token) < MIN_INTERNAL_TOKEN:
        raise SettingsError(
            f"AGENTSUITE_INTERNAL_TOKEN must be at least {MIN_INTERNAL_TOKEN} characters "
            '(make one with: python -c "import secrets; print(secrets.token_urlsafe(32))")'
        )
    return token

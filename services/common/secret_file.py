"""Secrets a deployment sets in its environment, with a generated file as the laptop default."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path

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
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another replica made it first
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(generate() + "\n")
            log.warning(f"{variable} is not set: generated a secret file", extra={"path": str(path)})
    return path.read_text().strip()


INTERNAL_TOKEN_FILE = "internal.token"


def internal_token(configured: str | None, state_dir: Path) -> str:
    """The token backends show the gateway (see ``Settings.internal_token``)."""
    return configured_or_file(
        configured,
        state_dir / INTERNAL_TOKEN_FILE,
        generate=lambda: secrets.token_urlsafe(32),
        variable="AGENTSUITE_INTERNAL_TOKEN",
    )

"""Choosing how tools run, once at start-up: bubblewrap when it works here, otherwise nothing,
unless an operator explicitly allowed unsandboxed execution."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile

from services.common.settings import Settings
from services.tools.core.execution import Limits
from services.tools.sandbox.layout import LayoutError, default_interpreter, discover
from services.tools.sandbox.pool import FreshSandboxes, probe
from services.tools.sandbox.process import BwrapLauncher, DirectLauncher

log = logging.getLogger(__name__)

MB = 1024 * 1024


def limits_from(settings: Settings) -> Limits:
    """The default limits of one call."""
    return Limits(
        timeout_seconds=settings.tools_default_timeout_seconds,
        cpu_seconds=max(1, settings.tools_cpu_seconds),
        memory_bytes=settings.tools_memory_mb * MB,
        max_processes=max(2, settings.tools_max_processes),
        file_size_bytes=settings.tools_file_size_mb * MB,
        open_files=max(16, settings.tools_max_open_files),
        output_bytes=settings.tools_output_limit_bytes,
        result_chars=settings.tools_result_char_limit,
    )


async def open_sandboxes(settings: Settings) -> tuple[FreshSandboxes | None, str]:
    """The sandboxes tools run in, or None and why tools cannot run."""
    interpreter = settings.tools_python or default_interpreter()
    try:
        layout = await asyncio.to_thread(discover, interpreter)
    except LayoutError as exc:
        return _fallback(settings, interpreter, str(exc))
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return _fallback(
            settings,
            layout.interpreter,
            "bubblewrap (bwrap) is not installed; install it (apt-get install bubblewrap) to run tools",
        )
    setpriv = shutil.which("setpriv") or "setpriv"
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        return _fallback(
            settings,
            layout.interpreter,
            "running as root needs setpriv (util-linux) to drop to an unprivileged uid",
        )
    launcher = BwrapLauncher(
        bwrap, layout, tmp_bytes=max(1, settings.tools_file_size_mb) * MB, setpriv=setpriv
    )
    problem = await probe(launcher)
    if problem is not None:
        return _fallback(settings, layout.interpreter, f"bubblewrap cannot run here: {problem}")
    log.info(
        "tools run in bubblewrap",
        extra={
            "interpreter": layout.interpreter,
            "read_only": list(layout.read_only),
            "warm": settings.tools_warm_sandboxes,
        },
    )
    return FreshSandboxes(launcher, warm=settings.tools_warm_sandboxes), ""


def _fallback(settings: Settings, interpreter: str, reason: str) -> tuple[FreshSandboxes | None, str]:
    if not settings.tools_allow_unsandboxed:
        log.error("tools cannot execute: %s (AGENTSUITE_TOOLS_ALLOW_UNSANDBOXED is off)", reason)
        return None, f"tool execution is unavailable: {reason}"
    message = (
        "UNSANDBOXED TOOL EXECUTION ENABLED (AGENTSUITE_TOOLS_ALLOW_UNSANDBOXED=1): tools run as this "
        "service's user, with its network and file access; only resource limits apply. Reason: %s"
    )
    for _ in range(3):  # loud on purpose: it must not go unnoticed in a log
        log.critical(message, reason)
    workdir = tempfile.mkdtemp(prefix="agentsuite-tools-")
    return FreshSandboxes(DirectLauncher(interpreter, workdir)), ""

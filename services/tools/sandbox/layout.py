"""Finds, once at start-up, which host paths the sandboxed interpreter needs.

The interpreter runs with ``-I -S`` (stdlib only), so the sandbox needs its binary, its standard
library directory and the directories of the shared libraries it and its extension modules load
(asked of ``ldd``). The host's top-level links (``/lib64 -> usr/lib64`` on merged-/usr systems)
are recreated so the ELF loader path in the binary still resolves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from services.tools.core.sandbox_policy import InterpreterLayout

_TOP_LEVEL_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_PATHS_SCRIPT = (
    "import json, sys, sysconfig;"
    "print(json.dumps({'stdlib': sysconfig.get_paths()['stdlib'],"
    " 'platstdlib': sysconfig.get_paths()['platstdlib'],"
    " 'dynload': sysconfig.get_config_var('DESTSHARED') or ''}))"
)


class LayoutError(RuntimeError):
    """The interpreter cannot be used in the sandbox; the message says why."""


def default_interpreter() -> str:
    """``/usr/bin/python3`` when present (a system interpreter outside any home or project), else the
    interpreter this service's virtualenv was made from."""
    if Path("/usr/bin/python3").exists():
        return "/usr/bin/python3"
    return getattr(sys, "_base_executable", sys.executable)


def discover(interpreter: str) -> InterpreterLayout:
    """The layout of ``interpreter``; LayoutError when it does not run or is not Python 3."""
    resolved = os.path.realpath(shutil.which(interpreter) or interpreter)
    try:
        answer = subprocess.run(
            [resolved, "-I", "-S", "-c", _PATHS_SCRIPT],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        paths = json.loads(answer.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        raise LayoutError(f"cannot run the tools interpreter {resolved!r}: {exc}") from None
    stdlib = {os.path.realpath(paths["stdlib"]), os.path.realpath(paths["platstdlib"])}
    if paths["dynload"]:
        stdlib.add(os.path.realpath(paths["dynload"]))
    libraries = _library_dirs([resolved, *_extension_modules(stdlib)])
    read_only = _outermost(stdlib | libraries)
    symlinks = tuple((os.readlink(link), link) for link in _TOP_LEVEL_LINKS if os.path.islink(link))
    return InterpreterLayout(interpreter=resolved, read_only=read_only, symlinks=symlinks)


def _extension_modules(directories: set[str]) -> list[str]:
    modules: list[str] = []
    for directory in directories:
        for root, dirs, files in os.walk(directory):
            dirs[:] = [d for d in dirs if d not in {"site-packages", "dist-packages", "test", "tests"}]
            modules += [os.path.join(root, f) for f in files if f.endswith(".so")]
    return modules


def _library_dirs(binaries: list[str]) -> set[str]:
    """Directories of every shared library the binaries load, including the ELF loader."""
    ldd = shutil.which("ldd")
    if ldd is None:  # no ldd: bind the usual library roots instead
        return {os.path.realpath(p) for p in ("/lib", "/lib64", "/usr/lib", "/usr/lib64") if os.path.isdir(p)}
    found: set[str] = set()
    for start in range(0, len(binaries), 64):
        try:
            output = subprocess.run(
                [ldd, *binaries[start : start + 64]], capture_output=True, text=True, timeout=30
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise LayoutError(f"ldd failed: {exc}") from None
        for line in output.splitlines():
            for word in line.split():
                if word.startswith("/") and not word.endswith(":"):
                    # Both the file's own directory and the one it is reached through (the loader
                    # is named /lib64/ld-linux-x86-64.so.2 inside every binary).
                    found.add(os.path.dirname(os.path.realpath(word)))
                    found.add(os.path.realpath(os.path.dirname(word)))
    return found


def _outermost(paths: set[str]) -> tuple[str, ...]:
    """The paths without those inside another of them (binding a parent covers its children)."""
    ordered = sorted(paths)
    kept: list[str] = []
    for path in ordered:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return tuple(kept)

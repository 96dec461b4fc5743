"""The sandbox policy: what a tool's process can see and do, as a bubblewrap command line.

- every namespace unshared: no network (only the sandbox's own loopback), its own pid space (the
  tool's pid 1 is bwrap's init; when it ends, the kernel kills everything left in the sandbox),
  its own IPC, UTS and user namespace, and no further user namespaces inside;
- an unprivileged uid/gid (65534) and no capabilities;
- a root made of nothing but read-only binds of the interpreter, its standard library and the
  shared libraries they load, the runner script, a minimal ``/dev`` and ``/proc``, and a private
  size-capped tmpfs ``/tmp``; no ``/etc``, no home, no project, no virtualenv;
- an environment cleared to PATH and LANG (the runner adds the granted secrets);
- ``--die-with-parent`` (the sandbox dies with the service) and ``--new-session`` (no TIOCSTI
  into the service's terminal).

Core logic: no I/O here; :mod:`services.tools.sandbox.layout` finds the paths.
"""

from __future__ import annotations

from dataclasses import dataclass

SANDBOX_UID = 65534
RUNNER_PATH = "/sandbox/runner.py"


@dataclass(frozen=True)
class InterpreterLayout:
    """The host paths a stdlib-only interpreter needs, found once at start-up."""

    interpreter: str
    """Absolute, symlinks resolved."""
    read_only: tuple[str, ...]
    """Directories and files bound read-only at the same path (stdlib, shared libraries)."""
    symlinks: tuple[tuple[str, str], ...] = ()
    """``(target, link)`` pairs recreating the host's top-level links such as ``/lib64 -> usr/lib64``."""


def bwrap_command(
    bwrap: str, layout: InterpreterLayout, *, runner: str, result_fd: int, tmp_bytes: int
) -> list[str]:
    """The argv that starts the runner in a fresh sandbox; the job follows on its stdin."""
    argv = [
        bwrap,
        "--unshare-all",
        "--unshare-user",
        "--disable-userns",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--setenv",
        "PATH",
        "/usr/bin:/bin",
        "--setenv",
        "LANG",
        "C.UTF-8",
    ]
    for path in layout.read_only:
        argv += ["--ro-bind", path, path]
    for target, link in layout.symlinks:
        argv += ["--symlink", target, link]
    argv += ["--ro-bind", layout.interpreter, layout.interpreter]
    argv += ["--ro-bind", runner, RUNNER_PATH]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--size", str(tmp_bytes), "--tmpfs", "/tmp", "--chdir", "/tmp"]
    argv += runner_command(layout.interpreter, RUNNER_PATH, result_fd)
    return argv


def runner_command(interpreter: str, runner: str, result_fd: int) -> list[str]:
    """The interpreter running the runner: isolated (-I: no user site, no PYTHON* variables, no
    script directory on sys.path) and without site-packages (-S)."""
    return [interpreter, "-I", "-S", runner, str(result_fd)]

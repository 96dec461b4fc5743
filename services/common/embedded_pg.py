"""The embedded PostgreSQL 16 + pgvector used when ``DATABASE_URL`` is unset.

It runs the binaries bundled in the ``pgserver`` wheel ourselves rather than through
``pgserver.get_server`` so that we choose the listen address (127.0.0.1 on a port of our own),
turn on password authentication, and never widen the permissions of the directories above the
data directory. PostgreSQL refuses to run as root, so as root the server runs as the system user
``agentsuite-pg`` (created on first use) which owns only the data directory.

Several processes may ask for the same server at once (``agentsuite up`` and a service started on
its own); a file lock makes initialisation and start-up happen once.

The server always listens on the port chosen at initialisation (``postgres.json``): services that
are running keep their ``DATABASE_URL`` across a restart of the server. The process that started
the server owns it (``postgres.owner``: pid and start time); ``release`` stops the server only for
its owner, and a server whose owner has exited may be adopted, so nobody stops a server another
live process started.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from services.common.ports import free_port, listener_of, port_is_free

log = logging.getLogger(__name__)

SYSTEM_USER = "agentsuite-pg"
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
DATABASE = "agentsuite"
SUPERUSER = "agentsuite"


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A handle on the embedded server living in ``state_dir/postgres``."""

    state_dir: Path
    fast: bool = False
    """Turn off fsync and synchronous commits (tests and benchmarks only: a crash of the machine,
    or of PostgreSQL itself, can lose the last commits it acknowledged)."""
    survives_crash: bool = False
    """With ``fast``, keep synchronous commits: a crash of PostgreSQL itself (not of the machine)
    then loses no acknowledged commit. For tests that crash the server on purpose."""

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "postgres"

    @property
    def _info_file(self) -> Path:
        return self.state_dir / "postgres.json"

    @property
    def _owner_file(self) -> Path:
        return self.state_dir / "postgres.owner"

    def ensure_running(self, *, adopt: bool = False) -> str:
        """Initialise the cluster if needed, start it if stopped, and return its URL.

        Starting makes this process the server's owner. With ``adopt``, a server left running by an
        owner that has exited (a crashed ``agentsuite up``, a service started alone) becomes this
        process's too, so that its ``release`` stops it.
        """
        # As root, others may traverse (not list) the state directory: the server user must reach
        # its data directory inside. Every secret file in it is mode 0600.
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.state_dir.chmod(0o711)
        with self._lock():
            info = self._read_info()
            if info is None:
                info = self._initdb()
            elif not self._is_running():
                self._start(info)
            elif adopt and not _alive(self._read_owner()):
                self._write_owner()
            return _url(info)

    def running_url(self) -> str | None:
        """The URL of the server if it runs, without starting it (None when stopped or never set up)."""
        if not self.state_dir.is_dir():
            return None
        with self._lock():
            info = self._read_info()
            return _url(info) if info is not None and self._is_running() else None

    def port(self) -> int | None:
        """The port the server listens on whenever it runs (None before initialisation)."""
        info = self._read_info()
        return info["port"] if info is not None else None

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server if it runs, whoever started it: fast shutdown (open transactions roll
        back), or immediate (as a crash: no checkpoint, recovery at the next start)."""
        with self._lock():
            if self._is_running():
                self._pg_ctl("stop", "-m", "immediate" if immediate else "fast", "-w", "-t", "30")
            self._owner_file.unlink(missing_ok=True)

    def release(self) -> bool:
        """Stop the server if this process owns it (started or adopted it); True when stopped."""
        with self._lock():
            owner = self._read_owner()
            if owner is None or owner[0] != os.getpid() or not _alive(owner) or not self._is_running():
                return False
            self._pg_ctl("stop", "-m", "fast", "-w", "-t", "30")
            self._owner_file.unlink(missing_ok=True)
            return True

    def _initdb(self) -> dict:
        _check_reachable(self.data_dir, "the data directory")
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        password = secrets.token_urlsafe(24)
        user = _system_user()
        pwfile = self.state_dir / ".pwfile"
        pwfile.unlink(missing_ok=True)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private from the first byte
        with os.fdopen(fd, "w") as out:
            out.write(password)
        if user is not None:
            os.chown(self.data_dir, user.pw_uid, user.pw_gid)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            _run(
                [
                    str(self._bin("initdb")),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                ],
                user,
            )
        except subprocess.CalledProcessError as exc:
            raise EmbeddedPostgresError(f"initdb failed: {exc.stderr.strip()}") from None
        finally:
            pwfile.unlink(missing_ok=True)
        info = {"host": "127.0.0.1", "port": free_port(), "user": SUPERUSER, "password": password}
        self._write_info(info)
        self._start(info)
        _run(
            [
                str(self._bin("createdb")),
                "-h",
                "127.0.0.1",
                "-p",
                str(info["port"]),
                "-U",
                SUPERUSER,
                DATABASE,
            ],
            None,
            env={"PGPASSWORD": password},
        )
        return info

    def _start(self, info: dict) -> None:
        port = info["port"]
        if not port_is_free(port):
            raise EmbeddedPostgresError(_port_taken(port, self._info_file))
        options = [
            f"-p {port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
            "-c work_mem=16MB",
            "-c maintenance_work_mem=256MB",
            "-c jit=off",
        ]
        if self.fast:
            options += ["-c fsync=off", "-c full_page_writes=off"]
            if not self.survives_crash:
                options.append("-c synchronous_commit=off")
        self._pg_ctl(
            "start", "-w", "-t", "60", "-l", str(self.data_dir / "server.log"), "-o", " ".join(options)
        )
        self._write_owner()
        log.info("embedded postgres running", extra={"port": port, "data_dir": str(self.data_dir)})

    def _pg_ctl(self, *args: str) -> None:
        try:
            _run([str(self._bin("pg_ctl")), "-D", str(self.data_dir), *args], _system_user())
        except subprocess.CalledProcessError as exc:
            log_file = self.data_dir / "server.log"
            tail = log_file.read_text()[-2000:] if log_file.exists() else ""
            raise EmbeddedPostgresError(f"pg_ctl {args[0]} failed: {exc.stderr}\n{tail}") from None

    def _is_running(self) -> bool:
        if not (self.data_dir / "postmaster.pid").exists():
            return False
        try:
            _run([str(self._bin("pg_ctl")), "-D", str(self.data_dir), "status"], _system_user())
        except subprocess.CalledProcessError:
            return False
        return True

    def _bin(self, name: str) -> Path:
        """A bundled PostgreSQL program, reachable by the user the server runs as.

        As root, when the installed binaries sit below a directory the unprivileged server user
        cannot traverse (a virtual environment under ``/root``, say), they are copied once into the
        state directory rather than widening the permissions of someone's home.
        """
        installed = _installed_bin_dir()
        if os.geteuid() != 0 or _reachable(installed):
            return installed / name
        # Keep the wheel's layout: the binaries find their libraries at $ORIGIN/../../../pgserver.libs.
        site = installed.parent.parent.parent
        copy = self.state_dir / "pgbin"
        binary = copy / "pgserver" / "pginstall" / "bin" / name
        if not binary.exists():
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(installed.parent, copy / "pgserver" / "pginstall", symlinks=True)
            if (site / "pgserver.libs").is_dir():
                shutil.copytree(site / "pgserver.libs", copy / "pgserver.libs", symlinks=True)
            for directory, _, _ in os.walk(copy):
                os.chmod(directory, 0o755)
        return binary

    def _read_info(self) -> dict | None:
        if not self._info_file.exists() or not (self.data_dir / "PG_VERSION").exists():
            return None
        return json.loads(self._info_file.read_text())

    def _write_info(self, info: dict) -> None:
        fd = os.open(self._info_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(info, out)

    def _read_owner(self) -> tuple[int, float] | None:
        try:
            owner = json.loads(self._owner_file.read_text())
            return owner["pid"], owner["started"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_owner(self) -> None:
        pid, started = _me()
        self._owner_file.write_text(json.dumps({"pid": pid, "started": started}))

    @contextmanager
    def _lock(self):
        with open(self.state_dir / ".postgres.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _me() -> tuple[int, float]:
    """This process: its pid and start time (a pid alone could be reused by another process)."""
    return os.getpid(), psutil.Process().create_time()


def _alive(owner: tuple[int, float] | None) -> bool:
    if owner is None:
        return False
    pid, started = owner
    try:
        return abs(psutil.Process(pid).create_time() - started) < 1.0
    except psutil.NoSuchProcess:
        return False


def _port_taken(port: int, info_file: Path) -> str:
    holder = listener_of(port)
    by = f" ({holder.name()}, pid {holder.pid})" if holder is not None else ""
    return (
        f"port {port}, where the embedded PostgreSQL always listens, is in use by another process{by}. "
        f'Free it, or give the server another port in "port" of {info_file} (services that are '
        "running must then be restarted)."
    )


def _url(info: dict) -> str:
    return f"postgresql://{info['user']}:{info['password']}@{info['host']}:{info['port']}/{DATABASE}"


def _installed_bin_dir() -> Path:
    # Located without importing pgserver, whose import has side effects (runtime dirs, warnings).
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the pgserver package is not installed; install it or set DATABASE_URL")
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def _reachable(path: Path) -> bool:
    """Whether every directory above ``path`` lets others traverse it."""
    return all(os.stat(parent).st_mode & 0o001 for parent in path.parents)


def _system_user() -> pwd.struct_passwd | None:
    """The unprivileged user the server runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SYSTEM_USER)


def _check_reachable(path: Path, what: str) -> None:
    """As root, the server user must be able to traverse to ``path``; say so plainly if not."""
    if os.geteuid() != 0 or _reachable(path):
        return
    for parent in path.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise EmbeddedPostgresError(
                f"{what} {path} cannot be reached by the unprivileged user {SYSTEM_USER!r} that runs "
                f"PostgreSQL: {parent} is not traversable by others (chmod o+x), so choose another "
                "location with AGENTSUITE_STATE_DIR or set DATABASE_URL."
            )


def _run(args: list[str], user: pwd.struct_passwd | None, env: dict | None = None) -> None:
    # The server inherits this environment: give it nothing of ours (no provider keys, no secrets).
    full_env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
    full_env.update(env or {})
    kwargs: dict = {}
    if user is not None:
        kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}
        full_env["HOME"] = "/"
    result = subprocess.run(args, capture_output=True, env=full_env, timeout=120, text=True, **kwargs)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, args[:2], result.stdout, result.stderr)


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised or started."""

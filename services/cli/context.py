"""What a command runs with: the gateway it talks to through the Python client, the API key and
where that key came from, the output, and how the client's errors read to a person."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from agentsuite.client import TLS, Client, connect
from agentsuite.client.errors import (
    AgentSuiteError,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    Unauthenticated,
    Unavailable,
)
from services.cli.console import Output
from services.cli.exits import CliError, ExitCode
from services.common.settings import Settings

START_HINT = (
    "Start it with `make up` at the repository's root (or `agentsuite up`) in another terminal, "
    "or point --endpoint (AGENTSUITE_GATEWAY_ADDR) at a running gateway."
)
UNREACHABLE = ("failed to connect", "connection refused", "dns resolution failed", "did not answer within")


def api_key_file(settings: Settings) -> Path:
    """Where `agentsuite up` keeps its API key."""
    return settings.state_dir / "api_key"


@dataclass(frozen=True)
class Target:
    """The gateway and the key a command uses, and where the key came from (for messages)."""

    endpoint: str
    key: str | None
    key_source: str
    key_file: Path
    settings: Settings | None = None
    """TLS files, message size and keepalive of the channel (the defaults when None)."""

    @classmethod
    def of(cls, settings: Settings, args: argparse.Namespace) -> Target:
        """``--endpoint`` else ``AGENTSUITE_GATEWAY_ADDR``; ``--key``, else ``AGENTSUITE_API_KEY``,
        else the key `agentsuite up` wrote in the state directory."""
        key_file = api_key_file(settings)
        endpoint = getattr(args, "endpoint", None) or settings.gateway_addr
        if getattr(args, "key", None):
            return cls(endpoint, args.key, "--key", key_file, settings)
        if os.environ.get("AGENTSUITE_API_KEY"):
            return cls(endpoint, os.environ["AGENTSUITE_API_KEY"], "AGENTSUITE_API_KEY", key_file, settings)
        try:
            stored = key_file.read_text().strip() or None
        except OSError:
            stored = None
        return cls(endpoint, stored, f"the key file {key_file}", key_file, settings)

    def connect(self) -> Client:
        if not self.key:
            raise CliError(
                f"no API key: pass --key, set AGENTSUITE_API_KEY, or start the suite with `agentsuite up`, "
                f"which writes one to {self.key_file} (none there now)",
                ExitCode.UNAUTHENTICATED,
            )
        settings = self.settings or Settings(service="cli")
        tls = None
        if settings.tls_ca_file is not None:
            # AGENTSUITE_TLS_CA_FILE verifies the gateway; a certificate and key make it mutual TLS.
            tls = TLS(
                ca_file=settings.tls_ca_file, cert_file=settings.tls_cert_file, key_file=settings.tls_key_file
            )
        return connect(
            self.endpoint,
            api_key=self.key,
            tls=tls or False,
            # An agent document is one message of up to the suite's size limit.
            max_message_bytes=settings.max_message_bytes,
            keepalive_seconds=settings.keepalive_time_ms / 1000,
        )

    def explain(self, error: AgentSuiteError) -> CliError:
        """The client's error as a person should read it, with its exit status."""
        if isinstance(error, Unavailable):
            if any(sign in error.message.lower() for sign in UNREACHABLE):
                return CliError(
                    f"the suite is not running at {self.endpoint} (nothing answers there).\n{START_HINT}",
                    ExitCode.UNAVAILABLE,
                )
            return CliError(f"the suite is unavailable: {error.message}", ExitCode.UNAVAILABLE)
        if isinstance(error, Unauthenticated):
            return CliError(
                f"the gateway at {self.endpoint} refused the API key from {self.key_source}: "
                f"{error.message}.\nUse another key (--key, AGENTSUITE_API_KEY), make one with `agentsuite "
                "keys create --tenant NAME`, or restart `agentsuite up`, which writes a working key to "
                f"{self.key_file}.",
                ExitCode.UNAUTHENTICATED,
            )
        if isinstance(error, NotFound):
            return CliError(error.message, ExitCode.NOT_FOUND)
        if isinstance(error, InvalidArgument):
            details = [f"{v.field}: {v.description}" for v in error.field_violations]
            return CliError(
                error.message, ExitCode.USAGE, details=tuple(d for d in details if d not in error.message)
            )
        if isinstance(error, DeadlineExceeded):
            hint = (
                f" (the run {error.run_id} goes on: `agentsuite runs watch {error.run_id}`)"
                if error.run_id
                else ""
            )
            return CliError(f"no answer in time: {error.message}{hint}", ExitCode.UNAVAILABLE)
        return CliError(f"{error.message} ({error.code.name.lower()})", ExitCode.ERROR)


@dataclass
class Context:
    """Everything a command needs. The client connects when a command first uses it, so bad
    arguments are reported before anything is asked of the gateway."""

    settings: Settings
    output: Output
    target: Target
    client: Client | None = field(default=None)

    @property
    def gateway(self) -> Client:
        if self.client is None:
            self.client = self.target.connect()
        return self.client

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()

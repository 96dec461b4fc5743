"""How the client commands (chat, agents, archival) reach the gateway: endpoint and API key."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from agentsuite.client import TLS, Client, connect
from services.cli.main import api_key_file
from services.common.settings import Settings


def add_gateway_arguments(parser: argparse.ArgumentParser) -> None:
    """``--endpoint``, ``--key`` and ``--state-dir`` (where `up` keeps its API key)."""
    parser.add_argument("--endpoint", default=None, help="gateway address (default: AGENTSUITE_GATEWAY_ADDR)")
    parser.add_argument(
        "--key", default=None, help="API key (default: AGENTSUITE_API_KEY or the key of `up`)"
    )
    parser.add_argument("--state-dir", type=Path, help="state directory of `up`, to find its API key")


def api_key(settings: Settings, args: argparse.Namespace) -> str | None:
    """The key given, else ``AGENTSUITE_API_KEY``, else the one `agentsuite up` keeps."""
    return args.key or os.environ.get("AGENTSUITE_API_KEY") or _stored_key(settings)


def missing_key(settings: Settings) -> str:
    """What to say when there is no key."""
    return (
        f"no API key: pass --key, set AGENTSUITE_API_KEY, or run `agentsuite up` ({api_key_file(settings)})"
    )


def gateway_client(settings: Settings, args: argparse.Namespace, key: str) -> Client:
    """A client of the gateway (``agentsuite.client``) that accepts messages as large as the suite
    sends (agent documents); TLS with ``AGENTSUITE_TLS_CA_FILE`` (and a client certificate with
    ``AGENTSUITE_TLS_CERT_FILE`` and ``AGENTSUITE_TLS_KEY_FILE``)."""
    tls = None
    if settings.tls_ca_file is not None:
        tls = TLS(
            ca_file=settings.tls_ca_file, cert_file=settings.tls_cert_file, key_file=settings.tls_key_file
        )
    return connect(
        args.endpoint or settings.gateway_addr,
        api_key=key,
        tls=tls or False,
        max_message_bytes=settings.max_message_bytes,
        keepalive_seconds=settings.keepalive_time_ms / 1000,
    )


def _stored_key(settings: Settings) -> str | None:
    try:
        return api_key_file(settings).read_text().strip() or None
    except OSError:
        return None

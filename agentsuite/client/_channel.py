"""The one channel a client talks over: keepalive, size limits, TLS and declared retries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import grpc

GATEWAY_SERVICES = {
    "agent": "agentsuite.agent.v1.AgentService",
    "memory": "agentsuite.memory.v1.MemoryService",
    "tools": "agentsuite.tools.v1.ToolService",
    "conversation": "agentsuite.gateway.v1.ConversationService",
}

IDEMPOTENT_METHODS: dict[str, tuple[str, ...]] = {
    # Reads, and writes whose repeat leaves the same state: an update by field mask, setting a
    # secret to a value, cancelling (a stopped run is returned unchanged).
    GATEWAY_SERVICES["agent"]: ("GetAgent", "ListAgents", "ExportAgent", "UpdateAgent", "CreateAgent"),
    GATEWAY_SERVICES["memory"]: (
        "GetBlock",
        "ListBlocks",
        "ListBlockHistory",
        "GetArchive",
        "ListArchives",
        "ListPassages",
        "SearchPassages",
        "ListMessages",
        "SearchMessages",
        "CountMessages",
        "InsertPassages",
        "EditBlock",
    ),
    GATEWAY_SERVICES["tools"]: ("GetTool", "ListTools", "UpdateTool", "SetSecret", "ListSecrets"),
    GATEWAY_SERVICES["conversation"]: (
        "GetRun",
        "ListRuns",
        "CancelRun",
        "WatchRun",
        "SendMessage",
        "StreamMessage",
        "CreateRun",
        "Broadcast",
    ),
}
"""Methods the channel retries on ``UNAVAILABLE``. CreateAgent, InsertPassages, EditBlock, SendMessage,
StreamMessage, CreateRun and Broadcast are idempotent only with a request id or idempotency key,
so the client always sends one (a fresh UUID when the caller gives none). Not retried: creates
without a key (tools, blocks, archives, imports), deletes (a repeat would answer NOT_FOUND),
attach/detach, block updates and restores (a repeat of a versioned change conflicts), RunTool (it
executes code), Converse (a conversation resumes by itself; see ``Conversation``)."""

RETRY_POLICY = {
    "maxAttempts": 4,
    "initialBackoff": "0.1s",
    "maxBackoff": "2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}


@dataclass(frozen=True)
class TLS:
    """TLS to the gateway. With no file, the system's root certificates verify the server."""

    ca_file: str | Path | None = None
    """PEM file of the CA that signed the gateway's certificate."""
    cert_file: str | Path | None = None
    """PEM client certificate, when the gateway asks for one (mutual TLS)."""
    key_file: str | Path | None = None
    """PEM private key of ``cert_file``."""
    server_name: str | None = None
    """Name to verify the certificate against when it differs from the address's host."""

    def credentials(self) -> grpc.ChannelCredentials:
        """The channel credentials these files make."""
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("TLS: give cert_file and key_file together (or neither)")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca_file),
            private_key=_read(self.key_file),
            certificate_chain=_read(self.cert_file),
        )


def service_config() -> str:
    """The channel's service config: retries of the idempotent methods on ``UNAVAILABLE``."""
    names = [
        {"service": service, "method": method}
        for service, methods in IDEMPOTENT_METHODS.items()
        for method in methods
    ]
    return json.dumps({"methodConfig": [{"name": names, "retryPolicy": RETRY_POLICY}]})


def channel_options(*, keepalive_seconds: float, max_message_bytes: int, server_name: str | None):
    """Channel arguments: keepalive matching the suite's servers (they accept a PING a second,
    idle streams included), message size limits, retries."""
    options = [
        ("grpc.keepalive_time_ms", int(keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", 10_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config()),
    ]
    if server_name:
        options.append(("grpc.ssl_target_name_override", server_name))
    return options


def open_channel(
    address: str,
    *,
    tls: TLS | None,
    keepalive_seconds: float,
    max_message_bytes: int,
    options: list[tuple[str, object]] | None = None,
) -> grpc.aio.Channel:
    """A ``grpc.aio`` channel to the gateway; plaintext when ``tls`` is None."""
    all_options = [
        *channel_options(
            keepalive_seconds=keepalive_seconds,
            max_message_bytes=max_message_bytes,
            server_name=tls.server_name if tls else None,
        ),
        *(options or []),
    ]
    if tls is None:
        return grpc.aio.insecure_channel(address, options=all_options)
    return grpc.aio.secure_channel(address, tls.credentials(), options=all_options)


def _read(path: str | Path | None) -> bytes | None:
    return None if path is None else Path(path).read_bytes()

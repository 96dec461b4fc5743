"""``python -m services.healthcheck [ADDRESS] [SERVICE]``: ask a service's ``grpc.health.v1`` whether it
is ``SERVING``; the container image's HEALTHCHECK (no probe binary is downloaded into the image).

ADDRESS is ``host:port``, or a service's name (``gateway``, ``agent``, ``memory``, ``tools``) for its
well-known port on 127.0.0.1. Without it: ``127.0.0.1:$AGENTSUITE_PORT`` or, when that is unset, the
well-known port of the service this container's first process runs (``python -m services.NAME``).
SERVICE is the health service name to ask about; empty (the default) is the whole server.

TLS follows the service's own settings, read from the same environment: with
``AGENTSUITE_TLS_CERT_FILE`` set the server speaks TLS, so the check does too, trusts
``AGENTSUITE_TLS_CA_FILE`` (the system's roots when unset), presents the same certificate and key as
its client certificate (a server that requires one accepts its own), and expects the server to be
named as in that certificate (its first DNS name), since the check dials a loopback address.

Exit codes: 0 the service answered SERVING; 1 it answered anything else (NOT_SERVING while it
drains, an unknown service name), or did not answer within the timeout (refused, TLS refused, not
started); 64 the arguments or the TLS files are unusable. Docker reserves 2; any non-zero status is
an unhealthy check for Docker, compose and podman.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.settings import DEFAULT_PORTS

SERVING, NOT_SERVING, USAGE = 0, 1, 64

TLS_CERT_FILE = "AGENTSUITE_TLS_CERT_FILE"
TLS_KEY_FILE = "AGENTSUITE_TLS_KEY_FILE"
TLS_CA_FILE = "AGENTSUITE_TLS_CA_FILE"


class UsageError(ValueError):
    """The check cannot be made as asked: a bad address, a missing or unreadable TLS file."""


@dataclass(frozen=True)
class ClientTls:
    """What the check needs to speak TLS to a service configured with the same environment."""

    root_certificates: bytes | None
    certificate_chain: bytes
    private_key: bytes
    server_name: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ClientTls | None:
        """None when the service serves plaintext (no certificate configured)."""
        cert_file = env.get(TLS_CERT_FILE, "").strip()
        if not cert_file:
            return None
        key_file = env.get(TLS_KEY_FILE, "").strip()
        if not key_file:
            raise UsageError(f"{TLS_CERT_FILE} is set but {TLS_KEY_FILE} is not")
        ca_file = env.get(TLS_CA_FILE, "").strip()
        certificate = _read(cert_file, TLS_CERT_FILE)
        return cls(
            root_certificates=_read(ca_file, TLS_CA_FILE) if ca_file else None,
            certificate_chain=certificate,
            private_key=_read(key_file, TLS_KEY_FILE),
            server_name=first_dns_name(certificate),
        )

    def channel(self, address: str) -> grpc.Channel:
        credentials = grpc.ssl_channel_credentials(
            self.root_certificates, self.private_key, self.certificate_chain
        )
        options = [] if self.server_name is None else [("grpc.ssl_target_name_override", self.server_name)]
        return grpc.secure_channel(address, credentials, options=options)


def _read(path: str, variable: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"{variable}={path}: {exc.strerror or exc}") from None


def first_dns_name(certificate_pem: bytes) -> str | None:
    """The first DNS subject alternative name of a PEM certificate (then its common name), if any."""
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError as exc:
        raise UsageError(f"{TLS_CERT_FILE} is not a PEM certificate") from exc
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns_names = []
    if dns_names:
        return dns_names[0]
    common_names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(common_names[0].value) if common_names else None


def resolve_address(address: str | None, env: Mapping[str, str], first_process: Sequence[str]) -> str:
    """The ``host:port`` to check (see the module's docstring for the order of choices)."""
    if address in DEFAULT_PORTS:
        return f"127.0.0.1:{DEFAULT_PORTS[address]}"
    if address:
        if ":" not in address:
            raise UsageError(f"address {address!r} is neither host:port nor a service name")
        return address
    port = env.get("AGENTSUITE_PORT", "").strip()
    if port:
        return f"127.0.0.1:{port}"
    for argument in first_process:
        name = argument.removeprefix("services.")
        if argument.startswith("services.") and name in DEFAULT_PORTS:
            return f"127.0.0.1:{DEFAULT_PORTS[name]}"
    raise UsageError(
        "no address: pass host:port (or a service name), or set AGENTSUITE_PORT, "
        "or run in a container whose first process is python -m services.NAME"
    )


def check(address: str, service: str, tls: ClientTls | None, timeout: float) -> int:
    """SERVING (0) when the server at ``address`` reports ``service`` SERVING, else NOT_SERVING (1)."""
    channel = grpc.insecure_channel(address) if tls is None else tls.channel(address)
    with channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as exc:
            print(f"{address}: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return NOT_SERVING
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        print(f"{address}: {service or '(server)'} is {status}", file=sys.stderr)
        return NOT_SERVING
    return SERVING


def _first_process_arguments() -> list[str]:
    try:
        return Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


class _Arguments(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own exit code, 2, is reserved by Docker
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: {message}\n")


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = _Arguments(
        prog="python -m services.healthcheck",
        description="Exit 0 when a service's gRPC health check answers SERVING, 1 otherwise, 64 on bad usage.",
    )
    parser.add_argument("address", nargs="?", help="host:port or a service name (default: see docs)")
    parser.add_argument("service", nargs="?", default="", help="health service name (default: the server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    arguments = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        address = resolve_address(arguments.address, env, _first_process_arguments())
        tls = ClientTls.from_env(env)
    except UsageError as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return USAGE
    return check(address, arguments.service, tls, arguments.timeout)


if __name__ == "__main__":
    raise SystemExit(main())

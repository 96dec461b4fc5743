"""``python -m services.healthcheck [ADDRESS] [SERVICE]``: ask a service's ``grpc.health.v1`` whether it
is ``SERVING``; the container image's HEALTHCHECK (no probe binary is downloaded into the image).

ADDRESS is ``host:port``, or a service's name (``gateway``, ``agent``, ``memory``, ``tools``) for its
well-known port on 127.0.0.1. Without it: ``127.0.0.1:$AGENTSUITE_PORT`` or, when that is unset, the
well-known port of the service this container's first process runs (``python -m services.NAME``).
SERVICE is the health service name to ask about; empty (the default) is the whole server.

TLS follows the service's own settings, read from the same environment (``services.common.settings``):
a service with ``AGENTSUITE_TLS_CERT_FILE`` and ``..._KEY_FILE`` listens with TLS only, so the check
speaks TLS too. It verifies the server with ``AGENTSUITE_TLS_CA_FILE`` (the system's roots when
unset, as for a gateway with a public certificate), presents the same certificate and key as its
client certificate (a service that requires one accepts its own), and expects the server to be
named as in that certificate (its first DNS name), since the check dials a loopback address.

Exit codes: 0 the service answered SERVING; 1 it answered anything else (NOT_SERVING while it
drains, an unknown service name), or did not answer within the timeout (refused, TLS refused, not
started); 64 the arguments or the TLS files are unusable. Docker reserves 2; any non-zero status is
an unhealthy check for Docker, compose and podman.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.settings import DEFAULT_PORTS, Settings, SettingsError
from services.common.tls import channel_credentials

SERVING, NOT_SERVING, USAGE = 0, 1, 64


class UsageError(ValueError):
    """The check cannot be made as asked: a bad address, or settings the service would refuse too."""


def tls_channel(address: str, settings: Settings) -> grpc.Channel | None:
    """A TLS channel to a service configured with ``settings``; None when it serves plaintext."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    certificate = settings.tls_cert_file.read_bytes()
    credentials = channel_credentials(settings) or grpc.ssl_channel_credentials(
        private_key=settings.tls_key_file.read_bytes(), certificate_chain=certificate
    )
    server_name = first_dns_name(certificate)
    options = [] if server_name is None else [("grpc.ssl_target_name_override", server_name)]
    return grpc.secure_channel(address, credentials, options=options)


def first_dns_name(certificate_pem: bytes) -> str | None:
    """The first DNS subject alternative name of a PEM certificate (else its common name), if any."""
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem)
    except ValueError:
        raise UsageError("AGENTSUITE_TLS_CERT_FILE is not a PEM certificate") from None
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns_names = names.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        dns_names = []
    if dns_names:
        return dns_names[0]
    common_names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(common_names[0].value) if common_names else None


def resolve_address(address: str | None, settings: Settings, first_process: Sequence[str]) -> str:
    """The ``host:port`` to check (see the module's docstring for the order of choices)."""
    if address in DEFAULT_PORTS:
        return f"127.0.0.1:{DEFAULT_PORTS[address]}"
    if address:
        if ":" not in address:
            raise UsageError(f"address {address!r} is neither host:port nor a service name")
        return address
    if settings.port:
        return f"127.0.0.1:{settings.port}"
    for argument in first_process:
        name = argument.removeprefix("services.")
        if argument.startswith("services.") and name in DEFAULT_PORTS:
            return f"127.0.0.1:{DEFAULT_PORTS[name]}"
    raise UsageError(
        "no address: pass host:port (or a service name), or set AGENTSUITE_PORT, "
        "or run in a container whose first process is python -m services.NAME"
    )


def check(address: str, service: str, settings: Settings, timeout: float) -> int:
    """SERVING (0) when the server at ``address`` reports ``service`` SERVING, else NOT_SERVING (1)."""
    channel = tls_channel(address, settings) or grpc.insecure_channel(address)
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
    try:
        settings = Settings.from_env("healthcheck", env)
        address = resolve_address(arguments.address, settings, _first_process_arguments())
        return check(address, arguments.service, settings, arguments.timeout)
    except (SettingsError, UsageError) as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    raise SystemExit(main())

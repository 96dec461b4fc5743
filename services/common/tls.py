"""TLS for our gRPC servers and channels, from PEM files named by the settings.

- A service with ``tls_cert_file`` and ``tls_key_file`` listens with TLS only; with
  ``tls_require_client_cert`` it also demands a client certificate signed by ``tls_ca_file``
  (mutual TLS: the backends trust the tenant in their metadata, so in production only the suite's
  own processes may call them).
- With ``tls_ca_file`` every outgoing channel uses TLS and verifies the server's certificate
  against it (the certificate must name the host dialled: a DNS name or an IP SAN); the service's
  own certificate and key, when set, go along as its client certificate.

The files are read once at start-up; a renewed certificate takes effect at the next restart.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from services.common.settings import Settings


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """What a server listens with; None = plaintext."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    return grpc.ssl_server_credentials(
        [(_read(settings.tls_key_file), _read(settings.tls_cert_file))],
        root_certificates=_read(settings.tls_ca_file) if settings.tls_ca_file else None,
        require_client_auth=settings.tls_require_client_cert,
    )


def channel_credentials(settings: Settings) -> grpc.ChannelCredentials | None:
    """What an outgoing channel connects with; None = plaintext."""
    if settings.tls_ca_file is None:
        return None
    has_identity = settings.tls_cert_file is not None and settings.tls_key_file is not None
    return grpc.ssl_channel_credentials(
        root_certificates=_read(settings.tls_ca_file),
        private_key=_read(settings.tls_key_file) if has_identity else None,
        certificate_chain=_read(settings.tls_cert_file) if has_identity else None,
    )


def _read(path: Path) -> bytes:
    return path.read_bytes()

"""A private CA and certificates for trying TLS on one machine (tests, benchmarks, a laptop).

    python -m services.common.dev_certs DIR [--host NAME ...]

writes ``ca.pem``, and for each of the four services ``<service>.pem`` and ``<service>-key.pem``,
each valid as a server and as a client certificate for the hosts given (default ``localhost``,
``127.0.0.1`` and ``::1``), plus ``client.pem``/``client-key.pem`` for a caller such as the CLI.
Production uses its own PKI (cert-manager, a mesh); these keys are unencrypted files.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
IDENTITIES = ("gateway", "agent", "memory", "tools", "client")


@dataclass(frozen=True)
class Issued:
    """One certificate and its key, PEM."""

    cert: bytes
    key: bytes


class DevCA:
    """A self-signed CA (EC P-256) that issues leaf certificates."""

    def __init__(self, name: str = "agentsuite dev CA"):
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._name = subject
        self.cert = (
            _builder(subject, subject, self._key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self._key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, hosts: Iterable[str] = DEFAULT_HOSTS) -> Issued:
        """A certificate for ``hosts`` (DNS names and IP addresses), for servers and clients alike."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        cert = (
            _builder(subject, self._name, key.public_key())
            .add_extension(
                x509.SubjectAlternativeName([_general_name(host) for host in hosts]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        return Issued(
            cert=cert.public_bytes(serialization.Encoding.PEM),
            key=key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )


def write_dev_certs(directory: Path, hosts: Iterable[str] = DEFAULT_HOSTS, ca: DevCA | None = None) -> DevCA:
    """Write the CA and one certificate per identity into ``directory`` (keys mode 0600)."""
    ca = ca or DevCA()
    hosts = tuple(hosts)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.pem").write_bytes(ca.pem)
    for identity in IDENTITIES:
        issued = ca.issue(f"agentsuite-{identity}", hosts)
        (directory / f"{identity}.pem").write_bytes(issued.cert)
        key_file = directory / f"{identity}-key.pem"
        key_file.touch(mode=0o600)
        key_file.write_bytes(issued.key)
    return ca


def tls_env(directory: Path, identity: str, *, require_client_cert: bool) -> dict[str, str]:
    """The ``AGENTSUITE_TLS_*`` settings of ``identity`` for certificates written by ``write_dev_certs``."""
    return {
        "AGENTSUITE_TLS_CERT_FILE": str(directory / f"{identity}.pem"),
        "AGENTSUITE_TLS_KEY_FILE": str(directory / f"{identity}-key.pem"),
        "AGENTSUITE_TLS_CA_FILE": str(directory / "ca.pem"),
        "AGENTSUITE_TLS_REQUIRE_CLIENT_CERT": "true" if require_client_cert else "false",
    }


def _builder(subject: x509.Name, issuer: x509.Name, public_key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.common.dev_certs", description=__doc__.splitlines()[0]
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--host", action="append", help="a DNS name or IP the certificates are for (repeatable)"
    )
    args = parser.parse_args(argv)
    write_dev_certs(args.directory, args.host or DEFAULT_HOSTS)
    print(f"wrote ca.pem and {', '.join(IDENTITIES)} certificates to {args.directory}")


if __name__ == "__main__":
    main()

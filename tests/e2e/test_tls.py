"""TLS on every hop, with certificates made in the test: each service serves TLS with its own
certificate and demands a client certificate signed by the suite's CA (mutual TLS), and calls the
others presenting its own. A backend refuses a caller without a valid client certificate; a
conversation crossing every hop works; a gateway that does not demand client certificates serves
TLS to a client that only trusts the CA."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.cli.supervisor import SERVICES
from services.common.dev_certs import DevCA, tls_env, write_dev_certs
from tests.e2e.every_hop import converse_across_every_hop
from tests.e2e.own_suite import new_key, own_suite


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    write_dev_certs(directory)
    return directory


@pytest.fixture(scope="module")
async def mtls_suite(database_url, fake_llm, certs, tmp_path_factory):
    """Every service with its own certificate, demanding one from its callers."""
    service_env = {service: tls_env(certs, service, require_client_cert=True) for service in SERVICES}
    log_dir = tmp_path_factory.mktemp("tls-logs")
    async with own_suite(database_url, fake_llm.base_url, log_dir, service_env=service_env) as suite:
        yield suite


def credentials(certs: Path, identity: str | None) -> grpc.ChannelCredentials:
    """Trusting the suite's CA; presenting ``identity``'s certificate when given."""
    ca = (certs / "ca.pem").read_bytes()
    if identity is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=(certs / f"{identity}-key.pem").read_bytes(),
        certificate_chain=(certs / f"{identity}.pem").read_bytes(),
    )


async def health(channel: grpc.aio.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)).status


async def test_a_backend_refuses_callers_without_a_valid_client_certificate(mtls_suite, certs):
    memory = f"127.0.0.1:{mtls_suite.ports.memory}"
    stranger = DevCA("another CA").issue("stranger")
    foreign = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.pem").read_bytes(),
        private_key=stranger.key,
        certificate_chain=stranger.cert,
    )
    refused = {
        "plaintext": grpc.aio.insecure_channel(memory),
        "TLS without a client certificate": grpc.aio.secure_channel(memory, credentials(certs, None)),
        "a certificate of another CA": grpc.aio.secure_channel(memory, foreign),
    }
    for what, channel in refused.items():
        async with channel:
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await health(channel)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, what

    async with grpc.aio.secure_channel(memory, credentials(certs, "agent")) as channel:
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING


async def test_a_conversation_works_with_mutual_tls_on_every_hop(mtls_suite, certs, database_url, fake_llm):
    auth = (("authorization", f"Bearer {await new_key(database_url, f't-{uuid.uuid4().hex[:8]}')}"),)

    async with grpc.aio.secure_channel(mtls_suite.gateway_address, credentials(certs, "client")) as channel:
        await converse_across_every_hop(channel, auth, fake_llm)


async def test_a_gateway_serves_tls_to_clients_that_only_trust_the_ca(mtls_suite, certs):
    gateway = await mtls_suite.start_replica(
        "gateway", env=tls_env(certs, "gateway", require_client_cert=False)
    )

    async with grpc.aio.secure_channel(gateway.address, credentials(certs, None)) as channel:
        assert await health(channel) == health_pb2.HealthCheckResponse.SERVING
    async with grpc.aio.insecure_channel(gateway.address) as plaintext:
        with pytest.raises(grpc.aio.AioRpcError):
            await health(plaintext)

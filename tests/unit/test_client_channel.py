"""The client's channel, against an in-process gRPC server on loopback that fails on purpose: the
service config retries exactly the idempotent methods, a send's generated idempotency key makes
its retry the same request, every call carries the API key and a deadline, and TLS (also mutual)
connects with the files given."""

from __future__ import annotations

import datetime
from collections import Counter

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agentsuite.agent.v1 import agent_pb2, agent_service_pb2, agent_service_pb2_grpc
from agentsuite.client import TLS, Unavailable, connect
from agentsuite.client._channel import IDEMPOTENT_METHODS
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc


def test_every_method_the_retry_policy_names_exists_in_the_contract():
    from agentsuite.agent.v1 import agent_service_pb2 as agents
    from agentsuite.memory.v1 import memory_service_pb2 as memory
    from agentsuite.tools.v1 import tools_service_pb2 as tools

    services = {
        s.full_name: s
        for module in (agents, memory, tools, gateway_service_pb2)
        for s in module.DESCRIPTOR.services_by_name.values()
    }
    for service, methods in IDEMPOTENT_METHODS.items():
        for method in methods:
            assert method in services[service].methods_by_name, f"{service}/{method}"


class FlakyGateway(
    agent_service_pb2_grpc.AgentServiceServicer, gateway_service_pb2_grpc.ConversationServiceServicer
):
    """Answers UNAVAILABLE to the first call of each method, then succeeds; records what came."""

    def __init__(self):
        self.calls: Counter[str] = Counter()
        self.keys: list[str] = []
        self.auth: list[str] = []
        self.deadlines: list[float | None] = []

    async def _first_fails(self, method: str, context) -> None:
        self.calls[method] += 1
        self.auth.append(dict(context.invocation_metadata()).get("authorization", ""))
        self.deadlines.append(context.time_remaining())
        if self.calls[method] == 1:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")

    async def GetAgent(self, request, context):
        await self._first_fails("GetAgent", context)
        return agent_service_pb2.GetAgentResponse(agent=agent_pb2.Agent(id=request.agent_id, name="ann"))

    async def DeleteAgent(self, request, context):
        await self._first_fails("DeleteAgent", context)
        return agent_service_pb2.DeleteAgentResponse()

    async def SendMessage(self, request, context):
        self.keys.append(request.idempotency_key)
        await self._first_fails("SendMessage", context)
        return gateway_service_pb2.SendMessageResponse(run=gateway_pb2.Run(id="run-1"))


async def serve(gateway: FlakyGateway, credentials: grpc.ServerCredentials | None = None):
    server = grpc.aio.server()
    agent_service_pb2_grpc.add_AgentServiceServicer_to_server(gateway, server)
    gateway_service_pb2_grpc.add_ConversationServiceServicer_to_server(gateway, server)
    port = (
        server.add_secure_port("127.0.0.1:0", credentials)
        if credentials
        else server.add_insecure_port("127.0.0.1:0")
    )
    await server.start()
    return server, port


@pytest.fixture
async def flaky():
    gateway = FlakyGateway()
    server, port = await serve(gateway)
    yield gateway, f"127.0.0.1:{port}"
    await server.stop(None)


async def test_an_idempotent_read_is_retried_on_unavailable(flaky):
    gateway, address = flaky
    async with connect(address, api_key="ags_test") as client:
        agent = await client.agents.get("a-1")

    assert agent.name == "ann" and gateway.calls["GetAgent"] == 2


async def test_a_delete_is_not_retried_and_raises_unavailable(flaky):
    gateway, address = flaky
    async with connect(address, api_key="ags_test") as client:
        with pytest.raises(Unavailable):
            await client.agents.delete("a-1")

    assert gateway.calls["DeleteAgent"] == 1


async def test_a_send_is_retried_with_the_same_generated_idempotency_key(flaky):
    gateway, address = flaky
    async with connect(address, api_key="ags_test") as client:
        result = await client.messages.send("a-1", "hello")

    assert result.run.id == "run-1"
    assert len(gateway.keys) == 2 and gateway.keys[0] == gateway.keys[1] != ""


async def test_every_call_carries_the_api_key_and_a_deadline(flaky):
    gateway, address = flaky
    async with connect(address, api_key="ags_test", timeout=7) as client:
        await client.agents.get("a-1")
        await client.agents.get("a-2", timeout=None)

    assert set(gateway.auth) == {"Bearer ags_test"}
    assert 6 < gateway.deadlines[0] < 7.5 and gateway.deadlines[-1] is None


def _certificate(name: str, key, issuer_name, issuer_key, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
def pki(tmp_path):
    """A CA, a server certificate for "gateway.test" and a client certificate, as PEM files."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test ca")])
    ca = _certificate("test ca", ca_key, ca_name, ca_key, ca=True)
    files = {"ca": _pem(ca)}
    for role, name in (("server", "gateway.test"), ("client", "client.test")):
        key = ec.generate_private_key(ec.SECP256R1())
        files[f"{role}_cert"] = _pem(_certificate(name, key, ca_name, ca_key, ca=False))
        files[f"{role}_key"] = _key_pem(key)
    paths = {}
    for label, content in files.items():
        paths[label] = tmp_path / f"{label}.pem"
        paths[label].write_bytes(content)
    return files, paths


async def test_mutual_tls_connects_with_the_ca_and_a_client_certificate(pki):
    files, paths = pki
    credentials = grpc.ssl_server_credentials(
        [(files["server_key"], files["server_cert"])], root_certificates=files["ca"], require_client_auth=True
    )
    gateway = FlakyGateway()
    server, port = await serve(gateway, credentials)
    tls = TLS(
        ca_file=paths["ca"],
        cert_file=paths["client_cert"],
        key_file=paths["client_key"],
        server_name="gateway.test",
    )
    try:
        async with connect(f"127.0.0.1:{port}", api_key="ags_test", tls=tls) as client:
            assert (await client.agents.get("a-1")).name == "ann"
        async with connect(
            f"127.0.0.1:{port}", tls=TLS(ca_file=paths["ca"], server_name="gateway.test")
        ) as client:
            with pytest.raises(Unavailable):  # no client certificate: the handshake fails
                await client.agents.get("a-1", timeout=5)
    finally:
        await server.stop(None)


async def test_wait_ready_raises_unavailable_when_nothing_answers():
    from services.common.ports import free_port

    async with connect(f"127.0.0.1:{free_port()}") as client:
        with pytest.raises(Unavailable):
            await client.wait_ready(timeout=0.5)


async def test_wait_ready_returns_once_the_gateway_answers(flaky):
    _, address = flaky
    async with connect(address) as client:
        await client.wait_ready(timeout=5)

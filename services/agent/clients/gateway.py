"""Agents messaging agents: through the gateway's public conversation API, so every target runs in
its own lane (one run at a time, in order) exactly as if a client had sent the message.

The call chain travels in metadata; a message that would wait on an agent already in the chain
(A asks B, B asks A) is refused before it is sent, and the gateway refuses it too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import grpc

from agentsuite.common.v1 import common_pb2
from agentsuite.gateway.v1 import gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc
from services.agent.store.agents import AgentStore
from services.common.call import CALL_CHAIN_KEY, PARENT_RUN_KEY, CallScope, current_call, require_tenant
from services.common.channels import create_channel, measured_call, outgoing_metadata, path_of
from services.common.errors import AgentSuiteError, FailedPrecondition
from services.common.protobuf import to_struct
from services.common.settings import Settings
from services.common.status import from_rpc_error

log = logging.getLogger(__name__)

MAX_TAG_TARGETS = 1000


class GatewayMessaging:
    """The :class:`~services.agent.core.builtin_tools.AgentMessaging` of one agent service process."""

    @classmethod
    def connect(cls, settings: Settings, store: AgentStore, token: str) -> GatewayMessaging:
        # Not retried by the channel: each message carries its call's effect key as its idempotency
        # key, and a step executed again sends it again with that key (builtin_tools.CallSite).
        return cls(create_channel(settings.gateway_addr, settings), settings, store, token)

    def __init__(self, channel: grpc.aio.Channel, settings: Settings, store: AgentStore, token: str):
        self._channel = channel
        self._stub = gateway_service_pb2_grpc.ConversationServiceStub(channel)
        self._store = store
        self._authorization = f"Service {token}"
        self._default_timeout = settings.default_deadline_seconds
        self._max_depth = settings.max_call_depth

    async def send_and_wait(
        self, sender: str, target: str, message: str, *, parent_run_id: str, key: str
    ) -> str:
        scope, metadata = self._chain(sender, target, parent_run_id)
        request = gateway_service_pb2.SendMessageRequest(
            agent_id=target, messages=[_input(sender, message)], idempotency_key=key
        )
        try:
            with measured_call(path_of(self._stub.SendMessage)) as traced:
                response = await self._stub.SendMessage(
                    request, timeout=scope.remaining(self._default_timeout), metadata=(*metadata, *traced)
                )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        run = response.run
        if run.status not in _ANSWERED:
            reason = common_pb2.StopReason.Name(run.stop_reason)
            raise AgentSuiteError(f"the agent's run ended with {reason}: {run.stop_detail}".rstrip(": "))
        return _last_reply(response.messages)

    async def send_no_wait(
        self, sender: str, target: str, message: str, *, parent_run_id: str, key: str
    ) -> str:
        """Returns once the gateway accepted the run (durably); the run goes on without this caller.

        Nobody waits on it, so it starts a chain of its own: the target may later message the
        sender (or anyone) without that being a cycle.
        """
        metadata = (
            *_without_chain(outgoing_metadata(current_call())),
            (PARENT_RUN_KEY, parent_run_id),
            ("authorization", self._authorization),
        )
        request = gateway_service_pb2.CreateRunRequest(
            agent_id=target, messages=[_input(sender, message)], idempotency_key=key
        )
        try:
            with measured_call(path_of(self._stub.CreateRun)) as traced:
                response = await self._stub.CreateRun(
                    request, timeout=self._default_timeout, metadata=(*metadata, *traced)
                )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return response.run.id

    async def send_to_many(
        self, sender: str, targets: Sequence[str], message: str, *, parent_run_id: str, key: str
    ) -> list[dict]:
        """One gateway Broadcast: each target in its own lane, replies in completion order."""
        scope = current_call()
        for target in targets:
            self._chain(sender, target, parent_run_id)  # refuse a cycle before anything is sent
        _, metadata = self._chain(sender, targets[0], parent_run_id)
        request = gateway_service_pb2.BroadcastRequest(
            selector=gateway_pb2.AgentSelector(agent_ids=targets),
            messages=[_input(sender, message)],
            idempotency_key=key,
        )
        replies = []
        try:
            with measured_call(path_of(self._stub.Broadcast)) as traced:
                calls = self._stub.Broadcast(
                    request, timeout=scope.remaining(self._default_timeout), metadata=(*metadata, *traced)
                )
                responses = [response async for response in calls]
            for response in responses:
                if response.WhichOneof("response") != "result":
                    continue
                result = response.result
                if result.error_code:
                    replies.append({"agent_id": result.agent_id, "error": result.error_message})
                elif result.run.status not in _ANSWERED:
                    reason = common_pb2.StopReason.Name(result.run.stop_reason)
                    replies.append(
                        {"agent_id": result.agent_id, "error": f"the agent's run ended with {reason}"}
                    )
                else:
                    replies.append({"agent_id": result.agent_id, "reply": _last_reply(result.messages)})
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from None
        return replies

    async def agents_with_tags(self, tags: Sequence[str], *, match_all: bool) -> list[str]:
        agents = await self._store.list(
            require_tenant(), limit=MAX_TAG_TARGETS, tags=tuple(tags), match_all_tags=match_all
        )
        return [agent.id for agent in agents]

    async def close(self) -> None:
        await self._channel.close()

    def _chain(
        self, sender: str, target: str, parent_run_id: str
    ) -> tuple[CallScope, tuple[tuple[str, str], ...]]:
        scope = current_call()
        chain = (*scope.call_chain, sender)
        if target in chain:
            raise FailedPrecondition(
                f"agent {target} is already waiting in this conversation "
                f"({' -> '.join(chain)}); messaging it would deadlock",
                reason="CALL_CYCLE",
            )
        if len(chain) >= self._max_depth:
            raise FailedPrecondition(
                f"the agent-to-agent call chain is at its limit of {self._max_depth}",
                reason="CALL_DEPTH",
            )
        metadata = [*_without_chain(outgoing_metadata(scope))]
        metadata += [
            (CALL_CHAIN_KEY, ",".join(chain)),
            (PARENT_RUN_KEY, parent_run_id),
            ("authorization", self._authorization),
        ]
        return scope, tuple(metadata)


_ANSWERED = (gateway_pb2.RUN_STATUS_COMPLETED, gateway_pb2.RUN_STATUS_AWAITING_APPROVAL)


def _last_reply(messages) -> str:
    replies = [m.content for m in messages if m.role == common_pb2.MESSAGE_ROLE_ASSISTANT and m.content]
    return replies[-1] if replies else ""


def _without_chain(metadata: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return [(key, value) for key, value in metadata if key != CALL_CHAIN_KEY]


def _input(sender: str, message: str) -> common_pb2.InputMessage:
    return common_pb2.InputMessage(
        role=common_pb2.MESSAGE_ROLE_USER,
        content=message,
        name=f"agent-{sender}"[:64],
        metadata=to_struct({"sender_agent_id": sender}),
    )

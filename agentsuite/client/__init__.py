"""The Python client of agentsuite: every public API of the gateway, asynchronous first.

    from agentsuite.client import connect

    async with connect("127.0.0.1:50051", api_key=key) as client:
        agent = await client.agents.create("ann", system_prompt="You are terse.")
        reply = await client.messages.send(agent.id, "hello")
        print(reply.text)

``connect_sync`` (``agentsuite.client.sync``) gives the same API blocking. Failures raise one
hierarchy (``agentsuite.client.errors``); streams yield typed events (``agentsuite.client.events``);
resources are the contract's generated messages (``agentsuite.client.types``).
"""

from agentsuite.client import errors, events, types
from agentsuite.client._call import DEFAULT, system, user
from agentsuite.client._channel import TLS
from agentsuite.client._client import Client, connect
from agentsuite.client._conversation import SendResult
from agentsuite.client._converse import Conversation
from agentsuite.client.errors import (
    Aborted,
    AgentSuiteError,
    AlreadyExists,
    Busy,
    CallCycle,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    QueueFull,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from agentsuite.client.sync import SyncClient, connect_sync

__all__ = [
    "DEFAULT",
    "TLS",
    "Aborted",
    "AgentSuiteError",
    "AlreadyExists",
    "Busy",
    "CallCycle",
    "Client",
    "Conversation",
    "DeadlineExceeded",
    "FailedPrecondition",
    "FieldViolation",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "QueueFull",
    "ResourceExhausted",
    "SendResult",
    "SyncClient",
    "Unauthenticated",
    "Unavailable",
    "connect",
    "connect_sync",
    "errors",
    "events",
    "system",
    "types",
    "user",
]

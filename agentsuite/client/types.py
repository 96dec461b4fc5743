"""The contract's message and enum types a client passes and receives, in one namespace.

Methods return the generated protobuf messages themselves (``Agent``, ``Run``, ``Message``...):
they are the contract, typed by their ``.pyi`` stubs, and carry every field the server adds
without a release of this client. Build arguments with them too:

    from agentsuite.client import types
    await client.agents.create("ann", model=types.ModelConfig(provider="openai", model="gpt-4o-mini"))
"""

from agentsuite.agent.v1.agent_pb2 import (
    Agent,
    AllowedChildrenRule,
    BlockSpec,
    MaxCallsRule,
    ModelConfig,
    RunFirstRule,
    TerminalRule,
    ToolRule,
)
from agentsuite.common.v1.common_pb2 import (
    InputMessage,
    Message,
    MessageRole,
    StopReason,
    TagMatch,
    ToolApproval,
    ToolCall,
    ToolReturn,
    ToolReturnStatus,
    Usage,
)
from agentsuite.gateway.v1.gateway_pb2 import (
    BroadcastResult,
    BroadcastSummary,
    BusyPolicy,
    Run,
    RunStatus,
)
from agentsuite.memory.v1.memory_pb2 import (
    AppendEdit,
    Archive,
    Block,
    BlockEdit,
    BlockHistoryEntry,
    InsertEdit,
    Passage,
    PassageInput,
    ReplaceEdit,
    RewriteEdit,
    ScoredMessage,
    ScoredPassage,
    SearchMode,
)
from agentsuite.tools.v1.tools_pb2 import ExecutionResult, ExecutionStatus, Secret, Tool

__all__ = [
    "Agent",
    "AllowedChildrenRule",
    "AppendEdit",
    "Archive",
    "Block",
    "BlockEdit",
    "BlockHistoryEntry",
    "BlockSpec",
    "BroadcastResult",
    "BroadcastSummary",
    "BusyPolicy",
    "ExecutionResult",
    "ExecutionStatus",
    "InputMessage",
    "InsertEdit",
    "MaxCallsRule",
    "Message",
    "MessageRole",
    "ModelConfig",
    "Passage",
    "PassageInput",
    "ReplaceEdit",
    "RewriteEdit",
    "Run",
    "RunFirstRule",
    "RunStatus",
    "ScoredMessage",
    "ScoredPassage",
    "SearchMode",
    "Secret",
    "StopReason",
    "TagMatch",
    "TerminalRule",
    "Tool",
    "ToolApproval",
    "ToolCall",
    "ToolReturn",
    "ToolReturnStatus",
    "ToolRule",
    "Usage",
]

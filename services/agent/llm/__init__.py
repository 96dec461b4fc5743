"""The agent's LLM layer: provider-neutral types, the OpenAI-compatible provider, the offline model.

Callers catch :class:`LLMError` (provider failed for good; the run stops with LLM_ERROR) and
:class:`~services.common.errors.DeadlineExceeded` (the caller's deadline was spent).
"""

from .openai_compatible import OpenAICompatibleModel
from .providers import ProviderRegistry, build_providers
from .scripted import ScriptedModel
from .types import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    Completion,
    LLMError,
    LLMEvent,
    ReasoningDelta,
    TextDelta,
    TokenUsage,
    ToolCall,
    ToolCallStarted,
    ToolSpec,
)

__all__ = [
    "ChatMessage",
    "ChatModel",
    "ChatRequest",
    "Completion",
    "LLMError",
    "LLMEvent",
    "OpenAICompatibleModel",
    "ProviderRegistry",
    "ReasoningDelta",
    "ScriptedModel",
    "TextDelta",
    "TokenUsage",
    "ToolCall",
    "ToolCallStarted",
    "ToolSpec",
    "build_providers",
]

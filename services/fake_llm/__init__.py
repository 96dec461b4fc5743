"""A fake OpenAI-compatible HTTP server for tests and benchmarks: real HTTP and SSE, scripted replies."""

from .server import FakeLLMServer, ScriptedError, ScriptedFault, ScriptedReply, ScriptedToolCall

__all__ = ["FakeLLMServer", "ScriptedError", "ScriptedFault", "ScriptedReply", "ScriptedToolCall"]

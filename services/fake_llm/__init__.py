"""A fake OpenAI-compatible HTTP server for tests and benchmarks: real HTTP and SSE, scripted replies."""

from .server import FakeLLMServer, ScriptedError, ScriptedReply, ScriptedToolCall

__all__ = ["FakeLLMServer", "ScriptedError", "ScriptedReply", "ScriptedToolCall"]

"""The agent service: the agent loop, its LLM providers and its gRPC API."""

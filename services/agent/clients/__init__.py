"""Clients of the services the agent service calls: memory, tools and the gateway."""

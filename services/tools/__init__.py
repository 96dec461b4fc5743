"""The tools service: tool registry, secrets and sandboxed execution."""

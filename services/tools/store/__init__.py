"""The tools service's own schema: tool definitions and encrypted secrets."""

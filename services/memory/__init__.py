"""The memory service: core memory blocks, archival passages, messages (recall) and the context."""

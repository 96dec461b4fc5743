"""Memory logic on plain dataclasses: no gRPC, no SQL."""

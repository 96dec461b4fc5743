"""The tools service's logic on plain dataclasses: tools, schema derivation, the sandbox policy."""

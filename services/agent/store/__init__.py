"""Tables and repositories of the agent schema."""

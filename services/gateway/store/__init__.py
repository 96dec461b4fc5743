"""Tables and repositories of the gateway schema."""

"""Tables and repositories of the memory schema."""

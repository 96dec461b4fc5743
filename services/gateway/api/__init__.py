"""The gateway's gRPC API: the ConversationService handlers, the forwarder of the public backend
APIs, and the edge interceptors (authentication, request validation)."""

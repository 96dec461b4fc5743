"""The gateway: the only public endpoint. Authenticates, runs conversations, forwards public APIs."""

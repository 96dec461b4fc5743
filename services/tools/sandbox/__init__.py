"""Running tool code: the bubblewrap launcher, the supervisor of one call, and the in-sandbox runner."""

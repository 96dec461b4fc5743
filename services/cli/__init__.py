"""The ``agentsuite`` command: run the suite, chat with an agent, manage API keys."""

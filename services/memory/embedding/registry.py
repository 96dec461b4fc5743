"""The embedders this memory service offers, by name, built once from settings at start-up."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.common.errors import InvalidArgument
from services.memory.core.archival import MAX_DIMENSION
from services.memory.core.embedder import Embedder

EmbedderFactory = Callable[[int], Embedder]
"""Builds the embedder for a dimension (0 = its native one); InvalidArgument when unsupported."""


class EmbedderRegistry:
    """Resolves an archive's (embedder name, dimension) to an embedder instance, cached."""

    def __init__(self, factories: Mapping[str, EmbedderFactory], *, default: str):
        if default not in factories:
            raise ValueError(
                f"the default embedder {default!r} (AGENTSUITE_DEFAULT_EMBEDDER) is not available; "
                f"available: {', '.join(sorted(factories))}"
            )
        self._factories = dict(factories)
        self._default = default
        self._instances: dict[tuple[str, int], Embedder] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._factories)

    @property
    def default(self) -> str:
        return self._default

    def resolve(self, name: str, dimension: int) -> Embedder:
        """The embedder ``name`` ("" = the default) for ``dimension`` (0 = native)."""
        name = name or self._default
        factory = self._factories.get(name)
        if factory is None:
            raise InvalidArgument.field(
                "embedder", f"unknown embedder {name[:64]!r}; known: {', '.join(self.names)}"
            )
        if not 0 <= dimension <= MAX_DIMENSION:
            raise InvalidArgument.field("dimension", f"must be between 1 and {MAX_DIMENSION} (0 = native)")
        key = (name, dimension)
        embedder = self._instances.get(key)
        if embedder is None:
            embedder = factory(dimension)
            self._instances[key] = embedder
            self._instances[(name, embedder.dimension)] = embedder
        return embedder

    async def aclose(self) -> None:
        """Close the embedders that hold connections (remote providers)."""
        for embedder in {id(e): e for e in self._instances.values()}.values():
            close = getattr(embedder, "aclose", None)
            if close is not None:
                await close()


def fixed_dimension(name: str, native: int, build: Callable[[], Embedder]) -> EmbedderFactory:
    """A factory for an embedder that only produces ``native`` dimensions (built on first use)."""

    def factory(dimension: int) -> Embedder:
        if dimension not in (0, native):
            raise InvalidArgument.field(
                "dimension", f"embedder {name!r} produces {native}-dimensional vectors, not {dimension}"
            )
        return build()

    return factory

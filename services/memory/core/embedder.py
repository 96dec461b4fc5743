"""What archival memory needs from an embedder, whatever computes the vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into vectors of one fixed dimension.

    ``embed`` returns a float32 array of shape ``(len(texts), dimension)``; rows need not be
    normalised (search uses cosine distance) but must not be all zeros. Remote embedders raise
    :class:`services.common.errors.Unavailable` when their provider cannot be reached.
    """

    @property
    def name(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    @property
    def local(self) -> bool:
        """True when vectors are computed in this process (so embedding may overlap a write);
        False for a remote provider (called before any transaction opens)."""
        ...

    async def embed(self, texts: Sequence[str]) -> np.ndarray: ...

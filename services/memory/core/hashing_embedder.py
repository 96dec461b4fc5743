"""The built-in ``local`` embedder: signed feature hashing of words, word pairs and character n-grams.

No network, no model, deterministic across processes and machines (features are hashed with
BLAKE2b, not Python's salted ``hash``), any dimension from 1 to 2000 (384 by default).

What a vector is made of, for one text:

* the text is NFKC-normalised and case-folded, split into word tokens (``\\w+``); common English
  stop words are dropped (unless nothing else is left);
* each word contributes its own feature (weight 1) and its character 3- and 4-grams with boundary
  marks (``<wo``, ``wor``, ``ord``, ``rd>``...; together weight ~0.7), so ``embedding`` and
  ``embeddings`` or ``index``/``indexes`` land close together;
* each pair of neighbouring words contributes a feature (weight 0.7), so word order counts a little;
* a word or pair repeated ``tf`` times weighs ``1 + ln(tf)`` (sublinear term frequency);
* every feature is hashed to one of ``dimension`` buckets with a hashed sign (so collisions cancel
  on average rather than pile up), and the vector is L2-normalised.

Cosine similarity of two such vectors therefore measures **lexical and sub-word overlap**: shared
words, shared word pairs, shared stems and morphology. It knows nothing about meaning: synonyms
("car"/"automobile"), paraphrases, other languages and negation are invisible to it. Use the
OpenAI-compatible or the sentence-transformers embedder when that matters.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import unicodedata
from array import array
from collections import Counter
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from services.memory.core.archival import MAX_DIMENSION

DEFAULT_DIMENSION = 384

_WORD = re.compile(r"\w+")
_BIGRAM_WEIGHT = 0.7
_NGRAM_MASS = 0.7  # total weight of one word's character n-grams (spread over them, see _word)
_NGRAM_SIZES = (3, 4)
_CACHE_LIMIT = 500_000  # cached feature entries; natural text is Zipfian, so most lookups hit
# Embedding runs in a worker thread in batches of this many texts, so a large insert neither blocks
# the event loop nor holds one huge intermediate array.
_BATCH = 1000

_STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not of off on once only or other our ours ourselves out over own
    same she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up very was we were what when where which while who whom
    why will with would you your yours yourself yourselves""".split()
)

_Features = tuple[tuple[int, ...], tuple[float, ...]]  # a word's bucket indices and signed weights


class HashingEmbedder:
    """The ``local`` embedder (see the module docstring for what it captures and what it does not)."""

    def __init__(self, dimension: int = DEFAULT_DIMENSION, *, name: str = "local"):
        if not 1 <= dimension <= MAX_DIMENSION:
            raise ValueError(f"dimension must be between 1 and {MAX_DIMENSION}")
        self._dimension = dimension
        self._name = name
        self._cache: dict[str, _Features] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def local(self) -> bool:
        return True

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, computed in a worker thread, batch by batch."""
        if len(texts) <= 16:  # a search query: cheaper than a thread hop
            return self.embed_now(texts)
        parts = [
            await asyncio.to_thread(self.embed_now, texts[start : start + _BATCH])
            for start in range(0, len(texts), _BATCH)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, self._dimension), np.float32)

    def embed_now(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, computed in the calling thread: float32, shape (len(texts), dimension)."""
        # Flat arrays, then one ``bincount``: per-feature numpy calls would cost more than the hashing.
        buckets = array("q")  # C arrays: extended at C speed, handed to numpy without a copy
        weights = array("d")
        row_sizes: list[int] = []
        for text in texts:
            before = len(buckets)
            words, pairs = self._terms(text)
            for word, tf in words.items():
                indices, signed = self._cache.get(word) or self._word(word)
                buckets.extend(indices)
                if tf == 1:
                    weights.extend(signed)
                else:
                    scale = _sublinear(tf)
                    weights.extend([w * scale for w in signed])
            # Word pairs are mostly unique, so caching them would only churn the cache: hash inline.
            for pair, tf in pairs.items():
                bucket, sign = _hash(pair)
                buckets.append(bucket % self._dimension)
                weights.append(sign * _BIGRAM_WEIGHT * (1.0 if tf == 1 else _sublinear(tf)))
            row_sizes.append(len(buckets) - before)
        shape = (len(texts), self._dimension)
        rows = np.repeat(np.arange(shape[0], dtype=np.int64) * shape[1], row_sizes)
        flat = rows + np.frombuffer(buckets, np.int64)
        out = np.bincount(flat, weights=np.frombuffer(weights), minlength=shape[0] * shape[1]).reshape(shape)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        empty = norms[:, 0] == 0.0
        if empty.any():  # nothing to hash (an empty text): a fixed unit vector, never a zero one
            out[empty, 0], norms[empty] = 1.0, 1.0
        return (out / norms).astype(np.float32)

    @staticmethod
    def _terms(text: str) -> tuple[Counter[str], Counter[str]]:
        """The distinct content words and neighbouring word pairs of ``text``, with their counts."""
        words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
        content = [word for word in words if word not in _STOP_WORDS] or words
        return Counter(content), Counter(f"b:{a} {b}" for a, b in pairwise(content))

    def _word(self, word: str) -> _Features:
        marked = f"<{word}>"
        grams = [marked[i : i + n] for n in _NGRAM_SIZES for i in range(len(marked) - n + 1)]
        # Spread a fixed mass over the n-grams, so long words do not outweigh short ones.
        gram_weight = _NGRAM_MASS / max(1, len(grams)) ** 0.5
        keys = [f"w:{word}", *(f"c:{gram}" for gram in grams)]
        return self._remember(word, keys, [1.0] + [gram_weight] * len(grams))

    def _remember(self, key: str, features: list[str], weights: list[float]) -> _Features:
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        hashed = [_hash(feature) for feature in features]
        found = (
            tuple(h % self._dimension for h, _ in hashed),
            tuple(sign * w for (_, sign), w in zip(hashed, weights, strict=True)),
        )
        self._cache[key] = found
        return found


def _hash(feature: str) -> tuple[int, float]:
    """A stable 63-bit bucket hash and a sign for ``feature`` (BLAKE2b: the same in every process)."""
    h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
    return h & 0x7FFF_FFFF_FFFF_FFFF, 1.0 if h >> 63 else -1.0


def _sublinear(tf: int) -> float:
    return 1.0 + math.log(tf)

"""The ``openai`` embedder: any server speaking OpenAI's ``POST /v1/embeddings`` (OpenAI, Azure-style
proxies, vLLM, Ollama, llama.cpp server, LM Studio, Together...).

Texts go in batches; a batch that fails with 429, a 5xx or a transport error is retried with
backoff (honouring ``Retry-After``) while the caller's deadline allows; when the provider stays
unreachable the call fails with UNAVAILABLE. The API key is sent per request and never appears in
errors or logs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import httpx
import numpy as np
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from services.common.call import current_call
from services.common.errors import AgentSuiteError, FailedPrecondition, InvalidArgument, Unavailable

_log = logging.getLogger(__name__)


class _Retryable(Exception):
    """A failure worth another attempt (429, 5xx, transport)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAICompatibleEmbedder:
    """Embeds with ``model`` at ``base_url`` (the ``.../v1`` URL), ``dimension``-dimensional vectors."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        model: str,
        dimension: int,
        send_dimensions: bool = False,
        batch_size: int = 256,
        name: str = "openai",
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 4,
        timeout: float = 30.0,
        backoff_base: float = 0.25,
        default_deadline: float = 30.0,
    ):
        self._url = base_url.rstrip("/") + "/embeddings"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self._dimension = dimension
        self._send_dimensions = send_dimensions
        self._batch_size = max(1, batch_size)
        self._name = name
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._max_attempts = max_attempts
        self._timeout = timeout
        self._wait = wait_exponential_jitter(multiplier=backoff_base, max=8.0, jitter=backoff_base)
        self._default_deadline = default_deadline

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleEmbedder(url={self._url!r}, model={self._model!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def local(self) -> bool:
        return False

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts``, one request per batch; UNAVAILABLE when the provider stays down."""
        deadline = time.monotonic() + current_call().remaining(self._default_deadline)
        parts = []
        for start in range(0, len(texts), self._batch_size):
            parts.append(await self._embed_batch(list(texts[start : start + self._batch_size]), deadline))
        return np.concatenate(parts) if parts else np.zeros((0, self._dimension), np.float32)

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was lent to us."""
        if self._owns_client:
            await self._client.aclose()

    async def _embed_batch(self, texts: list[str], deadline: float) -> np.ndarray:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts) | _PastDeadline(deadline),
            wait=self._wait_for,
            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)),
            before_sleep=lambda state: _log.warning(
                "embedding provider failed, retrying", extra={"attempt": state.attempt_number}
            ),
            reraise=True,
        )
        try:
            return await retrying(self._post, texts, deadline)
        except _Retryable as exc:
            raise Unavailable(
                f"the embedding provider is unavailable: {exc}", reason="EMBEDDER_UNAVAILABLE"
            ) from None

    def _wait_for(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Retryable) and failure.retry_after is not None:
            return min(failure.retry_after, 10.0)
        return self._wait(state)

    async def _post(self, texts: list[str], deadline: float) -> np.ndarray:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Retryable("the deadline passed")
        payload: dict = {"model": self._model, "input": texts, "encoding_format": "float"}
        if self._send_dimensions:
            payload["dimensions"] = self._dimension
        try:
            async with asyncio.timeout(remaining):
                response = await self._client.post(
                    self._url, json=payload, headers=self._headers, timeout=min(self._timeout, remaining)
                )
        except (TimeoutError, httpx.TransportError) as exc:
            raise _Retryable(f"{type(exc).__name__} talking to {self._url}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}", _retry_after(response.headers))
        if response.status_code >= 400:
            raise _refusal(response)
        return self._vectors(response, len(texts))

    def _vectors(self, response: httpx.Response, expected: int) -> np.ndarray:
        try:
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            vectors = np.asarray([item["embedding"] for item in data], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(f"the embedding provider sent a malformed answer ({exc})") from None
        if vectors.ndim != 2 or vectors.shape[0] != expected:
            raise Unavailable(
                f"the embedding provider answered {vectors.shape[0]} vectors for {expected} texts"
            )
        if vectors.shape[1] != self._dimension:
            raise FailedPrecondition(
                f"model {self._model!r} returned {vectors.shape[1]}-dimensional vectors but the embedder is "
                f"configured for {self._dimension} (AGENTSUITE_EMBEDDING_DIMENSION)",
                reason="EMBEDDER_DIMENSION_MISMATCH",
            )
        return vectors


class _PastDeadline(stop_base):
    def __init__(self, deadline: float):
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() >= self._deadline


def _refusal(response: httpx.Response) -> AgentSuiteError:
    try:
        detail = str(response.json()["error"]["message"])[:300]
    except (ValueError, KeyError, TypeError):
        detail = response.text[:300]
    if response.status_code in (400, 413, 422):  # the text embedded, a passage's or a query's
        return InvalidArgument.field(
            "text", f"refused by the embedding provider (HTTP {response.status_code}): {detail}"
        )
    message = f"the embedding provider refused the request (HTTP {response.status_code}): {detail}"
    # 401, 403, 404 (unknown model): the service is misconfigured, not the request malformed.
    return FailedPrecondition(message, reason="EMBEDDER_REFUSED")


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None

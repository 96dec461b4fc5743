"""The OpenAI-compatible Chat Completions provider (OpenAI, vLLM, Ollama, llama.cpp, OpenRouter, ...).

Streams over SSE (the wire format is :mod:`.openai_wire`'s), and retries transient failures with
tenacity — but only until the first event reaches the caller, because replaying a half-streamed answer
would show the user text twice, and never past the caller's deadline.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter
from yarl import URL

from services.common.errors import AgentSuiteError, DeadlineExceeded

from .openai_wire import EncodedMessages, StreamAssembler, line_batches, parse_completion, request_body
from .types import ChatRequest, Completion, LLMError, LLMEvent

_log = logging.getLogger(__name__)
T = TypeVar("T")

# A provider asking for a longer pause than this is better reported than waited for.
_MAX_RETRY_AFTER = 60.0
# Error bodies are read only to quote the provider's message; a runaway body must not cost memory.
_ERROR_BODY_LIMIT = 4096


class OpenAICompatibleModel:
    """A :class:`~services.agent.llm.types.ChatModel` speaking the OpenAI Chat Completions protocol."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None,
        client: aiohttp.ClientSession | None = None,
        max_attempts: int = 4,
        timeout: float = 120.0,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
    ):
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self._base_url = base_url.rstrip("/")
        self._url = f"{self._base_url}/chat/completions"
        self._api_key = api_key or None
        # Sent per request rather than set on the client, so an injected shared client never leaks it.
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._owns_client = client is None
        # Made on first use: an aiohttp session belongs to the running event loop.
        self._client = client
        # The proxy of the environment (HTTPS_PROXY, NO_PROXY, ...), as httpx honoured it, read
        # once: aiohttp's trust_env would look it up, and netrc, in a thread on every request.
        self._proxy, self._proxy_auth = _env_proxy(self._url)
        self._max_attempts = max_attempts
        self._timeout = timeout
        self._backoff = wait_exponential_jitter(multiplier=backoff_base, max=backoff_max, jitter=backoff_base)
        self._encoded = EncodedMessages()

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleModel(base_url={self._base_url!r})"

    async def stream(self, request: ChatRequest, *, deadline: float | None = None) -> AsyncIterator[LLMEvent]:
        """Stream the answer as events; the last one is a :class:`Completion`.

        Raises :class:`LLMError` when the provider fails for good and :class:`DeadlineExceeded` when the
        deadline is spent. Closing the generator early closes the HTTP response at once.
        """
        body = request_body(request, stream=True, encoded=self._encoded)
        opened, events, first = await self._with_retries(self._open_stream, body, deadline)
        async with opened:
            yield first
            while True:
                try:
                    async with asyncio.timeout(_remaining(deadline)):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except (TimeoutError, aiohttp.ClientError) as exc:
                    raise _transport_error(exc, deadline) from exc
                yield event

    async def complete(self, request: ChatRequest, *, deadline: float | None = None) -> Completion:
        """The whole answer in one response (``stream: false``); retried like a stream's start."""
        body = request_body(request, stream=False, encoded=self._encoded)
        return await self._with_retries(self._complete_once, body, deadline)

    async def aclose(self) -> None:
        """Close the HTTP client, unless it was lent to us."""
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None

    def _session(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(
                # One pooled client per process; sized so ~64 runs can stream at once without
                # queueing. aiohttp rather than httpx: a third of the CPU per call, which the agent
                # service pays on every step.
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30.0),
                timeout=_client_timeout(self._timeout),
            )
        return self._client

    def _post(self, body: bytes, deadline: float | None):
        return self._session().post(
            self._url,
            data=body,
            headers=self._headers,
            timeout=_client_timeout(self._attempt_timeout(deadline)),
            proxy=self._proxy,
            proxy_auth=self._proxy_auth,
        )

    async def _with_retries(
        self, attempt: Callable[[bytes, float | None], Awaitable[T]], body: bytes, deadline: float | None
    ) -> T:
        """``attempt(body, deadline)``, retried by :meth:`_retrying`'s policy."""
        # Nearly every call succeeds at once, and tenacity's machinery costs more CPU than the
        # rest of the call's own work: the first attempt runs without it. A retryable failure is
        # handed to tenacity as its first attempt's outcome, so waits, Retry-After, the attempt
        # limit, the deadline and the log apply exactly as if tenacity had made it.
        try:
            return await attempt(body, deadline)
        except LLMError as exc:
            if not exc.retryable:
                raise
            first_failure: LLMError | None = exc

        async def again(body: bytes, deadline: float | None) -> T:
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return await attempt(body, deadline)

        return await self._retrying(deadline)(again, body, deadline)

    def _retrying(self, deadline: float | None) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts) | _StopBeforeDeadline(deadline),
            wait=_RetryAfterOr(self._backoff),
            retry=retry_if_exception(lambda exc: isinstance(exc, LLMError) and exc.retryable),
            before_sleep=_log_retry,
            reraise=True,
        )

    async def _open_stream(
        self, body: bytes, deadline: float | None
    ) -> tuple[AsyncExitStack, AsyncIterator[LLMEvent], LLMEvent]:
        """One attempt: open the response and read up to the first event (the part that may be retried)."""
        _check_deadline(deadline)
        exits = AsyncExitStack()
        try:
            async with asyncio.timeout(_remaining(deadline)):
                response = await exits.enter_async_context(self._post(body, deadline))
                # A response left before its end (cancelled, closed early, failed) must not go
                # back to the pool: closing it ends the provider's stream at once.
                exits.callback(_close_unless_read, response)
                await self._raise_for_status(response)
                events = StreamAssembler(redact=self._redact).events(line_batches(_text(response)))
                exits.push_async_callback(events.aclose)
                first = await anext(events)
        except BaseException as exc:
            await exits.aclose()
            if isinstance(exc, TimeoutError | aiohttp.ClientError):
                raise _transport_error(exc, deadline) from exc
            raise
        return exits, events, first

    async def _complete_once(self, body: bytes, deadline: float | None) -> Completion:
        _check_deadline(deadline)
        try:
            async with asyncio.timeout(_remaining(deadline)), self._post(body, deadline) as response:
                await self._raise_for_status(response)
                body = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _transport_error(exc, deadline) from exc
        return parse_completion(body, redact=self._redact)

    def _attempt_timeout(self, deadline: float | None) -> float:
        if deadline is None:
            return self._timeout
        return max(0.001, min(self._timeout, deadline - time.monotonic()))

    async def _raise_for_status(self, response: aiohttp.ClientResponse) -> None:
        status = response.status
        if status < 300:
            return
        body = bytearray()
        while len(body) < _ERROR_BODY_LIMIT and (part := await response.content.read(_ERROR_BODY_LIMIT)):
            body += part
        raise LLMError(
            self._redact(f"the provider answered HTTP {status}: {_error_detail(bytes(body))}"),
            status=status,
            # 408/409 are OpenAI's own "try again" codes besides rate limits and server errors.
            retryable=status in (408, 409, 429) or status >= 500,
            retry_after=_retry_after(response.headers),
        )

    def _redact(self, text: str) -> str:
        # Some providers quote the key they rejected; it must not reach logs or clients.
        return text.replace(self._api_key, "***") if self._api_key else text


async def _text(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """The body as text, each network read as it arrives (SSE is UTF-8; a character cut between
    reads completes in the next one)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    async for chunk in response.content.iter_any():
        if text := decoder.decode(chunk):
            yield text
    if text := decoder.decode(b"", final=True):
        yield text


def _close_unless_read(response: aiohttp.ClientResponse) -> None:
    if not response.content.at_eof():
        response.close()


class _StopBeforeDeadline(stop_base):
    """Stop retrying when the next sleep would end after the deadline, or is longer than we ever wait."""

    def __init__(self, deadline: float | None):
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        sleep = retry_state.upcoming_sleep
        if sleep > _MAX_RETRY_AFTER:
            return True
        return self._deadline is not None and time.monotonic() + sleep >= self._deadline


class _RetryAfterOr(wait_base):
    """Wait what the provider asked for (``Retry-After``), else back off exponentially with jitter."""

    def __init__(self, fallback: wait_base):
        self._fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, LLMError) and exc.retry_after is not None:
            return exc.retry_after
        return self._fallback(retry_state)


def _log_retry(retry_state: RetryCallState) -> None:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    _log.warning(
        "LLM call failed (attempt %d): %s; retrying in %.2fs",
        retry_state.attempt_number,
        exc,
        retry_state.upcoming_sleep,
    )


def _env_proxy(url: str) -> tuple[Any, aiohttp.BasicAuth | None]:
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:  # no proxy for this URL
        return None, None


def _client_timeout(timeout: float) -> aiohttp.ClientTimeout:
    # As httpx's timeout: a limit on connecting and on each wait for data, not on the whole answer
    # (a long stream is fine while it flows; the deadline bounds it as a whole).
    return aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=timeout, sock_read=timeout)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded("the deadline passed before the LLM call could start")


def _transport_error(exc: BaseException, deadline: float | None) -> AgentSuiteError:
    """Map a timeout or network failure to the domain: a spent deadline, or a (maybe retryable) LLMError."""
    # Our own deadline (asyncio.timeout) and the attempt's timeout both raise TimeoutError: the
    # first is a spent deadline, the second (the attempt ran past the client's timeout) retryable.
    spent = deadline is not None and time.monotonic() >= deadline - 0.005
    if isinstance(exc, TimeoutError) and spent:
        return DeadlineExceeded("the LLM call did not finish before its deadline")
    if isinstance(exc, TimeoutError):
        return LLMError(f"the provider did not answer in time ({type(exc).__name__})", retryable=True)
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return LLMError(f"bad provider URL: {exc}")
    return LLMError(f"could not talk to the provider ({type(exc).__name__}: {exc})", retryable=True)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_detail(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return text[:500] or "(empty body)"
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    return str(error)[:500]

"""The OpenAI-compatible embedder against the fake server over real HTTP: batching, order, retries
on 429/5xx, UNAVAILABLE when the provider is unreachable, and the fake's deterministic vectors."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
import pytest_asyncio

from services.common.errors import FailedPrecondition, Unavailable
from services.common.ports import free_port
from services.fake_llm import FakeLLMServer
from services.fake_llm.server import ScriptedError, ScriptedReply, fake_embedding
from services.memory.embedding.openai_compatible import OpenAICompatibleEmbedder


@pytest_asyncio.fixture
async def fake_llm() -> AsyncIterator[FakeLLMServer]:
    server = FakeLLMServer()
    await server.start()
    yield server
    await server.stop()


def embedder(url: str, model: str, **options) -> OpenAICompatibleEmbedder:
    options = {"dimension": 8, "backoff_base": 0.01, **options}
    return OpenAICompatibleEmbedder(base_url=url, api_key="sk-secret", model=model, **options)


async def test_vectors_come_back_in_input_order_across_batches(fake_llm):
    model = f"embed-{uuid.uuid4().hex[:8]}"
    texts = [f"passage number {i}" for i in range(7)]
    client = embedder(fake_llm.base_url, model, batch_size=3)

    vectors = await client.embed(texts)
    await client.aclose()

    assert vectors.shape == (7, 8) and vectors.dtype == np.float32
    expected = np.asarray([fake_embedding(t, 8) for t in texts], np.float32)
    assert np.allclose(vectors, expected, atol=1e-6)
    assert [len(r["input"]) for r in fake_llm.requests(model=model)] == [3, 3, 1]


async def test_the_fake_gives_similar_vectors_to_texts_sharing_words():
    a, b, c = (np.asarray(fake_embedding(t, 64)) for t in ("red apple pie", "red apple tart", "ocean waves"))
    assert a @ b > a @ c
    assert fake_embedding("same text", 16) == fake_embedding("same text", 16)


async def test_retries_429_and_5xx_then_succeeds(fake_llm):
    model = f"embed-{uuid.uuid4().hex[:8]}"
    fake_llm.script(
        model=model,
        replies=[
            ScriptedReply(error=ScriptedError(status=429, retry_after="0")),
            ScriptedReply(error=ScriptedError(status=503)),
        ],
    )
    client = embedder(fake_llm.base_url, model)

    vectors = await client.embed(["hello"])

    assert vectors.shape == (1, 8)
    assert len(fake_llm.requests(model=model)) == 3


async def test_a_provider_that_stays_down_is_unavailable(fake_llm):
    model = f"embed-{uuid.uuid4().hex[:8]}"
    fake_llm.script(model=model, replies=[ScriptedReply(error=ScriptedError(status=500))] * 5)

    with pytest.raises(Unavailable) as failed:
        await embedder(fake_llm.base_url, model, max_attempts=3).embed(["x"])

    assert len(fake_llm.requests(model=model)) == 3
    assert "sk-secret" not in failed.value.message


async def test_an_unreachable_provider_is_unavailable():
    with pytest.raises(Unavailable):
        await embedder(f"http://127.0.0.1:{free_port()}/v1", "m", max_attempts=2).embed(["x"])


async def test_a_refused_key_or_a_wrong_dimension_is_a_failed_precondition(fake_llm):
    model = f"embed-{uuid.uuid4().hex[:8]}"
    fake_llm.script(model=model, replies=[ScriptedReply(error=ScriptedError(status=401, message="bad key"))])

    with pytest.raises(FailedPrecondition):
        await embedder(fake_llm.base_url, model).embed(["x"])
    with pytest.raises(FailedPrecondition) as mismatch:
        await embedder(fake_llm.base_url, model, dimension=16).embed(["x"])
    assert "AGENTSUITE_EMBEDDING_DIMENSION" in mismatch.value.message


async def test_dimensions_are_sent_when_asked(fake_llm):
    model = f"embed-{uuid.uuid4().hex[:8]}"

    vectors = await embedder(fake_llm.base_url, model, dimension=32, send_dimensions=True).embed(["x"])

    assert vectors.shape == (1, 32)
    assert fake_llm.requests(model=model)[0]["dimensions"] == 32

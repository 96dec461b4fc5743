"""Archival memory through the MemoryService gRPC API on a real server and database: status codes,
field violations, page tokens and scores as the contract's comments define them."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import timestamp_pb2

from agentsuite.common.v1 import common_pb2
from agentsuite.memory.v1 import memory_pb2, memory_service_pb2, memory_service_pb2_grpc
from services.common.call import TENANT_KEY
from services.common.status import from_rpc_error
from services.memory.store.agents import ensure_agent

pb = memory_service_pb2


@pytest.fixture
def stub(memory_channel) -> memory_service_pb2_grpc.MemoryServiceStub:
    return memory_service_pb2_grpc.MemoryServiceStub(memory_channel)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def as_(tenant: str) -> tuple:
    return ((TENANT_KEY, tenant),)


async def code_of(call) -> tuple[grpc.StatusCode, list[str]]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    status = from_rpc_error(caught.value)
    return caught.value.code(), [v.field for v in getattr(status, "violations", [])]


async def make_archive(stub, tenant, **fields) -> memory_pb2.Archive:
    response = await stub.CreateArchive(pb.CreateArchiveRequest(name="notes", **fields), metadata=as_(tenant))
    return response.archive


async def test_create_get_list_delete_an_archive(stub, tenant):
    archive = await make_archive(stub, tenant)
    got = (await stub.GetArchive(pb.GetArchiveRequest(archive_id=archive.id), metadata=as_(tenant))).archive
    listed = await stub.ListArchives(pb.ListArchivesRequest(), metadata=as_(tenant))

    assert (got.embedder, got.dimension, got.name) == ("local", 384, "notes")
    assert [a.id for a in listed.archives] == [archive.id]
    await stub.DeleteArchive(pb.DeleteArchiveRequest(archive_id=archive.id), metadata=as_(tenant))
    code, _ = await code_of(
        stub.GetArchive(pb.GetArchiveRequest(archive_id=archive.id), metadata=as_(tenant))
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_list_archives_pages_with_tokens(stub, tenant):
    made = [await make_archive(stub, tenant) for _ in range(5)]

    seen, token = [], ""
    while True:
        page = await stub.ListArchives(
            pb.ListArchivesRequest(page_size=2, page_token=token), metadata=as_(tenant)
        )
        seen += [a.id for a in page.archives]
        token = page.next_page_token
        if not token:
            break

    assert seen == [a.id for a in reversed(made)]
    code, fields = await code_of(
        stub.ListArchives(pb.ListArchivesRequest(page_token="bogus"), metadata=as_(tenant))
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])


async def test_bad_archive_requests_are_invalid_argument(stub, tenant):
    unknown = await code_of(
        stub.CreateArchive(pb.CreateArchiveRequest(name="x", embedder="bert"), metadata=as_(tenant))
    )
    too_big = await code_of(
        stub.CreateArchive(pb.CreateArchiveRequest(name="x", dimension=4096), metadata=as_(tenant))
    )
    unnamed = await code_of(stub.CreateArchive(pb.CreateArchiveRequest(), metadata=as_(tenant)))

    assert unknown == (grpc.StatusCode.INVALID_ARGUMENT, ["embedder"])
    assert too_big == (grpc.StatusCode.INVALID_ARGUMENT, ["dimension"])
    assert unnamed == (grpc.StatusCode.INVALID_ARGUMENT, ["name"])


async def test_attach_detach_and_unknown_agents(stub, tenant, migrated_engine):
    agent = str(uuid.uuid4())
    async with migrated_engine.begin() as conn:
        await ensure_agent(conn, tenant, agent)
    archive = await make_archive(stub, tenant)

    attached = await stub.AttachArchive(
        pb.AttachArchiveRequest(archive_id=archive.id, agent_id=agent), metadata=as_(tenant)
    )
    assert list(attached.archive.agent_ids) == [agent]
    by_agent = await stub.ListArchives(pb.ListArchivesRequest(agent_id=agent), metadata=as_(tenant))
    assert [a.id for a in by_agent.archives] == [archive.id]
    detached = await stub.DetachArchive(
        pb.DetachArchiveRequest(archive_id=archive.id, agent_id=agent), metadata=as_(tenant)
    )
    assert list(detached.archive.agent_ids) == []
    stranger = str(uuid.uuid4())
    code, _ = await code_of(
        stub.AttachArchive(
            pb.AttachArchiveRequest(archive_id=archive.id, agent_id=stranger), metadata=as_(tenant)
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_insert_list_search_and_delete_passages(stub, tenant):
    archive = await make_archive(stub, tenant)
    when = timestamp_pb2.Timestamp(seconds=1_700_000_000)
    inserted = await stub.InsertPassages(
        pb.InsertPassagesRequest(
            archive_id=archive.id,
            passages=[
                memory_pb2.PassageInput(
                    text="The lighthouse keeper logs every ship", tags=["log"], create_time=when
                ),
                memory_pb2.PassageInput(text="Ships pass the harbour at night", tags=["log", "night"]),
                memory_pb2.PassageInput(text="Bread recipe with rye flour", tags=["food"]),
            ],
        ),
        metadata=as_(tenant),
    )
    assert len(inserted.passage_ids) == 3

    listed = await stub.ListPassages(
        pb.ListPassagesRequest(archive_id=archive.id, tags=["log"], tag_match=common_pb2.TAG_MATCH_ANY),
        metadata=as_(tenant),
    )
    assert [p.text for p in listed.passages] == [
        "Ships pass the harbour at night",
        "The lighthouse keeper logs every ship",
    ]
    assert listed.passages[1].create_time == when

    found = await stub.SearchPassages(
        pb.SearchPassagesRequest(archive_id=archive.id, query="ship lighthouse"), metadata=as_(tenant)
    )
    assert found.results[0].passage.id == inserted.passage_ids[0]
    assert found.results[0].vector_score > 0 and found.results[0].text_score > 0
    assert [r.score for r in found.results] == sorted((r.score for r in found.results), reverse=True)

    await stub.DeletePassage(
        pb.DeletePassageRequest(passage_id=inserted.passage_ids[0]), metadata=as_(tenant)
    )
    code, _ = await code_of(
        stub.DeletePassage(pb.DeletePassageRequest(passage_id=inserted.passage_ids[0]), metadata=as_(tenant))
    )
    assert code == grpc.StatusCode.NOT_FOUND


async def test_search_pages_with_tokens(stub, tenant):
    archive = await make_archive(stub, tenant)
    await stub.InsertPassages(
        pb.InsertPassagesRequest(
            archive_id=archive.id,
            passages=[memory_pb2.PassageInput(text=f"crane {i} moves containers") for i in range(12)],
        ),
        metadata=as_(tenant),
    )

    first = await stub.SearchPassages(
        pb.SearchPassagesRequest(archive_id=archive.id, query="crane", page_size=5), metadata=as_(tenant)
    )
    second = await stub.SearchPassages(
        pb.SearchPassagesRequest(
            archive_id=archive.id, query="crane", page_size=5, page_token=first.next_page_token
        ),
        metadata=as_(tenant),
    )
    assert first.next_page_token and len(first.results) == len(second.results) == 5
    assert not {r.passage.id for r in first.results} & {r.passage.id for r in second.results}


async def test_bad_inserts_and_searches_name_their_fields(stub, tenant):
    archive = await make_archive(stub, tenant)

    empty = await code_of(
        stub.InsertPassages(
            pb.InsertPassagesRequest(archive_id=archive.id, passages=[memory_pb2.PassageInput(text=" ")]),
            metadata=as_(tenant),
        )
    )
    none = await code_of(
        stub.InsertPassages(pb.InsertPassagesRequest(archive_id=archive.id), metadata=as_(tenant))
    )
    both = await code_of(
        stub.SearchPassages(
            pb.SearchPassagesRequest(archive_id=archive.id, agent_id=str(uuid.uuid4()), query="x"),
            metadata=as_(tenant),
        )
    )
    no_query = await code_of(
        stub.SearchPassages(pb.SearchPassagesRequest(archive_id=archive.id), metadata=as_(tenant))
    )
    backwards = await code_of(
        stub.SearchPassages(
            pb.SearchPassagesRequest(
                archive_id=archive.id,
                query="x",
                start_time=timestamp_pb2.Timestamp(seconds=20),
                end_time=timestamp_pb2.Timestamp(seconds=10),
            ),
            metadata=as_(tenant),
        )
    )

    assert empty == (grpc.StatusCode.INVALID_ARGUMENT, ["passages[0].text"])
    assert none == (grpc.StatusCode.INVALID_ARGUMENT, ["passages"])
    assert both[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert no_query == (grpc.StatusCode.INVALID_ARGUMENT, ["query"])
    assert backwards == (grpc.StatusCode.INVALID_ARGUMENT, ["end_time"])


async def test_another_tenant_sees_not_found(stub, tenant):
    archive = await make_archive(stub, tenant)
    other = as_("another-tenant")

    for call in (
        stub.GetArchive(pb.GetArchiveRequest(archive_id=archive.id), metadata=other),
        stub.ListPassages(pb.ListPassagesRequest(archive_id=archive.id), metadata=other),
        stub.SearchPassages(pb.SearchPassagesRequest(archive_id=archive.id, query="x"), metadata=other),
        stub.InsertPassages(
            pb.InsertPassagesRequest(archive_id=archive.id, passages=[memory_pb2.PassageInput(text="x")]),
            metadata=other,
        ),
    ):
        assert (await code_of(call))[0] == grpc.StatusCode.NOT_FOUND


async def test_an_agent_runs_insert_is_fenced_by_its_epoch(stub, memory_channel, tenant):
    runtime = memory_service_pb2_grpc.MemoryRuntimeStub(memory_channel)
    agent_id = str(uuid.uuid4())
    created = await runtime.InitializeAgentMemory(
        pb.InitializeAgentMemoryRequest(agent_id=agent_id, create_archive=True), metadata=as_(tenant)
    )
    passage = memory_pb2.PassageInput(text="the lease decides who writes")

    def insert(epoch: int):
        return stub.InsertPassages(
            pb.InsertPassagesRequest(
                archive_id=created.archive_id, passages=[passage], agent_id=agent_id, epoch=epoch
            ),
            metadata=as_(tenant),
        )

    await insert(5)  # the lease holder of epoch 5 writes
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await insert(4)  # a paused holder of an older lease does not
    listed = await stub.ListPassages(
        pb.ListPassagesRequest(archive_id=created.archive_id), metadata=as_(tenant)
    )

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert from_rpc_error(caught.value).reason == "STALE_EPOCH"
    assert len(listed.passages) == 1
    code, fields = await code_of(
        stub.InsertPassages(
            pb.InsertPassagesRequest(archive_id=created.archive_id, passages=[passage], epoch=3),
            metadata=as_(tenant),
        )
    )
    assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["agent_id"])

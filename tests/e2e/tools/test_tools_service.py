"""The tools service over real gRPC: the registry, secrets, tenancy and running tools."""

from __future__ import annotations

import json
import uuid

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2, struct_pb2

from agentsuite.tools.v1 import tools_pb2, tools_service_pb2
from services.common.protobuf import from_struct
from services.common.status import from_rpc_error

WEATHER = '''
from typing import Literal

def get_weather(city: str, units: Literal["c", "f"] = "c") -> dict:
    """Get the weather.

    Args:
        city: Name of the city.
        units: Celsius or Fahrenheit.
    """
    return {"city": city, "units": units, "temperature": 21}
'''
SHOW_SECRET = '''
import os

def show(name: str) -> str | None:
    """Return an environment variable."""
    return os.environ.get(name)
'''


@pytest.fixture
def md(tools_process, tenant):
    return tools_process.metadata(tenant)


async def create(tools, md, **fields) -> tools_pb2.Tool:
    reply = await tools.CreateTool(
        tools_service_pb2.CreateToolRequest(tool=tools_pb2.Tool(**fields)), metadata=md, timeout=10
    )
    return reply.tool


async def refused(call) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_create_derives_the_schema_and_get_returns_the_same_tool(tools, md):
    tool = await create(tools, md, source_code=WEATHER, tags=["weather"], parallel_safe=True)

    assert tool.name == "get_weather"
    schema = from_struct(tool.json_schema)
    assert schema["name"] == "get_weather"
    assert schema["parameters"]["required"] == ["city"]
    assert schema["parameters"]["properties"]["city"]["description"] == "Name of the city."
    assert tool.json_schema["parameters"]["properties"]["units"]["enum"] == ["c", "f"]
    got = (
        await tools.GetTool(tools_service_pb2.GetToolRequest(tool_id=tool.id), metadata=md, timeout=5)
    ).tool
    assert got == tool
    assert got.parallel_safe and list(got.tags) == ["weather"]


async def test_unsupported_type_is_invalid_argument_naming_parameter_and_type(tools, md):
    error = await refused(create(tools, md, source_code='def f(x: bytes):\n    """Do it."""\n'))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "parameter 'x': unsupported type 'bytes'" in error.details()
    assert from_rpc_error(error).violations[0].field == "tool.source_code"


async def test_names_are_unique_per_tenant(tools, md, tools_process):
    await create(tools, md, source_code=WEATHER)

    error = await refused(create(tools, md, source_code=WEATHER))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    other = tools_process.metadata(f"other-{uuid.uuid4()}")
    assert (await create(tools, other, source_code=WEATHER)).name == "get_weather"


async def test_another_tenants_tool_is_not_found_for_every_rpc(tools, runtime, md, tools_process):
    tool = await create(tools, md, source_code=WEATHER)
    other = tools_process.metadata(f"other-{uuid.uuid4()}")

    calls = [
        tools.GetTool(tools_service_pb2.GetToolRequest(tool_id=tool.id), metadata=other, timeout=5),
        tools.DeleteTool(tools_service_pb2.DeleteToolRequest(tool_id=tool.id), metadata=other, timeout=5),
        tools.UpdateTool(
            tools_service_pb2.UpdateToolRequest(
                tool=tools_pb2.Tool(id=tool.id, tags=["x"]),
                update_mask=field_mask_pb2.FieldMask(paths=["tags"]),
            ),
            metadata=other,
            timeout=5,
        ),
        tools.RunTool(
            tools_service_pb2.RunToolRequest(tool_id=tool.id, arguments_json='{"city": "x"}'),
            metadata=other,
            timeout=5,
        ),
        runtime.Execute(
            tools_service_pb2.ExecuteRequest(tool_id=tool.id, arguments_json='{"city": "x"}'),
            metadata=other,
            timeout=5,
        ),
    ]
    for call in calls:
        assert (await refused(call)).code() == grpc.StatusCode.NOT_FOUND
    listed = await tools.ListTools(tools_service_pb2.ListToolsRequest(), metadata=other, timeout=5)
    assert tool.id not in [t.id for t in listed.tools]


async def test_list_filters_by_tags_and_name_and_pages_in_name_order(tools, md):
    for name in ["delta", "alpha", "charlie", "bravo"]:
        await create(
            tools,
            md,
            name=name,
            source_code=WEATHER,
            tags=["odd" if name in {"alpha", "charlie"} else "even"],
        )

    seen, token = [], ""
    while True:
        page = await tools.ListTools(
            tools_service_pb2.ListToolsRequest(page_size=3, page_token=token), metadata=md, timeout=5
        )
        seen += [t.name for t in page.tools]
        token = page.next_page_token
        if not token:
            break
    assert seen == ["alpha", "bravo", "charlie", "delta"]
    odd = await tools.ListTools(tools_service_pb2.ListToolsRequest(tags=["odd"]), metadata=md, timeout=5)
    assert [t.name for t in odd.tools] == ["alpha", "charlie"]
    named = await tools.ListTools(tools_service_pb2.ListToolsRequest(name="bravo"), metadata=md, timeout=5)
    assert [t.name for t in named.tools] == ["bravo"]
    bad = await refused(
        tools.ListTools(tools_service_pb2.ListToolsRequest(page_token="forged!"), metadata=md, timeout=5)
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_update_with_new_source_re_derives_and_a_mask_limits_the_change(tools, md):
    tool = await create(tools, md, source_code=WEATHER, tags=["a"])
    new_source = (
        'def get_weather(city: str, days: int) -> str:\n    """Forecast for some days."""\n    return city\n'
    )

    updated = (
        await tools.UpdateTool(
            tools_service_pb2.UpdateToolRequest(
                tool=tools_pb2.Tool(id=tool.id, source_code=new_source, tags=["ignored"]),
                update_mask=field_mask_pb2.FieldMask(paths=["source_code"]),
            ),
            metadata=md,
            timeout=5,
        )
    ).tool

    assert list(updated.json_schema["parameters"]["required"]) == ["city", "days"]
    assert updated.description == "Forecast for some days."
    assert list(updated.tags) == ["a"]


async def test_an_explicit_schema_is_meta_validated(tools, md):
    schema = struct_pb2.Struct()
    schema.update({"parameters": {"type": "object", "properties": {"city": {"type": 5}}}})

    error = await refused(create(tools, md, source_code=WEATHER, json_schema=schema))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid JSON schema" in error.details()


async def test_execute_runs_the_stored_tool_and_validates_arguments_first(tools, runtime, md):
    tool = await create(tools, md, source_code=WEATHER)

    reply = await runtime.Execute(
        tools_service_pb2.ExecuteRequest(tool_id=tool.id, arguments_json='{"city": "Oslo"}'),
        metadata=md,
        timeout=10,
    )
    assert reply.result.status == tools_pb2.EXECUTION_STATUS_OK
    assert json.loads(reply.result.result_json) == {"city": "Oslo", "units": "c", "temperature": 21}
    assert reply.result.duration.ToTimedelta().total_seconds() > 0

    error = await refused(
        runtime.Execute(
            tools_service_pb2.ExecuteRequest(
                tool_id=tool.id, arguments_json='{"city": "Oslo", "units": "k"}'
            ),
            metadata=md,
            timeout=10,
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "units" in error.details()


async def test_a_raising_tool_is_an_error_result_not_an_rpc_error(tools, md):
    reply = await tools.RunTool(
        tools_service_pb2.RunToolRequest(
            source_code='def f(x: int) -> int:\n    """Divide."""\n    print("about to fail")\n    return 1 // x\n',
            arguments_json='{"x": 0}',
        ),
        metadata=md,
        timeout=10,
    )

    assert reply.result.status == tools_pb2.EXECUTION_STATUS_ERROR
    assert reply.result.error_type == "ZeroDivisionError"
    assert reply.result.stdout == "about to fail\n"
    assert "ZeroDivisionError" in reply.result.stderr


async def test_a_result_over_the_tools_char_limit_is_cut_and_marked(tools, runtime, md):
    tool = await create(
        tools,
        md,
        source_code='def big() -> str:\n    """Big."""\n    return "x" * 5000\n',
        result_char_limit=100,
    )

    reply = await runtime.Execute(tools_service_pb2.ExecuteRequest(tool_id=tool.id), metadata=md, timeout=10)

    assert reply.result.status == tools_pb2.EXECUTION_STATUS_OK
    assert reply.result.truncated
    assert len(json.loads(reply.result.result_json)) <= 100


async def test_a_per_call_timeout_kills_a_slow_tool(tools, runtime, md):
    tool = await create(
        tools, md, source_code='def slow() -> None:\n    """Sleep."""\n    import time\n    time.sleep(30)\n'
    )

    reply = await runtime.Execute(
        tools_service_pb2.ExecuteRequest(tool_id=tool.id, timeout=duration_pb2.Duration(nanos=300_000_000)),
        metadata=md,
        timeout=10,
    )

    assert reply.result.status == tools_pb2.EXECUTION_STATUS_TIMEOUT


async def set_secret(tools, md, name, value, agent_id=""):
    return await tools.SetSecret(
        tools_service_pb2.SetSecretRequest(name=name, value=value, agent_id=agent_id), metadata=md, timeout=5
    )


async def test_secrets_reach_only_tools_that_declare_them_and_the_agents_own_wins(tools, runtime, md):
    agent = str(uuid.uuid4())
    await set_secret(tools, md, "API_TOKEN", "tenant-value")
    await set_secret(tools, md, "API_TOKEN", "agent-value", agent)
    await set_secret(tools, md, "OTHER", "never-granted")
    granted = await create(tools, md, name="granted", source_code=SHOW_SECRET, secret_names=["API_TOKEN"])
    ungranted = await create(tools, md, name="ungranted", source_code=SHOW_SECRET)

    async def show(tool, name, agent_id=""):
        reply = await runtime.Execute(
            tools_service_pb2.ExecuteRequest(
                tool_id=tool.id, arguments_json=json.dumps({"name": name}), agent_id=agent_id
            ),
            metadata=md,
            timeout=10,
        )
        return json.loads(reply.result.result_json)

    assert await show(granted, "API_TOKEN") == "tenant-value"
    assert await show(granted, "API_TOKEN", agent) == "agent-value"
    assert await show(granted, "OTHER") is None
    assert await show(ungranted, "API_TOKEN") is None


async def test_secret_values_are_never_returned_nor_echoed_in_errors(tools, md):
    reply = await set_secret(tools, md, "DB_PASSWORD", "hunter2-secret-value")
    assert reply.secret.name == "DB_PASSWORD"
    assert "hunter2" not in str(reply)

    listed = await tools.ListSecrets(tools_service_pb2.ListSecretsRequest(), metadata=md, timeout=5)
    assert [s.name for s in listed.secrets] == ["DB_PASSWORD"]
    assert "hunter2" not in str(listed)

    error = await refused(set_secret(tools, md, "PATH", "hunter2-secret-value"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hunter2" not in error.details() and "hunter2" not in str(error.trailing_metadata())


async def test_secrets_are_per_tenant_and_deleting_a_missing_one_is_not_found(tools, md, tools_process):
    await set_secret(tools, md, "TOKEN", "value")
    other = tools_process.metadata(f"other-{uuid.uuid4()}")

    listed = await tools.ListSecrets(tools_service_pb2.ListSecretsRequest(), metadata=other, timeout=5)
    assert list(listed.secrets) == []
    error = await refused(
        tools.DeleteSecret(tools_service_pb2.DeleteSecretRequest(name="TOKEN"), metadata=other, timeout=5)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    await tools.DeleteSecret(tools_service_pb2.DeleteSecretRequest(name="TOKEN"), metadata=md, timeout=5)
    listed = await tools.ListSecrets(tools_service_pb2.ListSecretsRequest(), metadata=md, timeout=5)
    assert list(listed.secrets) == []


async def test_run_tool_needs_exactly_one_of_tool_id_and_source(tools, md):
    error = await refused(tools.RunTool(tools_service_pb2.RunToolRequest(), metadata=md, timeout=5))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_deleted_tool_is_gone(tools, md):
    tool = await create(tools, md, source_code=WEATHER)

    await tools.DeleteTool(tools_service_pb2.DeleteToolRequest(tool_id=tool.id), metadata=md, timeout=5)

    error = await refused(
        tools.GetTool(tools_service_pb2.GetToolRequest(tool_id=tool.id), metadata=md, timeout=5)
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND

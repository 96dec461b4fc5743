"""`agentsuite archives` end to end: create an archive, insert a text file and a JSONL file in
batches through the gateway, then search them — real processes, real database."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

AGENTSUITE = [sys.executable, "-m", "services.cli.main", "archives"]


async def run(*args: str, key: str, endpoint: str) -> subprocess.CompletedProcess:
    command = [*AGENTSUITE, *args, "--endpoint", endpoint, "--key", key]
    return await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120)


async def test_insert_a_text_file_and_a_jsonl_file_then_search(running_suite, tmp_path):
    key = await running_suite.new_key(f"archival-{uuid.uuid4().hex[:8]}")
    endpoint = running_suite.address
    lines = tmp_path / "notes.txt"
    lines.write_text(
        "".join(f"harbour log entry {i}: crane {i % 7} moved containers\n" for i in range(250)) + "\n"
    )
    jsonl = tmp_path / "facts.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps(
                {
                    "text": f"Ana's favourite lighthouse is number {i}",
                    "tags": ["ana"] if i % 2 else ["ana", "even"],
                    "metadata": {"i": i},
                    "create_time": "2025-05-01T12:00:00Z",
                }
            )
            for i in range(30)
        )
    )

    created = await run("create", "notes", "--json", key=key, endpoint=endpoint)
    assert created.returncode == 0, created.stderr
    archive = json.loads(created.stdout)["id"]

    inserted = await run("insert", "notes", str(lines), "--batch", "100", key=key, endpoint=endpoint)
    assert inserted.returncode == 0, inserted.stderr
    assert "inserted 250 passages into archive notes" in inserted.stdout
    assert not inserted.stderr, "no progress bar when stderr is not a terminal"
    inserted = await run("insert", archive, str(jsonl), "--tag", "import", key=key, endpoint=endpoint)
    assert inserted.returncode == 0, inserted.stderr

    found = await run(
        "search",
        archive,
        "lighthouse Ana",
        "--tag",
        "even",
        "--limit",
        "5",
        "--json",
        key=key,
        endpoint=endpoint,
    )
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)
    assert len(results) == 5
    assert all({"ana", "even", "import"} <= set(r["passage"]["tags"]) for r in results)
    assert all("lighthouse" in r["passage"]["text"] for r in results)

    by_text = await run(
        "search", archive, "crane containers", "--mode", "full_text", key=key, endpoint=endpoint
    )
    assert by_text.returncode == 0 and "harbour log entry" in by_text.stdout


async def test_a_bad_line_is_reported_with_its_number(running_suite, tmp_path):
    key = await running_suite.new_key(f"archival-{uuid.uuid4().hex[:8]}")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"tags": ["no text"]}\n')
    await run("create", "x", key=key, endpoint=running_suite.address)

    inserted = await run("insert", "x", str(bad), key=key, endpoint=running_suite.address)

    assert inserted.returncode == 2
    assert "line 2" in inserted.stderr


async def test_an_unknown_archive_fails_clearly(running_suite, tmp_path):
    key = await running_suite.new_key(f"archival-{uuid.uuid4().hex[:8]}")
    notes = tmp_path / "n.txt"
    notes.write_text("one\ntwo\n")

    by_id = await run("insert", str(uuid.uuid4()), str(notes), key=key, endpoint=running_suite.address)
    by_name = await run("insert", "no-such-archive", str(notes), key=key, endpoint=running_suite.address)

    assert by_id.returncode == 3 and "not found" in by_id.stderr
    assert by_name.returncode == 3 and "no archive 'no-such-archive'" in by_name.stderr

"""Running ``agentsuite`` commands as real processes against the session's suite, as one tenant,
in both forms: a table for people (checked for its header row) and ``--json`` for scripts."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import Any

AGENTSUITE = [sys.executable, "-m", "services.cli.main"]


@dataclass
class Cli:
    """``agentsuite`` pointed at a gateway with a tenant's key."""

    endpoint: str
    key: str
    env: dict[str, str]

    @classmethod
    async def for_new_tenant(cls, running_suite) -> Cli:
        key = await running_suite.new_key(f"cli-{uuid.uuid4().hex[:10]}")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTSUITE_")}
        return cls(running_suite.address, key, env)

    async def run(
        self, *args: str, input: str | None = None, gateway: bool = True
    ) -> subprocess.CompletedProcess:
        """The command's result, whatever its exit status."""
        connection = ["--endpoint", self.endpoint, "--key", self.key] if gateway else []
        return await asyncio.to_thread(
            subprocess.run,
            [*AGENTSUITE, *args, *connection],
            input=input,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    async def table(self, *args: str, headers: tuple[str, ...], input: str | None = None) -> str:
        """The command's table (it must succeed and print ``headers`` in its first line)."""
        done = await self.run(*args, input=input)
        assert done.returncode == 0, (args, done.stderr)
        first = done.stdout.splitlines()[0] if done.stdout else ""
        assert all(header in first for header in headers), (args, done.stdout)
        return done.stdout

    async def record(self, *args: str, input: str | None = None) -> dict[str, str]:
        """A one-object command's table (``FIELD VALUE``) as a dict of its single-line fields."""
        text = await self.table(*args, headers=("FIELD", "VALUE"), input=input)
        fields = {}
        for line in text.splitlines()[2:]:
            name, _, value = line.partition("  ")
            if name.strip():
                fields[name.strip()] = value.strip()
        return fields

    async def json(self, *args: str, input: str | None = None, gateway: bool = True) -> Any:
        """The command's ``--json`` output, parsed (it must succeed)."""
        done = await self.run(*args, "--json", input=input, gateway=gateway)
        assert done.returncode == 0, (args, done.stderr)
        return json.loads(done.stdout)

    async def fails(self, *args: str, code: int, says: str, input: str | None = None) -> str:
        """The command must fail with exit status ``code``, ``says`` on stderr, and no traceback."""
        done = await self.run(*args, input=input)
        assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        assert says in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done.stderr

"""docker/Dockerfile: linted, and consistent with the repository it is built from."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess

from tests.deploy.manifests import DOCKER, ROOT, dev_tool

DOCKERFILE = DOCKER / "Dockerfile"


def test_the_dockerfile_passes_hadolint():
    linted = subprocess.run(
        [dev_tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_hadolint_finds_what_it_should_so_a_clean_result_means_something(tmp_path):
    careless = tmp_path / "Dockerfile"
    careless.write_text("FROM debian\nRUN apt-get install curl\nRUN cd /tmp && echo hi\n")
    linted = subprocess.run(
        [dev_tool("hadolint"), "--no-color", str(careless)], capture_output=True, text=True, timeout=60
    )
    assert linted.returncode != 0 and "DL3006" in linted.stdout  # an untagged base image


def test_the_image_copies_only_what_the_dockerignore_lets_in():
    copied = set()
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(word.removeprefix("./").rstrip("/") for word in line.split()[1:-1])
    allowed = {
        line.removeprefix("!").rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    assert copied == allowed
    assert all((ROOT / path).exists() for path in copied)


def test_the_images_commands_run_modules_that_exist():
    text = DOCKERFILE.read_text()
    commands = [json.loads(found) for found in re.findall(r"^(?:CMD|\s+CMD) (\[.*\])$", text, re.MULTILINE)]
    assert len(commands) == 2  # the HEALTHCHECK's and the default command
    for command in commands:
        assert command[:2] == ["python", "-m"]
        assert importlib.util.find_spec(command[2]) is not None, command
    assert ["python", "-m", "services.healthcheck"] in commands

"""docker/compose.yaml: valid Compose, wired the way docs/deployment.md says."""

from __future__ import annotations

import copy
import json

import jsonschema

from tests.deploy.manifests import DOCKER, compose, compose_containers

SCHEMA = json.loads((DOCKER / "schemas" / "compose-spec.json").read_text())
"""The Compose specification's schema (compose-spec/compose-spec, schema/compose-spec.json), vendored
so that the check needs no network."""


def violations(document: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMA)
    return [f"{list(error.path)}: {error.message}" for error in validator.iter_errors(document)]


def test_the_compose_file_follows_the_compose_specification():
    assert violations(compose()) == []


def test_the_schema_refuses_a_misspelt_key_so_a_pass_means_something():
    broken = copy.deepcopy(compose())
    broken["services"]["gateway"]["depends"] = broken["services"]["gateway"].pop("depends_on")
    assert violations(broken)


def test_only_the_gateway_is_published_and_only_on_loopback():
    published = {name: s["ports"] for name, s in compose()["services"].items() if s.get("ports")}
    assert published == {"gateway": ["127.0.0.1:50051:50051"]}


def test_services_start_after_the_migration_and_the_backends_they_call():
    services = compose()["services"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("gateway", "agent", "memory", "tools"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
    for backend in ("agent", "memory", "tools"):
        assert services["gateway"]["depends_on"][backend]["condition"] == "service_healthy"


def test_each_secret_goes_only_to_the_services_that_use_it():
    holders: dict[str, set[str]] = {}
    for container in compose_containers():
        for name in container.env_names:
            holders.setdefault(name, set()).add(container.where.removeprefix("compose:"))
    assert holders["AGENTSUITE_SECRETS_KEY"] == {"tools"}
    assert holders["AGENTSUITE_INTERNAL_TOKEN"] == {"gateway", "agent"}
    assert holders["OPENAI_API_KEY"] == {"agent"}


def test_every_container_of_ours_runs_read_only_without_capabilities():
    for container in compose_containers():
        spec = container.spec
        assert spec["read_only"] is True and spec["cap_drop"] == ["ALL"], container.where
        assert "no-new-privileges:true" in spec["security_opt"], container.where
        assert "cap_add" not in spec and not spec.get("privileged"), container.where


def test_only_the_tools_service_gets_the_sandbox_profile_which_adds_exactly_the_sandbox_calls():
    relaxed = {
        container.where: container.spec["security_opt"]
        for container in compose_containers()
        if any(option.startswith("seccomp=") for option in container.spec["security_opt"])
    }
    assert list(relaxed) == ["compose:tools"]
    profile = json.loads((DOCKER / "seccomp" / "tools.json").read_text())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    unconditional = [
        rule
        for rule in profile["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args") and not rule.get("includes")
    ]
    allowed = [name for rule in unconditional for name in rule["names"]]
    assert {"clone", "unshare", "mount", "umount2", "pivot_root"} <= set(allowed)
    assert not {"ptrace", "setns", "bpf", "keyctl", "add_key", "init_module"} & set(allowed)
    clone3 = next(rule for rule in profile["syscalls"] if rule["names"] == ["clone3"])
    assert clone3["action"] == "SCMP_ACT_ERRNO" and clone3["errnoRet"] == 38  # ENOSYS: glibc uses clone


def test_containers_get_time_to_drain_and_finish_calls_before_they_are_killed():
    """As for Kubernetes (test_kubernetes.py): drain + grace, and the gateway's lanes a grace more."""
    for container in compose_containers():
        if container.service is None:
            continue
        drain = float(container.env["AGENTSUITE_DRAIN_SECONDS"])
        grace = float(container.env["AGENTSUITE_GRACE_SECONDS"])
        needed = drain + grace * (2 if container.service == "gateway" else 1)
        allowed = float(container.spec["stop_grace_period"].removesuffix("s"))
        assert needed < allowed <= needed + 10, container.where

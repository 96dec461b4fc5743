"""docker/k8s: every overlay builds with a real kustomize, every object is valid Kubernetes (1.29 and
the newest schemas, strictly: no unknown fields), and the objects say what docs/deployment.md says."""

from __future__ import annotations

import copy
import json
from functools import cache

import kubernetes_validate
import pytest

from tests.deploy.manifests import (
    KUBERNETES_VERSIONS,
    OVERLAYS,
    PROBES,
    kubernetes_containers,
    kustomize_build,
    objects_of,
)

ISTIO_KINDS = {"DestinationRule", "PeerAuthentication"}
"""Istio's own resources: kubernetes-validate has no schema for them; test_the_mesh checks them."""


def schema_errors(obj: dict, version: str) -> list[str]:
    return list(_schema_errors(json.dumps(obj, sort_keys=True), version))


@cache
def _schema_errors(obj_json: str, version: str) -> tuple[str, ...]:
    """Overlays share most objects: each distinct one is validated once per version."""
    try:
        kubernetes_validate.validate(json.loads(obj_json), version, strict=True)
    except kubernetes_validate.ValidationError as error:
        return (str(error),)
    return ()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_kubernetes(overlay):
    errors = []
    for obj in kustomize_build(overlay):
        if obj["kind"] in ISTIO_KINDS:
            continue
        for version in KUBERNETES_VERSIONS:
            errors += [
                f"{version} {obj['kind']}/{obj['metadata']['name']}: {e}" for e in schema_errors(obj, version)
            ]
    assert errors == []


def test_the_validation_refuses_an_unknown_field_so_a_pass_means_something():
    deployment = copy.deepcopy(objects_of("prod", "Deployment")["gateway"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    assert schema_errors(deployment, KUBERNETES_VERSIONS[0])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_of_ours_runs_as_non_root_read_only_without_capabilities(overlay):
    for container in kubernetes_containers(overlay):
        security = container.spec["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, container.where
        assert security["allowPrivilegeEscalation"] is False, container.where
        assert security["capabilities"] == {"drop": ["ALL"]}, container.where
        assert security["runAsNonRoot"] is True, container.where
        assert "resources" in container.spec and container.spec["resources"]["limits"], container.where


def test_the_tools_pods_get_what_the_sandbox_needs_and_nothing_more():
    deployments = objects_of("prod", "Deployment")
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        container = pod["spec"]["containers"][0]["securityContext"]
        if name == "tools":
            assert pod["spec"]["hostUsers"] is False
            assert container["procMount"] == "Unmasked"
            assert container["seccompProfile"]["localhostProfile"] == "profiles/agentsuite-tools.json"
            assert (
                pod["metadata"]["annotations"]["container.apparmor.security.beta.kubernetes.io/service"]
                == "unconfined"
            )
        else:
            assert "procMount" not in container and "seccompProfile" not in container, name
            assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert "add" not in container["capabilities"], name


def test_backends_are_headless_and_the_gateway_is_not():
    services = objects_of("prod", "Service")
    assert services["gateway"]["spec"].get("clusterIP") is None
    for backend in ("agent", "memory", "tools"):
        assert services[backend]["spec"]["clusterIP"] == "None"


def test_backends_accept_calls_only_from_the_suites_own_callers():
    policies = objects_of("prod", "NetworkPolicy")
    callers = {"agent": {"gateway"}, "memory": {"gateway", "agent"}, "tools": {"gateway", "agent"}}
    for backend, allowed in callers.items():
        policy = policies[backend]["spec"]
        assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": backend}
        assert policy["policyTypes"] == ["Ingress"]
        (rule,) = policy["ingress"]
        (source,) = rule["from"]
        selector = source["podSelector"]
        assert "namespaceSelector" not in source and "ipBlock" not in source
        names = selector.get("matchLabels", {}).get("app.kubernetes.io/name")
        expressions = {e["key"]: set(e["values"]) for e in selector.get("matchExpressions", [])}
        assert ({names} if names else expressions["app.kubernetes.io/name"]) == allowed
        part_of = selector.get("matchLabels", {}).get("app.kubernetes.io/part-of")
        assert part_of == "agentsuite" or expressions["app.kubernetes.io/part-of"] == {"agentsuite"}
    for name, deployment in objects_of("prod", "Deployment").items():  # the labels the policies select
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "agentsuite"
        assert labels["app.kubernetes.io/name"] == name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_get_time_to_drain_and_finish_calls_before_they_are_killed(overlay):
    """Drain (NOT_SERVING) then grace for calls in flight; the gateway then waits for its lanes' runs
    as long again (services/gateway/__main__.py closes its lanes with the same grace)."""
    deployments = objects_of(overlay, "Deployment")
    for container in kubernetes_containers(overlay):
        if not container.where.split(":")[1].startswith("Deployment/"):
            continue
        drain = float(container.env["AGENTSUITE_DRAIN_SECONDS"])
        grace = float(container.env["AGENTSUITE_GRACE_SECONDS"])
        needed = drain + grace * (2 if container.service == "gateway" else 1)
        pod = deployments[container.service]["spec"]["template"]["spec"]
        assert needed < pod["terminationGracePeriodSeconds"] <= needed + 10, container.where


def test_the_gateway_and_the_agent_service_scale_and_every_service_keeps_one_pod_in_a_disruption():
    scaled = {
        o["spec"]["scaleTargetRef"]["name"] for o in objects_of("prod", "HorizontalPodAutoscaler").values()
    }
    assert scaled == {"gateway", "agent"}
    budgets = objects_of("prod", "PodDisruptionBudget")
    assert set(budgets) == {"gateway", "agent", "memory", "tools"}
    assert all(b["spec"]["maxUnavailable"] == 1 for b in budgets.values())


def test_the_migration_job_runs_the_migrate_command():
    (job,) = objects_of("prod", "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "services.migrate"]


def test_dev_runs_postgresql_with_pgvector_in_the_cluster_and_prod_does_not():
    dev = objects_of("dev", "StatefulSet")
    assert dev["postgres"]["spec"]["template"]["spec"]["containers"][0]["image"].startswith(
        "pgvector/pgvector:pg16"
    )
    assert (
        "CREATE EXTENSION IF NOT EXISTS vector"
        in objects_of("dev", "ConfigMap")[
            next(name for name in objects_of("dev", "ConfigMap") if name.startswith("postgres-init"))
        ]["data"]["10-extensions.sql"]
    )
    assert objects_of("prod", "StatefulSet") == {}


def test_the_mesh_requires_mutual_tls_and_hashes_gateway_calls_on_the_agent_id():
    (authentication,) = objects_of("mesh", "PeerAuthentication").values()
    assert authentication["spec"]["mtls"]["mode"] == "STRICT"
    assert "selector" not in authentication["spec"]  # the whole namespace
    rule = objects_of("mesh", "DestinationRule")["gateway"]
    assert rule["spec"]["host"] == "gateway"
    assert rule["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"] == {"httpHeaderName": "x-agent-id"}
    namespace = objects_of("mesh", "Namespace")["agentsuite"]
    assert namespace["metadata"]["labels"]["istio-injection"] == "enabled"


def test_with_the_tls_component_backends_require_client_certificates_and_probes_speak_tls():
    for container in kubernetes_containers("prod-tls"):
        if container.service is None:
            continue
        assert container.env["AGENTSUITE_TLS_CERT_FILE"] == "/etc/agentsuite/tls/tls.crt"
        assert container.env["AGENTSUITE_TLS_CA_FILE"] == "/etc/agentsuite/tls/ca.crt"
        required = container.env["AGENTSUITE_TLS_REQUIRE_CLIENT_CERT"]
        assert required == ("false" if container.service == "gateway" else "true"), container.where
        for probe in PROBES:  # the kubelet's gRPC probe cannot speak TLS
            assert "grpc" not in container.spec[probe], (container.where, probe)
        mounts = {m["name"]: m for m in container.spec["volumeMounts"]}
        assert mounts["tls"]["readOnly"] is True
    volumes = {
        name: {v["name"]: v for v in d["spec"]["template"]["spec"]["volumes"]}
        for name, d in objects_of("prod-tls", "Deployment").items()
    }
    assert {name: v["tls"]["secret"]["secretName"] for name, v in volumes.items()} == {
        name: f"agentsuite-tls-{name}" for name in ("gateway", "agent", "memory", "tools")
    }

"""Settings: read once from the environment, defaults that run on a laptop, one clear start-up error."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.settings import DEFAULT_PORTS, Settings, SettingsError


def test_empty_environment_gives_the_laptop_defaults():
    settings = Settings.from_env("memory", env={})

    assert settings.service == "memory"
    assert settings.host == "127.0.0.1"
    assert settings.port == 50053
    assert settings.listen_address == "127.0.0.1:50053"
    assert (settings.gateway_addr, settings.agent_addr, settings.memory_addr, settings.tools_addr) == (
        "127.0.0.1:50051",
        "127.0.0.1:50052",
        "127.0.0.1:50053",
        "127.0.0.1:50054",
    )
    assert settings.database_url is None
    assert settings.db_pool_size == 20
    assert settings.tracing is True
    assert settings.log_level == "INFO"
    assert settings.openai_base_url is None and settings.openai_api_key is None
    assert settings.default_model is None


@pytest.mark.parametrize("service", sorted(DEFAULT_PORTS))
def test_each_service_listens_on_its_well_known_port_by_default(service):
    assert Settings.from_env(service, env={}).port == DEFAULT_PORTS[service]


def test_unknown_service_listens_on_any_free_port():
    assert Settings.from_env("cli", env={}).port == 0


def test_variables_are_parsed_into_their_types():
    env = {
        "AGENTSUITE_HOST": "0.0.0.0",
        "AGENTSUITE_PORT": "6000",
        "DATABASE_URL": "postgresql://u@db/agentsuite",
        "AGENTSUITE_STATE_DIR": "/tmp/agentsuite-state",
        "AGENTSUITE_DB_POOL_SIZE": "3",
        "AGENTSUITE_LOG_LEVEL": "debug",
        "AGENTSUITE_TRACING": "off",
        "AGENTSUITE_DRAIN_SECONDS": "2.5",
        "AGENTSUITE_DEFAULT_DEADLINE_SECONDS": "12",
        "AGENTSUITE_MEMORY_ADDR": "memory:50053",
        "AGENTSUITE_MODEL": "gpt-4o-mini",
    }

    settings = Settings.from_env("agent", env=env)

    assert settings.listen_address == "0.0.0.0:6000"
    assert settings.database_url == "postgresql://u@db/agentsuite"
    assert settings.state_dir == Path("/tmp/agentsuite-state")
    assert settings.db_pool_size == 3
    assert settings.log_level == "DEBUG"
    assert settings.tracing is False
    assert settings.drain_seconds == 2.5
    assert settings.default_deadline_seconds == 12.0
    assert settings.memory_addr == "memory:50053"
    assert settings.default_model == "gpt-4o-mini"


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("TRUE", True), ("yes", True), ("0", False)])
def test_booleans_accept_the_usual_spellings(raw, expected):
    assert Settings.from_env("agent", env={"AGENTSUITE_TRACING": raw}).tracing is expected


def test_blank_variable_counts_as_unset():
    settings = Settings.from_env("gateway", env={"AGENTSUITE_PORT": "  ", "DATABASE_URL": ""})

    assert settings.port == 50051
    assert settings.database_url is None


def test_agentsuite_openai_base_url_wins_over_the_plain_one():
    both = {"AGENTSUITE_OPENAI_BASE_URL": "http://ours/v1", "OPENAI_BASE_URL": "http://theirs/v1"}

    assert Settings.from_env("agent", env=both).openai_base_url == "http://ours/v1"
    assert Settings.from_env("agent", env={"OPENAI_BASE_URL": "http://theirs/v1"}).openai_base_url == (
        "http://theirs/v1"
    )


def test_ipv6_host_is_bracketed_in_the_listen_address():
    assert Settings(service="x", host="::1", port=7).listen_address == "[::1]:7"


def test_every_malformed_variable_is_named_in_one_error():
    env = {
        "AGENTSUITE_PORT": "eighty",
        "AGENTSUITE_DB_POOL_SIZE": "-1",
        "AGENTSUITE_TRACING": "maybe",
        "AGENTSUITE_GRACE_SECONDS": "soon",
        "AGENTSUITE_HOST": "10.0.0.1",
    }

    with pytest.raises(SettingsError) as caught:
        Settings.from_env("gateway", env=env)

    message = str(caught.value)
    assert "AGENTSUITE_PORT='eighty' is not an integer" in message
    assert "AGENTSUITE_DB_POOL_SIZE='-1' must not be negative" in message
    assert "AGENTSUITE_TRACING='maybe' is not a boolean" in message
    assert "AGENTSUITE_GRACE_SECONDS='soon' is not a number" in message
    assert "AGENTSUITE_HOST" not in message


def test_api_key_never_appears_in_repr():
    settings = Settings.from_env("agent", env={"OPENAI_API_KEY": "sk-very-secret"})

    assert settings.openai_api_key == "sk-very-secret"
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings)


def test_settings_are_frozen():
    settings = Settings.from_env("agent", env={})

    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_a_separate_direct_url_means_database_url_goes_through_a_transaction_pooler():
    pooled = {"DATABASE_URL": "postgresql://u:p@bouncer:6432/db"}
    direct = {**pooled, "AGENTSUITE_DATABASE_DIRECT_URL": "postgresql://u:p@postgres:5432/db"}

    assert not Settings.from_env("gateway", pooled).db_transaction_pooler
    assert Settings.from_env("gateway", direct).db_transaction_pooler
    assert not Settings.from_env(
        "gateway", {**direct, "AGENTSUITE_DB_TRANSACTION_POOLER": "false"}
    ).db_transaction_pooler
    same = {**pooled, "AGENTSUITE_DATABASE_DIRECT_URL": pooled["DATABASE_URL"]}
    assert not Settings.from_env("gateway", same).db_transaction_pooler


def test_tls_files_must_exist_and_come_in_working_combinations(tmp_path):
    cert, key, ca = (tmp_path / name for name in ("cert.pem", "key.pem", "ca.pem"))
    for path in (cert, key, ca):
        path.write_text("pem")

    settings = Settings.from_env(
        "memory",
        {
            "AGENTSUITE_TLS_CERT_FILE": str(cert),
            "AGENTSUITE_TLS_KEY_FILE": str(key),
            "AGENTSUITE_TLS_CA_FILE": str(ca),
            "AGENTSUITE_TLS_REQUIRE_CLIENT_CERT": "true",
        },
    )
    assert (settings.tls_cert_file, settings.tls_require_client_cert) == (cert, True)

    with pytest.raises(SettingsError) as missing:
        Settings.from_env("memory", {"AGENTSUITE_TLS_CA_FILE": str(tmp_path / "nope.pem")})
    assert "AGENTSUITE_TLS_CA_FILE" in str(missing.value) and "not a readable file" in str(missing.value)
    with pytest.raises(SettingsError, match="go together"):
        Settings.from_env("memory", {"AGENTSUITE_TLS_CERT_FILE": str(cert)})
    with pytest.raises(SettingsError, match="REQUIRE_CLIENT_CERT needs"):
        Settings.from_env(
            "memory", {"AGENTSUITE_TLS_REQUIRE_CLIENT_CERT": "true", "AGENTSUITE_TLS_CA_FILE": str(ca)}
        )

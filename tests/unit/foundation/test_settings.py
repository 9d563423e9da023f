"""Settings are validated at start with messages that name the variable; secrets stay hidden."""

import dataclasses

import pytest

from migration_app.settings import Secret, Settings, SettingsError, known_env_vars

PROD_ENV = {
    "MIGRATION_SF1_AUTH": "password",
    "MIGRATION_SF2_AUTH": "password",
    "MIGRATION_SF1_USERNAME": "u1",
    "MIGRATION_SF1_PASSWORD": "p1-secret",
    "MIGRATION_SF2_USERNAME": "u2",
    "MIGRATION_SF2_PASSWORD": "p2-secret",
    "MIGRATION_DATABASE_URL": "postgresql://app:db-secret@db:5432/audit",
}


def test_defaults_in_dev_mode_fill_sandbox_credentials() -> None:
    settings = Settings.from_env({"MIGRATION_DEV_MODE": "true"})
    assert settings.sf1_username == "migration@v1.sandbox"
    assert settings.web_port == 6066
    assert settings.faust_broker() == ["kafka://127.0.0.1:9092"]


def test_malformed_broker_url_names_the_variable() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**PROD_ENV, "MIGRATION_BROKER_URL": "localhost:9092"})
    assert "MIGRATION_BROKER_URL" in str(err.value)


def test_negative_timeout_is_rejected() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**PROD_ENV, "MIGRATION_SF_READ_TIMEOUT": "-1"})
    assert "MIGRATION_SF_READ_TIMEOUT: must not be negative" in str(err.value)


def test_unparsable_number_is_rejected() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**PROD_ENV, "MIGRATION_WEB_PORT": "http"})
    assert "MIGRATION_WEB_PORT: expected an integer" in str(err.value)


def test_pipeline_knobs_are_validated() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(
            {
                **PROD_ENV,
                "MIGRATION_PIPELINE_DEPTH": "0",
                "MIGRATION_LOAD_CONCURRENCY": "12",
                "MIGRATION_SF_MAX_WORKERS": "8",
                "MIGRATION_CONSUMER_FETCH_MAX_WAIT": "0",
            }
        )
    message = str(err.value)
    assert "MIGRATION_PIPELINE_DEPTH: must be at least 1" in message
    assert "MIGRATION_LOAD_CONCURRENCY (12) is more than MIGRATION_SF_MAX_WORKERS (8)" in message
    assert "MIGRATION_CONSUMER_FETCH_MAX_WAIT: must be greater than 0" in message


def test_missing_salesforce_credentials_outside_dev_mode() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "MIGRATION_SF2_PASSWORD"}
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert "MIGRATION_SF2_PASSWORD: required for MIGRATION_SF2_AUTH=password" in str(err.value)
    assert len(err.value.problems) == 1


def test_secrets_never_appear_in_repr_or_errors() -> None:
    settings = Settings.from_env(PROD_ENV)
    text = repr(settings)
    for secret in ("p1-secret", "p2-secret", "db-secret"):
        assert secret not in text
    assert settings.sf1_password.reveal() == "p1-secret"
    assert repr(Secret("x")) == "Secret('****')"
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**PROD_ENV, "MIGRATION_DATABASE_URL": "mysql://u:db-secret@h/x"})
    assert "db-secret" not in str(err.value)


# values the validation constrains; every other field gets a generic non-default value
CONSTRAINED = {
    "broker_url": "kafka://broker-a:9093;broker-b:9094",
    "store": "rocksdb://",
    "registry_url": "http://registry.test:18081",
    "sf1_url": "http://sf1.test:18101",
    "sf2_url": "http://sf2.test:18102",
    "sf1_auth": "password",
    "sf2_auth": "password",
    "database_url": "postgresql://app:round-trip@db.test:5432/audit",
    "log_level": "debug",
    "load_strategy": "collections",  # a choice: the one that is not the default
    "fault_kill_at": "between-result-and-state@2",
}


def _non_default(f: dataclasses.Field) -> tuple[str, object]:  # type: ignore[type-arg]
    """(raw env text, expected parsed value) different from the field's default."""
    if f.name in CONSTRAINED:
        raw = CONSTRAINED[f.name]
        return raw, Secret(raw) if f.metadata.get("secret") else raw
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    default = f.default
    if kind == "bool":
        return ("false" if default else "true"), not default
    if kind == "int":
        return str(default + 1), default + 1
    if kind == "float":
        return str(default + 0.25), default + 0.25
    if kind == "Secret":  # tokens need 32 characters (migration_app.tokens)
        raw = f"secret-of-{f.name}-{'x' * 32}"
        return raw, Secret(raw)
    assert kind == "str", f"no round-trip value for {f.name}: {kind}"
    return f"value-of-{f.name}", f"value-of-{f.name}"


def test_every_field_round_trips_from_its_env_var() -> None:
    expected = {f.name: _non_default(f) for f in dataclasses.fields(Settings)}
    env = {f"MIGRATION_{name.upper()}": raw for name, (raw, _) in expected.items()}
    assert set(env) == known_env_vars()
    settings = Settings.from_env(env)
    wrong = {
        name: (getattr(settings, name), value)
        for name, (_, value) in expected.items()
        if getattr(settings, name) != value or type(getattr(settings, name)) is not type(value)
    }
    assert wrong == {}
    defaults = Settings()
    assert [n for n in expected if getattr(settings, n) == getattr(defaults, n)] == []


def test_readme_configuration_table_lists_every_variable_with_its_default() -> None:
    from pathlib import Path

    from migration_app.settings import documentation

    readme = (Path(__file__).parents[3] / "README.md").read_text()
    for name, default, _meaning in documentation():
        assert f"| `{name}` | `{default}` |" in readme, f"{name} missing or stale in README"

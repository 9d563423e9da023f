"""Settings are validated at start with messages that name the variable; secrets stay hidden."""

import dataclasses

import pytest

from migration_app.settings import (
    OrgSettings,
    Secret,
    Settings,
    SettingsError,
    Variable,
    known_env_vars,
    variables,
)

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
    assert settings.sf1.username == "migration@v1.sandbox"
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
    assert settings.sf1.password.reveal() == "p1-secret"
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


def _non_default(variable: Variable) -> tuple[str, object]:
    """(raw env text, expected parsed value) different from the variable's default."""
    key = variable.name.removeprefix("MIGRATION_").lower()
    if key in CONSTRAINED:
        raw = CONSTRAINED[key]
        return raw, Secret(raw) if variable.secret else raw
    f = variable.field
    kind = f.type if isinstance(f.type, str) else f.type.__name__
    default = variable.default
    if kind == "bool":
        return ("false" if default else "true"), not default
    if kind == "int":
        return str(default + 1), default + 1
    if kind == "float":
        return str(default + 0.25), default + 0.25
    if kind == "Secret":  # tokens need 32 characters (migration_app.tokens)
        raw = f"secret-of-{key}-{'x' * 32}"
        return raw, Secret(raw)
    assert kind == "str", f"no round-trip value for {variable.name}: {kind}"
    return f"value-of-{key}", f"value-of-{key}"


def _read(settings: Settings, variable: Variable) -> object:
    """The value by attributes: ``settings.sf2.auth`` or ``settings.web_port``."""
    holder = settings if variable.org is None else getattr(settings, variable.org)
    return getattr(holder, variable.field.name)


def test_every_variable_is_a_field_of_settings_or_of_an_org_block() -> None:
    names = [v.name for v in variables()]
    plain = [f.name for f in dataclasses.fields(Settings) if f.type != "OrgSettings"]
    org_fields = [f.name for f in dataclasses.fields(OrgSettings)]
    assert names == [
        *[f"MIGRATION_{n.upper()}" for n in plain[: plain.index("sf_api_version")]],
        *[f"MIGRATION_{org.upper()}_{n.upper()}" for org in ("sf1", "sf2") for n in org_fields],
        *[f"MIGRATION_{n.upper()}" for n in plain[plain.index("sf_api_version") :]],
    ]
    assert set(names) == known_env_vars() and len(set(names)) == len(names)
    assert {"MIGRATION_SF1_URL", "MIGRATION_SF2_AUTH", "MIGRATION_SF2_PRIVATE_KEY_FILE"} <= set(
        names
    )


def test_every_variable_round_trips_into_its_field() -> None:
    expected = {v.name: (v, *_non_default(v)) for v in variables()}
    env = {name: raw for name, (_, raw, _) in expected.items()}
    assert set(env) == known_env_vars()
    settings = Settings.from_env(env)
    wrong = {
        name: (_read(settings, v), value)
        for name, (v, _, value) in expected.items()
        if _read(settings, v) != value or type(_read(settings, v)) is not type(value)
    }
    assert wrong == {}
    defaults = Settings()
    assert [
        n for n, (v, _, _) in expected.items() if _read(settings, v) == _read(defaults, v)
    ] == []


def test_org_blocks_are_independent_and_keep_secrets_masked() -> None:
    settings = Settings.from_env({**PROD_ENV, "MIGRATION_SF2_URL": "http://v2.test:1"})
    assert isinstance(settings.sf1, OrgSettings) and settings.org("sf2") is settings.sf2
    assert settings.sf1.url == "http://127.0.0.1:8101" and settings.sf2.url == "http://v2.test:1"
    assert (settings.sf1.username, settings.sf2.username) == ("u1", "u2")
    assert "p2-secret" not in repr(settings.sf2) and "Secret('****')" in repr(settings.sf2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.sf1.url = "http://elsewhere"  # type: ignore[misc]
    with pytest.raises(ValueError, match="no org 'sf3'"):
        settings.org("sf3")


def test_readme_configuration_table_lists_every_variable_with_its_default() -> None:
    from pathlib import Path

    from migration_app.settings import documentation

    readme = (Path(__file__).parents[3] / "README.md").read_text()
    for name, default, _meaning in documentation():
        assert f"| `{name}` | `{default}` |" in readme, f"{name} missing or stale in README"


def test_file_uploads_cannot_take_every_salesforce_thread() -> None:
    env = {**PROD_ENV, "MIGRATION_FILE_CONCURRENCY": "8", "MIGRATION_SF_MAX_WORKERS": "8"}
    with pytest.raises(SettingsError, match="MIGRATION_FILE_CONCURRENCY \\(8\\) must be less"):
        Settings.from_env(env)
    assert Settings.from_env(PROD_ENV).file_bytes_in_flight == 64 * 1024 * 1024

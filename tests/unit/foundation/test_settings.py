"""Settings are validated at start with messages that name the variable; secrets stay hidden."""

import pytest

from migration_app.settings import Secret, Settings, SettingsError, known_env_vars

PROD_ENV = {
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


def test_missing_salesforce_credentials_outside_dev_mode() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "MIGRATION_SF2_PASSWORD"}
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert "MIGRATION_SF2_PASSWORD: required outside dev mode" in str(err.value)
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


def test_known_env_vars_lists_every_field() -> None:
    names = known_env_vars()
    assert "MIGRATION_BROKER_URL" in names
    assert "MIGRATION_DEBUG_TOKEN" in names
    assert all(name.startswith("MIGRATION_") for name in names)


def test_readme_configuration_table_lists_every_variable_with_its_default() -> None:
    from pathlib import Path

    from migration_app.settings import documentation

    readme = (Path(__file__).parents[3] / "README.md").read_text()
    for name, default, _meaning in documentation():
        assert f"| `{name}` | `{default}` |" in readme, f"{name} missing or stale in README"

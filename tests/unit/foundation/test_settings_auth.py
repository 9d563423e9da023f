"""Each org's login flow is validated at start: every problem names its variable, never a value."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.keys import ensure_jwt_key_pair
from migration_app.client_config import salesforce_config
from migration_app.settings import Settings, SettingsError

BASE = {
    "MIGRATION_DATABASE_URL": "postgresql://u:p@db/x",
    "MIGRATION_SF1_AUTH": "client_credentials",
    "MIGRATION_SF1_URL": "https://acme.my.salesforce.com",
    "MIGRATION_SF1_CLIENT_ID": "cid1",
    "MIGRATION_SF1_CLIENT_SECRET": "very-secret-1",
}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_jwt_key_pair(tmp_path_factory.mktemp("k"))[0]


def jwt_env(key: str) -> dict[str, str]:
    return {
        **BASE,
        "MIGRATION_SF2_AUTH": "jwt",
        "MIGRATION_SF2_URL": "https://login.salesforce.com",
        "MIGRATION_SF2_CLIENT_ID": "cid2",
        "MIGRATION_SF2_USERNAME": "integration@v2.example",
        "MIGRATION_SF2_PRIVATE_KEY_FILE": key,
    }


def problems(env: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    return str(err.value)


def test_oauth_flows_are_the_production_default_and_valid(key_file: Path) -> None:
    settings = Settings.from_env(jwt_env(str(key_file)))
    assert settings.sf1.flow == "client_credentials"
    assert settings.sf2.flow == "jwt"
    sf2 = salesforce_config(settings, "sf2")
    assert sf2.auth == "jwt" and sf2.private_key_file == str(key_file)
    assert "very-secret-1" not in repr(settings) + repr(salesforce_config(settings, "sf1"))
    unset = {k: v for k, v in jwt_env(str(key_file)).items() if k != "MIGRATION_SF2_AUTH"}
    assert Settings.from_env(unset).sf2.flow == "jwt"


def test_missing_key_file_names_the_variable(tmp_path: Path) -> None:
    text = problems(jwt_env(str(tmp_path / "absent.pem")))
    assert "MIGRATION_SF2_PRIVATE_KEY_FILE: cannot read the private key file" in text


def test_malformed_pem_names_the_variable_and_hides_the_content(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text(
        "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5LWJ1dC1hLXNlY3JldA==\n-----END PRIVATE KEY-----\n"
    )
    text = problems(jwt_env(str(bad)))
    assert "MIGRATION_SF2_PRIVATE_KEY_FILE" in text and "not an unencrypted PEM private key" in text
    assert "bm90LWEta2V5" not in text


def test_jwt_needs_client_id_and_username(key_file: Path) -> None:
    env = jwt_env(str(key_file))
    del env["MIGRATION_SF2_CLIENT_ID"], env["MIGRATION_SF2_USERNAME"]
    text = problems(env)
    assert "MIGRATION_SF2_CLIENT_ID: required for MIGRATION_SF2_AUTH=jwt" in text
    assert "MIGRATION_SF2_USERNAME: required for MIGRATION_SF2_AUTH=jwt" in text


def test_client_secret_without_a_my_domain_url_is_refused(key_file: Path) -> None:
    env = {**jwt_env(str(key_file)), "MIGRATION_SF1_URL": "https://login.salesforce.com"}
    text = problems(env)
    assert "MIGRATION_SF1_URL: the client credentials flow needs the org's My Domain" in text
    assert "very-secret-1" not in text


def test_unknown_flow_is_refused(key_file: Path) -> None:
    text = problems({**jwt_env(str(key_file)), "MIGRATION_SF2_AUTH": "saml"})
    assert "MIGRATION_SF2_AUTH: one of jwt, client_credentials, password" in text


def test_dev_mode_logs_in_as_the_dev_stack_expects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no dev stack here: V2 falls back to the sandbox password
    settings = Settings.from_env({"MIGRATION_DEV_MODE": "true"})
    assert settings.sf1.flow == "client_credentials"
    assert settings.sf2.flow == "password"
    ensure_jwt_key_pair(tmp_path / ".devstack" / "keys")  # what `make dev` generates
    settings = Settings.from_env({"MIGRATION_DEV_MODE": "true"})
    assert settings.sf2.flow == "jwt"
    assert settings.sf2.private_key_file.endswith(".devstack/keys/sf2-jwt.key")

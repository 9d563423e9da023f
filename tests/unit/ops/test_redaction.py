"""Credentials never reach /health's error text (issue 24, finding 7): the one scrubber in
migration_app.ops.redaction (health.py had its own, which left the secret half of a Salesforce
session id and missed client_secret=, X-SFDC-Session: and *_token=)."""

from __future__ import annotations

import pytest

from migration_app.ops.redaction import Scrubber, has_password, redact_dsn

SESSION_ID = "00D5g000004ABCDEAA!AQ8AQHr2tYq.b_Zx7LkQ9mW3nC1vB5dE8fG0hJ2kL4"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"INVALID_SESSION_ID: Session {SESSION_ID} expired", "AQ8AQHr2tYq"),
        (f"X-SFDC-Session: {SESSION_ID}", "AQ8AQHr2tYq"),
        ("X-SFDC-Session: opaque-session-value-42", "opaque-session-value-42"),
        ("POST /services/oauth2/token client_secret=Zx9-secret&grant_type=x", "Zx9-secret"),
        ('{"refresh_token": "5Aep861refresh", "id": 1}', "5Aep861refresh"),
        ("id_token=eyJhbGciOiJSUzI1NiJ9.body.sig", "eyJhbGciOiJSUzI1NiJ9"),
        ("jwt_assertion=eyJhbGciOiJSUzI1NiJ9.payload.sig", "payload"),
        (f"<sessionId>{SESSION_ID}</sessionId>", "AQ8AQHr2tYq"),
        ("Authorization: OAuth 00Dxx!opaque_value_here", "opaque_value_here"),
    ],
)
def test_credentials_in_error_text_are_scrubbed(text: str, secret: str) -> None:
    scrubbed = Scrubber()(text)
    assert secret not in scrubbed, scrubbed
    assert "***" in scrubbed


def test_live_tokens_are_scrubbed_as_they_are_at_each_call() -> None:
    current = ["first-live-access-token-value"]
    scrub = Scrubber(["configured-secret-x"], live=lambda: [*current, None])
    assert scrub("401 for first-live-access-token-value") == "401 for ***"
    current[0] = "rotated-live-access-token"
    assert scrub("401 for rotated-live-access-token and configured-secret-x") == (
        "401 for *** and ***"
    )


def test_ordinary_text_is_kept() -> None:
    text = "HTTP 503 from http://registry:8081/subjects (session pool exhausted, 3 tokens)"
    assert Scrubber()(text) == text


def test_dsn_passwords() -> None:
    assert has_password("postgresql://app:pw@db:5432/audit")
    assert not has_password("postgresql://app@db:5432/audit")
    assert not has_password("postgresql:///audit?host=/tmp/x")
    # the embedded dev database's URL: an empty password is none (the dev env file exports it)
    assert not has_password("postgresql://postgres:@/postgres?host=/work/.devstack/pgdata")
    assert redact_dsn("postgresql://app:pw@db:5432/audit") == "postgresql://app:****@db:5432/audit"


def test_every_configured_secret_is_scrubbed_the_org_blocks_included() -> None:
    from migration_app.ops.observability import secret_values
    from migration_app.settings import Settings

    settings = Settings.from_env(
        {
            "MIGRATION_DATABASE_URL": "postgresql://app:db-secret@db:5432/audit",
            "MIGRATION_SF1_AUTH": "client_credentials",
            "MIGRATION_SF1_URL": "https://acme.my.salesforce.com",
            "MIGRATION_SF1_CLIENT_ID": "cid1",
            "MIGRATION_SF1_CLIENT_SECRET": "sf1-client-secret",
            "MIGRATION_SF2_AUTH": "password",
            "MIGRATION_SF2_USERNAME": "u2",
            "MIGRATION_SF2_PASSWORD": "sf2-password",
            "MIGRATION_SF2_SECURITY_TOKEN": "sf2-token",
        }
    )
    secrets = secret_values(settings)
    for value in ("sf1-client-secret", "sf2-password", "sf2-token"):
        assert value in secrets
    scrubbed = Scrubber(secrets)("login failed for sf2-password / sf1-client-secret")
    assert "sf2-password" not in scrubbed and "sf1-client-secret" not in scrubbed

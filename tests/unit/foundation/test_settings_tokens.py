"""Weak or ambiguous console and debug tokens stop the start, naming the variable, never the value.

Before: any length was accepted (an operator token ``a`` started the worker), a ``:`` or ``,``
inside a token split it silently into a name and a shorter secret, and the debug token could
equal a console token.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from migration_app.settings import Settings, SettingsError

GOOD = "k" * 32
GOOD2 = "m" * 40
BASE = {"MIGRATION_DEV_MODE": "true"}


def problems(**env: str) -> str:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**BASE, **env})
    return str(err.value)


def test_good_tokens_are_accepted() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "MIGRATION_OPERATOR_TOKEN": f"ops-alice:{GOOD},ops-bob:{GOOD2}",
            "MIGRATION_CONSOLE_READ_TOKEN": "r" * 32,
            "MIGRATION_DEBUG_TOKEN": "d" * 64,
        }
    )
    assert settings.operator_token.reveal().startswith("ops-alice:")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MIGRATION_OPERATOR_TOKEN", "Qx7"),
        ("MIGRATION_OPERATOR_TOKEN", "ops-alice:" + "S" * 31),
        ("MIGRATION_CONSOLE_READ_TOKEN", "Short-Read-Token-Q"),
        ("MIGRATION_DEBUG_TOKEN", "Test-Debug-Token-Q"),
    ],
)
def test_a_short_token_is_refused_naming_the_variable(variable: str, value: str) -> None:
    text = problems(**{variable: value})
    assert variable in text and "at least 32" in text
    assert value.rpartition(":")[2] not in text


@pytest.mark.parametrize(
    "value",
    [
        f"alice:{GOOD}:{GOOD}",  # a ':' inside the secret
        f"{GOOD[:20]}:{GOOD[:20]}",  # a bare 41-char token with a ":": name + 20-char secret
        f"alice:{GOOD},",  # a stray ','
        f"alice:{GOOD} {GOOD}",  # whitespace inside
        f"{GOOD},{GOOD2}",  # two bare tokens: the same default name
        f"bad name!:{GOOD}",
    ],
)
def test_ambiguous_token_lists_are_refused(value: str) -> None:
    text = problems(MIGRATION_OPERATOR_TOKEN=value)
    assert "MIGRATION_OPERATOR_TOKEN" in text
    assert GOOD not in text and GOOD2 not in text


def test_the_debug_token_must_differ_from_every_console_token() -> None:
    text = problems(
        MIGRATION_OPERATOR_TOKEN=f"alice:{GOOD}",
        MIGRATION_CONSOLE_READ_TOKEN=f"carol:{GOOD2}",
        MIGRATION_DEBUG_TOKEN=GOOD2,
    )
    assert "MIGRATION_DEBUG_TOKEN" in text and "MIGRATION_CONSOLE_READ_TOKEN" in text
    assert GOOD2 not in text


def test_one_secret_in_two_roles_or_one_name_twice_is_refused() -> None:
    text = problems(
        MIGRATION_OPERATOR_TOKEN=f"alice:{GOOD}", MIGRATION_CONSOLE_READ_TOKEN=f"carol:{GOOD}"
    )
    assert "one secret, one role" in text
    text = problems(
        MIGRATION_OPERATOR_TOKEN=f"alice:{GOOD}", MIGRATION_CONSOLE_READ_TOKEN=f"alice:{GOOD2}"
    )
    assert "make them unique" in text


def test_the_worker_exits_2_naming_the_variable_of_a_short_operator_token(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "MIGRATION_DEV_MODE": "true",
        "MIGRATION_OPERATOR_TOKEN": "a",
    }
    result = subprocess.run(
        [sys.executable, "-m", "migration_app", "worker"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, (result.stdout, result.stderr[-2000:])
    assert "MIGRATION_OPERATOR_TOKEN" in result.stderr and "at least 32" in result.stderr
    assert "Traceback" not in result.stderr

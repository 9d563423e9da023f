"""The console and debug tokens: how a variable's value is read, and what is refused at start.

``MIGRATION_OPERATOR_TOKEN`` and ``MIGRATION_CONSOLE_READ_TOKEN`` hold ``token`` or
``name:token,name2:token2``; ``MIGRATION_DEBUG_TOKEN`` one bare token. A token guards personal
data, so a weak or ambiguous one stops the start (``problems`` names the variable, never the
value):

- a secret shorter than ``MIN_SECRET_CHARS`` can be guessed;
- a ``:`` or ``,`` inside a secret would silently split it into a name and a shorter secret, so an
  item holds at most one ``:`` and the secret none of ``,:`` or whitespace;
- one secret configured twice (operator and reader, or debug and console) makes its role
  ambiguous, and the debug token must never open the console (nor a console token ``/debug``);
- names identify a session and the action log: unique, ``NAME_PATTERN``.

Problems name tokens by position (``token 2``), never by name: in a mistyped value the "name"
may be the first half of a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

MIN_SECRET_CHARS = 32
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_FORBIDDEN_IN_SECRET = re.compile(r"[\s,:]")
#: How to make a good one (printed with the refusal).
MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class NamedSecret:
    """One configured token: its name (shown in the action log) and the secret (never shown)."""

    name: str
    secret: str = field(repr=False)


def split_tokens(raw: str, default_name: str) -> list[NamedSecret]:
    """``token`` or ``name:token,...`` as written; a bare token is named ``default_name``.

    Lenient on purpose: ``problems`` is what refuses a malformed value at start."""
    out = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, secret = item.partition(":")
        if not sep:
            name, secret = default_name, item
        out.append(NamedSecret(name.strip() or default_name, secret.strip()))
    return out


def _secret_problem(variable: str, where: str, secret: str) -> str | None:
    if _FORBIDDEN_IN_SECRET.search(secret):
        return (
            f"{variable}: {where} contains ',' ':' or whitespace inside the secret (ambiguous: "
            "write `name:secret`, one secret per item, secrets without those characters)"
        )
    if len(secret) < MIN_SECRET_CHARS:
        return (
            f"{variable}: {where} is {len(secret)} characters; at least {MIN_SECRET_CHARS} "
            f"are required (make one: {MAKE_ONE})"
        )
    return None


def list_problems(variable: str, raw: str, default_name: str) -> list[str]:
    """What is wrong with one ``name:token,...`` variable (the value never appears)."""
    problems: list[str] = []
    items = [part.strip() for part in raw.split(",")]
    if raw.strip() and not all(items):
        problems.append(f"{variable}: an empty item (a stray ',')")
    for index, item in enumerate((i for i in items if i), start=1):
        where = f"token {index}"
        if item.count(":") > 1:
            problems.append(
                f"{variable}: {where} has more than one ':' (ambiguous: `name:secret`, "
                "and the secret may not contain ':')"
            )
            continue
        name, sep, secret = item.partition(":")
        if sep and not NAME_PATTERN.fullmatch(name):
            problems.append(
                f"{variable}: {where}'s name must match {NAME_PATTERN.pattern} "
                "(letters, digits, _ . @ -)"
            )
        if not sep:
            secret = item
        problem = _secret_problem(variable, where, secret)
        if problem:
            problems.append(problem)
    names = [t.name for t in split_tokens(raw, default_name)]
    if len(set(names)) < len(names):
        problems.append(
            f"{variable}: two tokens have the same name (give each its own: "
            "`name:secret,name2:secret2`)"
        )
    return problems


def problems(console: Iterable[tuple[str, str, str]], debug: tuple[str, str] | None) -> list[str]:
    """Every problem of the console token variables (``(variable, raw, default name)``) and of
    the debug token (``(variable, raw)``), including secrets or names shared between them."""
    found: list[str] = []
    seen_secrets: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for variable, raw, default_name in console:
        found += list_problems(variable, raw, default_name)
        for index, token in enumerate(split_tokens(raw, default_name), start=1):
            other = seen_secrets.get(token.secret)
            if other is not None and other != variable:
                found.append(
                    f"{variable}: token {index} is also configured in {other} "
                    "(one secret, one role)"
                )
            seen_secrets.setdefault(token.secret, variable)
            other = seen_names.get(token.name)
            if other is not None and other != variable:
                found.append(
                    f"{variable}: token {index}'s name is also used in {other} (names "
                    "identify sessions and the action log: make them unique)"
                )
            seen_names.setdefault(token.name, variable)
    if debug is not None:
        variable, raw = debug
        secret = raw.strip()
        if secret:
            problem = _secret_problem(variable, "the token", secret)
            if problem:
                found.append(problem)
            other = seen_secrets.get(secret)
            if other is not None:
                found.append(
                    f"{variable}: equals a token of {other}; the debug token must differ from "
                    "every console token"
                )
    return found

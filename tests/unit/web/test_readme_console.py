"""The README and the code agree on the console's powers (issue 24, finding 8: the README said
verify and rollback were disabled in the console while one confirmation rolled a customer back)."""

from __future__ import annotations

from pathlib import Path

from migration_app.web.console.actions import ACTIONS

README = Path(__file__).parents[3] / "README.md"


def test_the_readme_describes_the_actions_the_console_offers() -> None:
    text = README.read_text()
    start = text.index("- **Actions**")
    actions = text[start : text.index("\n\n", start)].lower()
    for spec in ACTIONS.values():
        assert spec.available, spec.name
        assert spec.label.lower() in actions, spec.label
    assert "disabled" not in actions
    assert ACTIONS["rollback"].typed_confirmation
    assert "type the customer id" in actions


def test_the_readme_has_a_security_model() -> None:
    text = README.read_text()
    section = text[text.index("## Security model") :]
    section = section[: section.index("\n## ", 1)]
    for must in ("TLS at the ingress", "auth proxy", "What is protected", "/table", "/router"):
        assert must in section, must

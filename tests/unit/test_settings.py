"""Every declared setting is well-formed: its default has its type, and it is documented."""

from __future__ import annotations

import typing

import pytest

from lockdown.policy.config import ConfigError, convert
from lockdown.policy.settings import SETTINGS, Policy, declared_settings, type_name


@pytest.mark.parametrize("info", declared_settings(), ids=lambda i: i.name)
def test_default_has_declared_type(info: typing.Any) -> None:
    raw = list(info.default) if isinstance(info.default, tuple) else info.default
    assert convert(raw, info.type, "defaults", info.name) == info.default


@pytest.mark.parametrize("info", declared_settings(), ids=lambda i: i.name)
def test_setting_is_documented(info: typing.Any) -> None:
    assert len(info.description) > 15
    assert info.description[0].isupper()
    assert type_name(info.type)


def test_settings_asked_for_by_the_locked_shell_exist() -> None:
    required = {"start_url", "allowed_hosts", "idp_hosts", "url_rules", "popups",
                "downloads_allowed_on", "uploads_allowed_on", "allow_print", "spell_check",
                "allow_reload", "allow_zoom", "quit_confirm", "quit_password_sha256", "quit_url",
                "user_agent_suffix"}
    assert required <= set(SETTINGS)


def test_per_url_flags_are_declared_not_inferred() -> None:
    per_url = {s.name for s in declared_settings() if s.per_url}
    assert per_url == {"allow_print", "spell_check", "allow_reload", "allow_zoom"}


def test_wrong_type_names_the_expected_type() -> None:
    with pytest.raises(ConfigError) as err:
        convert("yes", bool, "/etc/lockdown/policy.toml", "allow_print")
    assert str(err.value) == (
        "/etc/lockdown/policy.toml: allow_print: expected boolean, got string 'yes'")


def test_policy_is_immutable() -> None:
    policy = Policy()
    with pytest.raises(AttributeError):
        policy.start_url = "https://evil.test/"  # type: ignore[misc]

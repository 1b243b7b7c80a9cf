"""Mapping SEB settings onto lockdown settings."""

from __future__ import annotations

import hashlib

import pytest

from lockdown.policy.seb.config_key import config_key
from lockdown.policy.seb.errors import SebSettingsError
from lockdown.policy.seb.files import load_seb
from lockdown.policy.seb.mapping import (
    IGNORED_KEYS,
    MAPPED_KEYS,
    UNSUPPORTED_DEFAULTS,
    seb_to_settings,
)
from lockdown.policy.settings import SETTINGS
from tests.support.seb_fixtures import MOODLE_FIXTURE

RULES = [
    {"action": 1, "active": True, "expression": "exam.example.org/*", "regex": False},
    {
        "action": 0,
        "active": True,
        "expression": "^https://exam\\.example\\.org/admin",
        "regex": True,
    },
    {"action": 1, "active": False, "expression": "old.example.org", "regex": False},
    {"action": 1, "expression": "no-active-key.example.org"},
]

EXAM = {
    "startURL": "https://exam.example.org/mod/quiz/view.php?id=5",
    "startURLAppendQueryParameter": True,
    "quitURL": "https://exam.example.org/quit",
    "quitURLConfirm": False,
    "hashedQuitPassword": hashlib.sha256(b"letmeout").hexdigest().upper(),
    "allowQuit": False,
    "URLFilterEnable": True,
    "URLFilterEnableContentFilter": True,
    "URLFilterRules": RULES,
    "allowDownUploads": True,
    "allowPrint": True,
    "newBrowserWindowByLinkPolicy": 0,
    "newBrowserWindowByScriptPolicy": 0,
    "browserWindowAllowReload": False,
    "allowSpellCheck": True,
    "browserUserAgent": " ExamSuffix/1 ",
    "browserUserAgentWinDesktopMode": 1,
    "browserUserAgentWinDesktopModeCustom": "CustomWin/1.0",
    "browserUserAgentMac": 1,
    "browserUserAgentMacCustom": "CustomMac/1.0",
    "enableZoomPage": False,
    "enableZoomText": False,
    "sendBrowserExamKey": True,
    "originatorVersion": "SEB_Win_3.6",
    "additionalResources": [{"title": "Formulae"}],
    "allowVideoCapture": False,
    "showTaskBar": True,
    "mobileShowSettings": False,
    "someFutureSebKey": 3,
}


def test_exam_settings_map_to_lockdown_names() -> None:
    mapping = seb_to_settings(EXAM, platform="linux")
    assert mapping.settings == {
        "start_url": "https://exam.example.org/mod/quiz/view.php?id=5",
        "quit_url": "https://exam.example.org/quit",
        "quit_confirm": False,
        "quit_password_sha256": hashlib.sha256(b"letmeout").hexdigest(),
        "allow_quit": False,
        "url_filter_enabled": True,
        "url_rules": [
            {"action": "allow", "active": True, "expression": "exam.example.org/*", "regex": False},
            {
                "action": "block",
                "active": True,
                "expression": "^https://exam\\.example\\.org/admin",
                "regex": True,
            },
            {"action": "allow", "active": False, "expression": "old.example.org", "regex": False},
            {
                "action": "allow",
                "active": False,
                "expression": "no-active-key.example.org",
                "regex": False,
            },
        ],
        "downloads_allowed_on": ["*"],
        "uploads_allowed_on": ["*"],
        "allow_print": True,
        "popups": "block",
        "allow_reload": False,
        "spell_check": True,
        "allow_zoom": False,
        "user_agent_suffix": "ExamSuffix/1",
        "user_agent": "CustomWin/1.0",
        "seb_config_key": config_key(EXAM),
    }
    assert mapping.start_url_append_query is True
    assert mapping.content_filter is True
    assert mapping.unsupported == ["additionalResources"]
    assert mapping.unknown == ["someFutureSebKey"]
    assert {"originatorVersion", "showTaskBar", "mobileShowSettings", "allowVideoCapture"} <= set(
        mapping.ignored
    )


def test_mac_uses_the_mac_custom_user_agent() -> None:
    assert seb_to_settings(EXAM, platform="darwin").settings["user_agent"] == "CustomMac/1.0"


def test_custom_user_agent_only_when_mode_is_custom() -> None:
    settings = dict(EXAM, browserUserAgentWinDesktopMode=0)
    assert "user_agent" not in seb_to_settings(settings, platform="win32").settings


@pytest.mark.parametrize(("policy", "ours"), [(0, "block"), (1, "same_window"), (2, "new_window")])
def test_popup_policy(policy: int, ours: str) -> None:
    mapping = seb_to_settings({"newBrowserWindowByLinkPolicy": policy})
    assert mapping.settings["popups"] == ours


def test_script_popup_policy_different_from_link_policy_is_reported() -> None:
    same = seb_to_settings({"newBrowserWindowByLinkPolicy": 1, "newBrowserWindowByScriptPolicy": 1})
    differs = seb_to_settings(
        {"newBrowserWindowByLinkPolicy": 1, "newBrowserWindowByScriptPolicy": 2}
    )
    assert "newBrowserWindowByScriptPolicy" not in same.unsupported
    assert differs.unsupported == ["newBrowserWindowByScriptPolicy"]


@pytest.mark.parametrize(("key", "default"), sorted(UNSUPPORTED_DEFAULTS.items()))
def test_unsupported_only_when_not_default(key: str, default: object) -> None:
    assert key not in seb_to_settings({key: default}).unsupported
    changed: object
    if isinstance(default, bool):
        changed = not default
    elif isinstance(default, int):
        changed = default + 1
    elif isinstance(default, str):
        changed = "https://server.example/"
    else:
        changed = [{"active": True}]
    assert seb_to_settings({key: changed}).unsupported == [key]


def test_a_value_of_another_type_is_not_the_default() -> None:
    assert seb_to_settings({"sebMode": False}).unsupported == ["sebMode"]
    assert seb_to_settings({"enableJavaScript": 1}).unsupported == ["enableJavaScript"]


def test_zoom_follows_page_zoom_like_seb_for_windows() -> None:
    assert (
        seb_to_settings({"enableZoomPage": False, "enableZoomText": True}).settings["allow_zoom"]
        is False
    )
    assert (
        seb_to_settings({"enableZoomPage": True, "enableZoomText": False}).settings["allow_zoom"]
        is True
    )
    assert "allow_zoom" not in seb_to_settings({"enableZoomText": False}).settings


def test_empty_start_url_and_absent_keys_leave_our_defaults() -> None:
    mapping = seb_to_settings({"startURL": ""})
    assert mapping.settings == {"seb_config_key": config_key({"startURL": ""})}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"startURL": 5}, "'startURL' must be a string, not an integer"),
        ({"startURL": "ftp://a.example/"}, "http:// or https://"),
        ({"startURL": "https://a.example/x y"}, "spaces or control"),
        ({"allowQuit": 1}, "'allowQuit' must be a boolean"),
        ({"newBrowserWindowByLinkPolicy": True}, "must be an integer, not a boolean"),
        ({"newBrowserWindowByLinkPolicy": 3}, "must be 0, 1 or 2"),
        ({"URLFilterRules": {"a": 1}}, "must be an array, not a dictionary"),
        (
            {"URLFilterRules": [{"action": 1, "active": True, "expression": " "}]},
            "missing or empty",
        ),
        (
            {"URLFilterRules": [{"action": 2, "active": True, "expression": "a"}]},
            "rule 1: 'action'",
        ),
        ({"URLFilterRules": [{"action": 1, "expression": "(", "regex": True}]}, "invalid regular"),
        ({"hashedQuitPassword": "abc"}, "64 hex"),
        ({"hashedQuitPassword": "a" * 64 + "\n"}, "64 hex"),
        ({"browserUserAgent": 7}, "'browserUserAgent' must be a string"),
        ({"startURLAppendQueryParameter": "yes"}, "must be a boolean"),
    ],
)
def test_wrong_types_raise_clear_errors(settings: dict[str, object], message: str) -> None:
    with pytest.raises(SebSettingsError) as info:
        seb_to_settings(settings)
    assert message in str(info.value)


def test_moodle_fixture_maps_cleanly() -> None:
    seb = load_seb(MOODLE_FIXTURE.read_bytes())
    mapping = seb_to_settings(seb.settings, platform="linux")
    assert mapping.settings["start_url"] == "https://www.google.com"
    assert mapping.settings["seb_config_key"] == seb.config_key
    assert mapping.unknown == []
    assert set(mapping.unsupported) | set(mapping.ignored) | MAPPED_KEYS >= set(seb.settings)


def test_key_tables_do_not_overlap() -> None:
    assert not IGNORED_KEYS & MAPPED_KEYS
    assert not IGNORED_KEYS & set(UNSUPPORTED_DEFAULTS)
    assert not MAPPED_KEYS & set(UNSUPPORTED_DEFAULTS)


def test_every_produced_name_is_a_declared_lockdown_setting() -> None:
    mapping = seb_to_settings(EXAM, platform="linux")
    assert set(mapping.settings) <= set(SETTINGS), set(mapping.settings) - set(SETTINGS)


def test_mapped_settings_pass_the_config_layer_validation() -> None:
    from lockdown.policy.config import validate

    for settings in (EXAM, load_seb(MOODLE_FIXTURE.read_bytes()).settings):
        values = validate(seb_to_settings(settings, platform="linux").settings, "exam.seb")
        assert values["seb_config_key"] == config_key(settings)

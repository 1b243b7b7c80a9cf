"""Config files: clear one-line errors, layering, and machine pins user input cannot loosen."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockdown.cli import build_policy
from lockdown.policy.config import ConfigError, load_layer, merge, read_config_file, validate
from lockdown.policy.rules import UrlRule


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.toml", "start_url = ", "invalid TOML"),
        ("p.toml", "allow_print = 'yes'", "allow_print: expected boolean, got string 'yes'"),
        ("p.toml", "allowd_hosts = ['a']", "allowd_hosts: unknown setting"),
        ("p.toml", "allowed_hosts = 'moodle.ac.uk'", "allowed_hosts: expected list of string"),
        ("p.toml", "allowed_hosts = [1]", "allowed_hosts[0]: expected string, got integer 1"),
        ("p.toml", "popups = 'sometimes'", "popups: expected 'block' | 'same_window'"),
        ("p.toml", "login_timeout_s = -5", "expected non-negative integer"),
        ("p.toml", "login_timeout_s = true", "expected non-negative integer, got boolean"),
        ("p.json", "{\"start_url\": ", "invalid JSON at line 1"),
        ("p.json", "[1, 2]", "the top level must be a table"),
        ("p.json", "{\"url_rules\": [\"x\"]}", "url_rules[0]: expected URL rule table"),
        ("p.json", "{\"url_overrides\": [{\"match\": \"a.b\", \"start_url\": \"x\"}]}",
         "cannot be overridden per URL"),
        ("p.toml", "[[url_overrides]]\nmatch = 'x.test'\nallow_zoom = 3",
         "url_overrides[0].allow_zoom: expected boolean"),
        ("p.toml", "allowed_hosts = ['https://moodle.ac.uk/']", "allowed_hosts[0]: 'https://"),
        ("p.toml", "idp_hosts = ['a b']", "idp_hosts[0]: 'a b' is not a host"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as err:
        load_layer(path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(path))
    assert "\n" not in str(err.value)


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        read_config_file(tmp_path / "missing.toml")
    binary = tmp_path / "b.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_config_file(binary)


def test_rules_accept_seb_numbers_and_words(tmp_path: Path) -> None:
    layer = validate({"url_rules": [
        {"action": 1, "active": True, "expression": "moodle.example.ac.uk", "regex": False},
        {"action": "block", "expression": "moodle.example.ac.uk/admin"},
    ]}, "t")
    rules = layer["url_rules"]
    assert isinstance(rules, tuple)
    assert [r.action for r in rules if isinstance(r, UrlRule)] == ["allow", "block"]


def test_layers_override_defaults(tmp_path: Path) -> None:
    machine = write(tmp_path, "policy.toml", "allow_print = true\nstart_url = 'https://m.test/'")
    policy = build_policy(config=None, start_url=None, machine_dir=tmp_path)
    assert policy.allow_print is True
    assert policy.start_url == "https://m.test/"
    assert machine.exists()


def test_machine_pin_refuses_start_url(tmp_path: Path) -> None:
    write(tmp_path, "policy.toml", "start_url = 'https://moodle.example.ac.uk/'")
    with pytest.raises(ConfigError, match="pins the start URL"):
        build_policy(config=None, start_url="https://evil.test/", machine_dir=tmp_path)


def test_machine_pin_refuses_user_config_change(tmp_path: Path) -> None:
    write(tmp_path, "policy.toml", "allow_print = false")
    user = write(tmp_path / "..", "user.toml", "allow_print = true")
    with pytest.raises(ConfigError, match="pinned by the machine policy"):
        build_policy(config=user, start_url=None, machine_dir=tmp_path)


def test_user_start_url_must_be_within_machine_hosts(tmp_path: Path) -> None:
    write(tmp_path, "policy.toml", "allowed_hosts = ['moodle.example.ac.uk']")
    ok = build_policy(config=None, start_url="https://moodle.example.ac.uk/course/",
                      machine_dir=tmp_path)
    assert ok.start_url == "https://moodle.example.ac.uk/course/"
    with pytest.raises(ConfigError, match="not allowed by the machine policy"):
        build_policy(config=None, start_url="https://evil.test/", machine_dir=tmp_path)


def test_start_url_must_be_web(tmp_path: Path) -> None:
    for bad in ("file:///etc/passwd", "javascript:alert(1)", "https://a@b.test/", "http://"):
        with pytest.raises(ConfigError):
            build_policy(config=None, start_url=bad, machine_dir=tmp_path)


def test_cross_field_checks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="quit_password_sha256: expected 64 hexadecimal"):
        merge(None, [load_layer(write(tmp_path, "q.toml", "quit_password_sha256 = 'abc'"))])

"""Loading, validating and layering configuration files.

Layers, lowest first: built-in defaults < machine policy file (IT, per-OS location) < user layers
(``--config FILE`` for development, ``--start-url``, exam configs from .seb files or Numbas links).
A key the machine policy sets is *pinned*: a user layer that sets it to a different value is an
error, so nothing a student types can loosen what IT decided.
"""

from __future__ import annotations

import dataclasses
import os
import string
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from lockdown.policy.rules import RuleError, UrlRule
from lockdown.policy.settings import SETTINGS, Policy, UrlOverride, type_name
from lockdown.policy.urls import UrlError, parse_url

MAX_POLICY_BYTES = 1_000_000


class ConfigError(Exception):
    """A configuration problem, phrased for the IT administrator who has to fix it."""

    def __init__(self, source: str, message: str, key: str | None = None) -> None:
        self.source = source
        self.key = key
        where = f"{source}: {key}: " if key else f"{source}: "
        super().__init__(where + message)


@dataclass(frozen=True)
class Layer:
    """One validated configuration source: its name (file path or description) and its values."""

    source: str
    values: Mapping[str, object]


def machine_policy_dir(platform: str = sys.platform) -> Path:
    """Where IT puts the machine-wide policy (students can read it, only admins write it)."""
    if platform.startswith("win"):
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "lockdown"
    if platform == "darwin":
        return Path("/Library/Application Support/lockdown")
    return Path("/etc/lockdown")


def find_machine_policy(directory: Path) -> Path | None:
    """The machine policy file in ``directory`` (policy.toml, else policy.json), if any."""
    for name in ("policy.toml", "policy.json"):
        candidate = directory / name
        if candidate.exists():
            return candidate
    return None


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML or JSON policy file (by extension) into a raw table."""
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(source, f"cannot read file ({exc.strerror or exc})") from None
    if len(data) > MAX_POLICY_BYTES:
        raise ConfigError(source, f"file is larger than {MAX_POLICY_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(source, "file is not UTF-8 text") from None
    if path.suffix.lower() == ".json":
        import json  # like tomllib: only for the format given

        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(source, f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    else:
        import tomllib  # only when a TOML file is given: not on the way to every start page

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, f"invalid TOML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(source, "the top level must be a table of settings")
    return raw


def validate(raw: Mapping[str, Any], source: str) -> dict[str, object]:
    """Check every key against the declared settings and convert values to their setting types."""
    values: dict[str, object] = {}
    for key, value in raw.items():
        info = SETTINGS.get(key)
        if info is None:
            raise ConfigError(source, "unknown setting (see 'python -m lockdown settings')", key)
        values[key] = convert(value, info.type, source, key)
    return values


def convert(value: Any, tp: Any, source: str, key: str) -> object:
    """Convert one raw value to the declared type, or explain what was expected."""
    expected = f"expected {type_name(tp)}, got {_describe(value)}"
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise ConfigError(source, expected, key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(source, expected, key)
        inner = typing.get_args(tp)[0]
        return tuple(convert(v, inner, source, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(source, expected, key)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise ConfigError(source, expected.replace("integer", "non-negative integer"), key)
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(source, expected, key)
    if tp is UrlRule:
        return _convert_rule(value, source, key)
    if tp is UrlOverride:
        return _convert_override(value, source, key)
    raise ConfigError(source, f"setting type {tp!r} has no converter", key)  # pragma: no cover


def _convert_rule(value: Any, source: str, key: str) -> UrlRule:
    if not isinstance(value, Mapping):
        raise ConfigError(source, f"expected {type_name(UrlRule)}, got {_describe(value)}", key)
    seb = dict(value)
    action = seb.get("action")
    if action in ("allow", "block"):
        seb["action"] = 1 if action == "allow" else 0
    try:
        return UrlRule.from_seb(seb)
    except RuleError as exc:
        raise ConfigError(source, str(exc), key) from None


def _convert_override(value: Any, source: str, key: str) -> UrlOverride:
    if not isinstance(value, Mapping) or not isinstance(value.get("match"), str):
        raise ConfigError(source, f"expected {type_name(UrlOverride)}, got {_describe(value)}", key)
    pattern = _convert_rule({"action": 1, "expression": value["match"]}, source, f"{key}.match")
    pairs: list[tuple[str, object]] = []
    for name, raw in value.items():
        if name == "match":
            continue
        info = SETTINGS.get(name)
        if info is None:
            raise ConfigError(source, "unknown setting", f"{key}.{name}")
        if not info.per_url:
            raise ConfigError(source, "this setting cannot be overridden per URL", f"{key}.{name}")
        pairs.append((name, convert(raw, info.type, source, f"{key}.{name}")))
    return UrlOverride(pattern=pattern, values=tuple(pairs))


def _describe(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
             dict: "table", type(None): "null"}
    return names.get(type(value), type(value).__name__) + f" {value!r:.40}"


def load_layer(path: Path) -> Layer:
    """Read and validate one policy file, naming the file in every error."""
    values = validate(read_config_file(path), str(path))
    check_consistency(dataclasses.replace(Policy(), **values), str(path))  # type: ignore[arg-type]
    return Layer(str(path), values)


def merge(machine: Layer | None, user_layers: Sequence[Layer]) -> Policy:
    """Apply the layers over the defaults; user layers may not change what the machine pinned."""
    values: dict[str, object] = {}
    pinned: dict[str, object] = {}
    if machine is not None:
        values.update(machine.values)
        pinned.update(machine.values)
    for layer in user_layers:
        for key, value in layer.values.items():
            if key in pinned and pinned[key] != value:
                raise ConfigError(
                    layer.source,
                    f"is pinned by the machine policy ({machine.source if machine else ''});"
                    " user configuration may not change it",
                    key,
                )
            values[key] = value
    policy = dataclasses.replace(Policy(), **values)  # type: ignore[arg-type]
    check_consistency(policy, "effective policy")
    return policy


def check_consistency(policy: Policy, source: str) -> None:
    """Cross-field checks the per-key validation cannot make."""
    if policy.start_url:
        try:
            start = parse_url(policy.start_url)
        except UrlError as exc:
            raise ConfigError(source, str(exc), "start_url") from None
        if start.scheme not in ("http", "https"):
            raise ConfigError(source, "must be an http or https URL", "start_url")
        if start.username or start.password:
            raise ConfigError(source, "must not contain user info (user@host)", "start_url")
    from lockdown.policy.decide import HostEntry

    for key in ("allowed_hosts", "idp_hosts"):
        for index, entry in enumerate(getattr(policy, key)):
            if "/" in entry or "@" in entry or HostEntry.parse(entry) is None:
                raise ConfigError(source, f"{entry!r} is not a host or host:port",
                                  f"{key}[{index}]")
    for key in ("quit_password_sha256", "seb_config_key", "seb_browser_exam_key"):
        value = getattr(policy, key)
        if value and (len(value) != 64 or any(c not in string.hexdigits for c in value)):
            raise ConfigError(source, "expected 64 hexadecimal characters", key)


def start_url_layer(url: str) -> Layer:
    """The ``--start-url`` layer: that URL, its host allowed and nothing else."""
    source = "--start-url"
    try:
        parsed = parse_url(url)
    except UrlError as exc:
        raise ConfigError(source, str(exc)) from None
    if parsed.scheme not in ("http", "https"):
        raise ConfigError(source, f"only http(s) start URLs are allowed, not {parsed.scheme}")
    if parsed.username or parsed.password:
        raise ConfigError(source, "the start URL must not contain user info (user@host)")
    return Layer(source, {"start_url": str(parsed)})

"""The commented machine-policy example every installer ships, generated from the settings.

Each declared setting (``lockdown.policy.settings``) becomes a commented block: description,
type, and ``#name = default``. Uncommenting any line therefore gives a valid policy with that
setting's default, and the example can never drift from what the app accepts (a unit test
uncomments every line and validates the result with the app's own loader).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable

from lockdown.policy.settings import SettingInfo, declared_settings, type_name

WIDTH = 96


class ExampleError(Exception):
    """A setting's default cannot be written as TOML (a new type needs a renderer here)."""


def toml_value(value: object) -> str:
    """A TOML literal for a setting default (strings, booleans, integers, lists of those)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON strings are TOML basic strings
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise ExampleError(f"no TOML form for a default of type {type(value).__name__}: {value!r}")


def _block(info: SettingInfo) -> list[str]:
    text = info.description + (" (may be overridden per URL)" if info.per_url else "")
    lines = [f"# {line}" for line in textwrap.wrap(text, WIDTH - 2)]
    lines.append(f"# type: {type_name(info.type)}")
    lines.append(f"#{info.name} = {toml_value(info.default)}")
    return lines


def render(location: str, settings: Iterable[SettingInfo] | None = None) -> str:
    """The example file for a policy ``location`` (shown in its header)."""
    header = [
        f"# Machine policy of the lockdown exam browser: {location}",
        "#",
        "# IT sets the exam here for every user of this computer. Settings made here are pinned:",
        "# nothing a student passes on the command line or in a user file may change them.",
        "# Every line below is commented out and shows the built-in default. Uncomment and edit",
        "# what you need; 'lockdown settings' lists the same settings, 'lockdown --help' the rest.",
        "#",
        "# Example: one Moodle site with single sign-on",
        '#   start_url = "https://moodle.example.ac.uk/"',
        '#   idp_hosts = ["login.example.ac.uk"]',
        "",
    ]
    body: list[str] = []
    for info in declared_settings() if settings is None else settings:
        body.extend([*_block(info), ""])
    return "\n".join(header + body)

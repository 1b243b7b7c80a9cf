"""Facts every installer shares, declared once: names, version, URL schemes, stable identifiers.

The Windows UpgradeCode and the macOS bundle identifier must never change between versions:
MSI recognises an older install to upgrade by the UpgradeCode, Jamf and macOS recognise the app
by its bundle identifier. ``tests/unit/test_installers.py`` pins both.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

APP_NAME = "lockdown"
DISPLAY_NAME = "Lockdown exam browser"
SUMMARY = "Locked-down exam browser for Moodle, Numbas and Safe Exam Browser exams"
PUBLISHER = "lockdown project"
HOMEPAGE = "https://github.com/lockdown-exam/lockdown"
MAINTAINER = "lockdown project <lockdown@example.org>"
LICENSE = "GPL-3.0-or-later"

#: Windows Installer upgrade code: the identity of the product across all its versions.
UPGRADE_CODE = "6AA0A56D-6B1E-4C29-9F46-48B81E9E9A2D"
#: macOS bundle identifier (also the pkg identifier prefix).
BUNDLE_ID = "org.lockdown-exam.lockdown"

#: URL schemes the app handles: Numbas lockdown links and Safe Exam Browser links.
URL_SCHEMES = ("numbas", "seb", "sebs")
#: Chromium UI languages shipped in the frozen build (the others' .pak files are pruned).
SHIPPED_LOCALES = ("en-US",)

#: The folders IT writes the machine policy into (as lockdown.policy.config reads them).
POLICY_DIR_LINUX = "/etc/lockdown"
POLICY_DIR_MACOS = "/Library/Application Support/lockdown"
POLICY_DIR_WINDOWS = r"%ProgramData%\lockdown"

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class MetadataError(Exception):
    """The project metadata cannot be turned into installer metadata."""


def version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    """The project version from pyproject.toml (the single source of truth)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MetadataError(f"cannot read the version from {pyproject}: {exc}") from None
    value = data.get("project", {}).get("version")
    if not isinstance(value, str):
        raise MetadataError(f"{pyproject} has no [project] version string")
    numeric_version(value)
    return value


def numeric_version(value: str) -> tuple[int, int, int]:
    """MAJOR.MINOR.PATCH as integers: MSI, Info.plist and dpkg all need a plain dotted number.

    MSI compares only the first three fields and each must stay below 256/256/65536.
    """
    match = _VERSION.match(value)
    if match is None:
        raise MetadataError(f"version {value!r} is not MAJOR.MINOR.PATCH (digits only)")
    major, minor, patch = (int(part) for part in match.groups())
    if major > 255 or minor > 255 or patch > 65535:
        raise MetadataError(f"version {value!r} is out of MSI's range (255.255.65535)")
    return major, minor, patch

"""macOS: verify the signed app, build the Jamf ``.pkg`` and the ``.dmg``, notarise, staple.

PyInstaller (build.spec) already signed every binary and the bundle with the hardened runtime
and ``entitlements.plist`` when ``LOCKDOWN_MACOS_SIGN_IDENTITY`` is set (ad-hoc otherwise).
Everything secret comes from the environment, never from the repository:

==================================  ===========================================================
``LOCKDOWN_MACOS_SIGN_IDENTITY``    "Developer ID Application: ..." (app and dmg)
``LOCKDOWN_MACOS_INSTALLER_ID``     "Developer ID Installer: ..." (pkg)
``LOCKDOWN_NOTARY_PROFILE``         a ``notarytool store-credentials`` keychain profile, or:
``APPLE_ID``, ``APPLE_TEAM_ID``,    an Apple ID, its team and an app-specific password
``APPLE_APP_PASSWORD``
==================================  ===========================================================

Without them the build is unsigned (fine for CI smoke tests, refused by Gatekeeper on exam
Macs). The command lines are built by pure functions, unit-tested on any OS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from installers import pkgmeta, policy_example

HERE = Path(__file__).resolve().parent
APP_NAME = f"{pkgmeta.APP_NAME}.app"
PKG_ID = f"{pkgmeta.BUNDLE_ID}.pkg"


class MacError(Exception):
    """A packaging step failed; the message names it (secrets redacted)."""


def postinstall_script() -> str:
    """The pkg's postinstall: the policy folder (root-owned, so students cannot add a policy),
    the commented example policy, and URL-scheme registration with LaunchServices."""
    policy_dir = pkgmeta.POLICY_DIR_MACOS
    lsregister = ("/System/Library/Frameworks/CoreServices.framework/Frameworks/"
                  "LaunchServices.framework/Support/lsregister")
    return f"""#!/bin/sh
# postinstall of the lockdown pkg (runs as root).
set -e
mkdir -p "{policy_dir}"
chown root:wheel "{policy_dir}"
chmod 755 "{policy_dir}"
cp "$(dirname "$0")/policy.toml.example" "{policy_dir}/policy.toml.example"
chmod 644 "{policy_dir}/policy.toml.example"
"{lsregister}" -f "$2/{APP_NAME}" || true
exit 0
"""


def names(version: str) -> tuple[str, str]:
    return f"{pkgmeta.APP_NAME}-{version}.pkg", f"{pkgmeta.APP_NAME}-{version}.dmg"


def verify_commands(app: Path, signed: bool) -> list[list[str]]:
    commands = [["codesign", "--verify", "--deep", "--strict", "--verbose=2", str(app)],
                ["codesign", "--display", "--entitlements", "-", "--xml", str(app)]]
    if signed:
        commands.append(["spctl", "--assess", "--type", "execute", "--verbose", str(app)])
    return commands


def pkg_commands(app: Path, work: Path, out: Path, version: str,
                 installer_identity: str | None) -> list[list[str]]:
    component = work / "component.pkg"
    product = ["productbuild", "--package", str(component)]
    if installer_identity:
        product += ["--sign", installer_identity, "--timestamp"]
    return [
        ["pkgbuild", "--component", str(app), "--install-location", "/Applications",
         "--identifier", PKG_ID, "--version", version, "--scripts", str(work / "scripts"),
         str(component)],
        [*product, str(out)],
    ]


def dmg_commands(app: Path, work: Path, out: Path, sign_identity: str | None) -> list[list[str]]:
    staging = work / "dmg"
    commands = [
        ["rm", "-rf", str(staging)],
        ["mkdir", "-p", str(staging)],
        ["ditto", str(app), str(staging / APP_NAME)],
        ["ln", "-s", "/Applications", str(staging / "Applications")],
        ["hdiutil", "create", "-volname", pkgmeta.DISPLAY_NAME, "-srcfolder", str(staging),
         "-ov", "-format", "UDZO", str(out)],
    ]
    if sign_identity:
        commands.append(["codesign", "--sign", sign_identity, "--timestamp", str(out)])
    return commands


def notary_credentials(env: Mapping[str, str]) -> list[str] | None:
    """notarytool's credential arguments from the environment (None: do not notarise)."""
    profile = env.get("LOCKDOWN_NOTARY_PROFILE")
    if profile:
        return ["--keychain-profile", profile]
    apple_id, team, password = (env.get(k) for k in ("APPLE_ID", "APPLE_TEAM_ID",
                                                     "APPLE_APP_PASSWORD"))
    if apple_id and team and password:
        return ["--apple-id", apple_id, "--team-id", team, "--password", password]
    return None


def notarise_commands(artifact: Path, credentials: Sequence[str]) -> list[list[str]]:
    return [["xcrun", "notarytool", "submit", str(artifact), *credentials, "--wait"],
            ["xcrun", "stapler", "staple", str(artifact)]]


def notarise_app_commands(app: Path, work: Path, credentials: Sequence[str]) -> list[list[str]]:
    """The app is notarised (as a zip) and stapled first, so the pkg and dmg carry a stapled
    app that also opens offline."""
    archive = work / "app-notarise.zip"
    return [["ditto", "-c", "-k", "--keepParent", str(app), str(archive)],
            ["xcrun", "notarytool", "submit", str(archive), *credentials, "--wait"],
            ["xcrun", "stapler", "staple", str(app)]]


def redact(argv: Sequence[str], env: Mapping[str, str]) -> str:
    secrets = [env[k] for k in ("APPLE_APP_PASSWORD",) if env.get(k)]
    return " ".join("***" if arg in secrets else arg for arg in argv)


def _run(commands: Sequence[Sequence[str]], env: Mapping[str, str]) -> None:
    for argv in commands:
        result = subprocess.run(list(argv), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise MacError(f"{redact(argv, env)} failed:\n{result.stdout[-2000:]}"
                           f"{result.stderr[-2000:]}")


def build(app: Path, work: Path, out_dir: Path,
          env: Mapping[str, str] | None = None) -> list[Path]:
    """Verify, package, optionally notarise; return the pkg and dmg paths."""
    environ = dict(os.environ if env is None else env)
    if shutil.which("pkgbuild") is None:
        raise MacError("pkgbuild is missing: build the macOS packages on macOS")
    version = pkgmeta.version()
    sign_identity = environ.get("LOCKDOWN_MACOS_SIGN_IDENTITY") or None
    installer_identity = environ.get("LOCKDOWN_MACOS_INSTALLER_ID") or None
    scripts = work / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    (scripts / "postinstall").write_text(postinstall_script(), encoding="utf-8")
    (scripts / "postinstall").chmod(0o755)
    (scripts / "policy.toml.example").write_text(
        policy_example.render(pkgmeta.POLICY_DIR_MACOS + "/policy.toml"), encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    pkg_name, dmg_name = names(version)
    pkg, dmg = out_dir / pkg_name, out_dir / dmg_name
    _run(verify_commands(app, signed=sign_identity is not None), environ)
    credentials = notary_credentials(environ)
    notarise = credentials is not None and sign_identity is not None
    if notarise and credentials is not None:
        _run(notarise_app_commands(app, work, credentials), environ)
    _run(pkg_commands(app, work, pkg, version, installer_identity), environ)
    _run(dmg_commands(app, work, dmg, sign_identity), environ)
    if notarise and credentials is not None:
        _run(notarise_commands(dmg, credentials), environ)
        if installer_identity:  # Apple notarises only signed pkgs
            _run(notarise_commands(pkg, credentials), environ)
    return [pkg, dmg]

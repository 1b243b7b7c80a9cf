"""THE smoke test, for every form of the app: source (the e2e suite), frozen build
(``installers/build``) and installed package (``installers/package-test``).

    python installers/smoke.py [--run-as-uid UID] [--install-dir DIR] [--display :N]
                               -- APP COMMAND...

e.g. ``-- .venv/bin/python -m lockdown``, ``-- dist/lockdown/lockdown``, ``-- /usr/bin/lockdown``.
It starts the demo exam site itself, writes a policy file for it and starts the app with
``--config FILE --log-format json`` plus DevTools attacks in the environment
(``QTWEBENGINE_REMOTE_DEBUGGING``, ``QTWEBENGINE_CHROMIUM_FLAGS``) and in argv
(``--remote-debugging-port``, ``--auto-open-devtools-for-tabs``, ``--webEngineArgs ...``).
Three runs of the app, each checked from outside:

``exam``
    the start page loads (log event ``page.loaded``); every attack is logged as removed and
    nothing else is; no Chromium helper was told ``remote-debugging``; no process of the app
    listens on any TCP port; on Linux with the sandbox expected on (no
    ``QTWEBENGINE_DISABLE_SANDBOX=1``) the zygote and renderers run in their own user namespace;
    per-user data goes to the OS user's data folder (platformdirs). Then, on Linux, the keyboard
    scenario (``installers/smoke_keyboard.py``) on an X display (``--display``, or an Xvfb
    started here): log in through the identity provider, answer the exam, quit with Ctrl+Q and
    the quit dialog; the site has the answers, exit status 0, ``session.end`` why=user. Windows
    and macOS have no xdotool: there the scenario is reported as NOT RUN (never passed
    silently) and the run ends with SIGTERM (CTRL_BREAK on Windows) instead;
``blocked``
    started on a redirect off the exam host, it ends on the app's blocked page (so the packaged
    resources are found);
``tls``
    an HTTPS site with a self-signed certificate is refused (``tls.rejected``: the packaged TLS
    libraries work).

Every run must end with exit status 0 and an ``app.exit`` event (``blocked`` and ``tls`` by
SIGTERM, as the OS ends it at logout), log no event of level error, and write nothing to stderr
but JSON log lines and the commented noise of a GPU-less machine
(:data:`installers.smoke_process.NOISE`). ``--install-dir`` fails the test if anything below it
changed.

Run as root (CI containers), ``--run-as-uid 65534`` runs the app as ``nobody`` so the sandbox
can stay on (Chromium refuses its sandbox as root). Never imports Qt: it drives the app from
outside, as IT's monitoring and the packaged-build checks do.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the demo site importable
    sys.path.insert(0, str(ROOT))

# These need ROOT on sys.path first (noqa: E402).
from installers import smoke_keyboard  # noqa: E402
from installers.smoke_process import (  # noqa: E402
    TLS_NOISE,
    X11_NOISE,
    AppRun,
    Noise,
    Prefix,
    SmokeError,
    check,
    cmdlines_with,
    listening_ports,
    sandbox_problems,
    unexpected_lines,
)
from installers.tls_site import UntrustedTlsSite  # noqa: E402
from lockdown.demo.site import DemoSite  # noqa: E402
from lockdown.sanitize import DANGEROUS_ENV  # noqa: E402 (pure: no Qt)

__all__ = ["SmokeError", "SmokeResult", "main", "run_smoke"]  # SmokeError: smoke_process

LOAD_TIMEOUT = 120.0
EXIT_TIMEOUT = 60.0
#: DevTools routes a student could try from the environment; each must be removed (and logged).
ENV_ATTACKS: Mapping[str, str] = {
    "QTWEBENGINE_REMOTE_DEBUGGING": "9222",
    "QTWEBENGINE_CHROMIUM_FLAGS": "--remote-debugging-port=9223",
}
#: ... and from argv (last on the command line: ``--webEngineArgs`` takes everything after it).
ARG_ATTACKS = ("--remote-debugging-port=9224", "--auto-open-devtools-for-tabs",
               "--webEngineArgs", "--remote-debugging-port=9225")
#: What no Chromium helper's command line may contain, whatever the app logged.
HELPER_FORBIDDEN = ("remote-debugging", "auto-open-devtools")
SANDBOX_OFF = "QTWEBENGINE_DISABLE_SANDBOX"
BLOCKED_TARGET = "http://blocked.invalid/answers"  # .invalid never resolves (RFC 2606)


def policy_for(site: DemoSite) -> dict[str, object]:
    """The policy IT would write for this exam site (as the e2e suite's demo_config does)."""
    return {
        "start_url": site.start_url,
        "allowed_hosts": [site.site_netloc],
        "idp_hosts": [site.idp_netloc],
        "login_paths": [site.login_path],
    }


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``directory`` with its size and modification time."""
    found: dict[str, tuple[int, int]] = {}
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            found[str(path.relative_to(directory))] = (stat.st_size, stat.st_mtime_ns)
    return found


def changed_files(before: Mapping[str, tuple[int, int]],
                  after: Mapping[str, tuple[int, int]]) -> list[str]:
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


@dataclass(frozen=True)
class Setup:
    """Where one app run keeps its files, and the environment the app gets."""

    base: Path
    config: Path
    env: dict[str, str]
    data_root: Path
    sandbox_off: bool


def prepare(base: Path, policy: Mapping[str, object], run_as_uid: int | None,
            display: str | None = None) -> Setup:
    """Folders, policy file and environment for one run; ``display``: an X display (xcb)
    instead of the offscreen platform."""
    home = base / "home"
    runtime = base / "runtime"
    base.mkdir(mode=0o700)
    for folder in (home, runtime):
        folder.mkdir(mode=0o700)
    config = base / "policy.json"
    config.write_text(json.dumps(policy), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKDOWN_")}
    env.update(ENV_ATTACKS)
    if display is not None:
        env.update(QT_QPA_PLATFORM="xcb", DISPLAY=display)
    else:
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not env.get("LANG", "").lower().endswith(("utf-8", "utf8")):
        env["LANG"] = "C.UTF-8"  # Qt warns (on stderr) under a non-UTF-8 locale
    env["HOME"] = str(home)
    if sys.platform.startswith("win"):
        # Known Folders cannot be redirected for one process: use the app's own override.
        data_root = base / "data"
        env["LOCKDOWN_DATA_DIR"] = str(data_root)
    elif sys.platform == "darwin":
        data_root = home / "Library" / "Application Support" / "lockdown"
    else:
        env.update(XDG_DATA_HOME=str(home / ".local" / "share"),
                   XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
                   XDG_RUNTIME_DIR=str(runtime))
        data_root = home / ".local" / "share" / "lockdown"
    env["LOCKDOWN_DOWNLOADS_DIR"] = str(home / "Downloads")
    if run_as_uid is not None:
        env.pop(SANDBOX_OFF, None)  # the point of running as a normal user: sandbox on
        for path in (base, home, runtime, config):
            os.chown(path, run_as_uid, run_as_uid)
    return Setup(base, config, env, data_root, env.get(SANDBOX_OFF) == "1")


def resolve(command: Sequence[str]) -> list[str]:
    """The command with its program made absolute (the app runs in a temporary folder)."""
    program = command[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        found: str | None = str(Path(program).absolute())
    else:
        found = shutil.which(program)
    if found is None or not Path(found).exists():
        raise SmokeError(f"app program not found: {program}")
    return [found, *command[1:]]


def start(command: Sequence[str], setup: Setup, run_as_uid: int | None) -> AppRun:
    argv = [*resolve(command), "--config", str(setup.config), "--log-format", "json",
            *ARG_ATTACKS]
    extra: dict[str, Any] = {}
    if sys.platform.startswith("win"):
        extra["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
    else:
        extra["start_new_session"] = True
    if run_as_uid is not None:
        extra.update(user=run_as_uid, group=run_as_uid, extra_groups=[])
    try:
        proc = subprocess.Popen(argv, env=setup.env, cwd=setup.base, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                encoding="utf-8", errors="replace", **extra)
    except OSError as exc:
        hint = (f" (user {run_as_uid} must be able to read the app and every folder above it)"
                if run_as_uid is not None and isinstance(exc, PermissionError) else "")
        raise SmokeError(f"cannot start {argv[0]}: {exc}{hint}") from None
    return AppRun(proc)


def stop(run: AppRun) -> None:
    """Ask the app to end as the OS does at logout: SIGTERM (CTRL_BREAK on Windows)."""
    if sys.platform.startswith("win"):
        run.proc.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
    else:
        run.proc.send_signal(signal.SIGTERM)


def kill_tree(run: AppRun) -> None:
    """Leave nothing behind, whatever happened (a no-op after a clean exit)."""
    if run.proc.poll() is None and not sys.platform.startswith("win"):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.proc.pid, signal.SIGKILL)
    for proc in reversed(run.tree()):
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    with contextlib.suppress(subprocess.TimeoutExpired):
        run.proc.wait(timeout=10)


Say = Callable[[str], None]
#: What a phase checks while the app runs; returns figures to report. It may end the app itself
#: (the keyboard scenario quits through the quit flow); otherwise the phase sends SIGTERM.
Checks = Callable[[AppRun, Setup, Say], dict[str, float]]


def run_phase(name: str, command: Sequence[str], *, policy: Mapping[str, object], base: Path,
              run_as_uid: int | None, checks: Checks, say: Say, noise: Noise = (),
              display: str | None = None) -> dict[str, float]:
    """Start the app on ``policy``, run ``checks``, end it with SIGTERM unless the checks ended
    it, and check its exit, its error events and its stderr."""
    setup = prepare(base, policy, run_as_uid, display)
    run = start(command, setup, run_as_uid)
    reader = run.start_reader()
    try:
        figures = checks(run, setup, lambda text: say(f"{name}: {text}"))
        how = "quit flow"
        if run.proc.poll() is None:
            how = "SIGTERM"
            stop(run)
        try:
            run.wait_exit(EXIT_TIMEOUT, how)
        except SmokeError as exc:
            raise SmokeError(f"{name}: {exc}") from None
        run.wait_event("app.exit", 10, code=0)
    finally:
        kill_tree(run)
        reader.join(timeout=10)
        if run.proc.stderr is not None:
            run.proc.stderr.close()
    with run.cond:
        other, events = list(run.other), list(run.events)
    errors = [e for e in events if e.get("level") in ("error", "critical")]
    check(not errors, lambda: f"{name}: error events: "
          + "; ".join(json.dumps(e)[:300] for e in errors))
    bad = unexpected_lines(other, setup.sandbox_off, noise)
    check(not bad, lambda: f"{name}: unexpected stderr lines:\n  " + "\n  ".join(bad[:30]))
    say(f"{name}: ok: {how} -> exit 0; stderr clean ({len(events)} log events,"
        f" {len(other)} allow-listed noise lines)")
    return figures


def devtools_checks(run: AppRun, setup: Setup) -> int:
    """Every DevTools attack refused, from the app's log and from the processes it started;
    returns how many processes were inspected."""
    for variable in ENV_ATTACKS:
        run.wait_event("security.env_removed", 1, variable=variable)
    for argument in ARG_ATTACKS:
        run.wait_event("security.arg_removed", 1, argument=argument)
    # Exactly these: a variable the user never set logged as removed (PyInstaller's Qt
    # variables, say) would hide real attempts in support logs.
    removed_env = {e.get("variable") for e in run.find_all("security.env_removed")}
    expected_env = {name for name in DANGEROUS_ENV if name in setup.env}
    check(removed_env == expected_env,
          lambda: f"removed variables {sorted(map(str, removed_env))},"
                  f" expected {sorted(expected_env)}")
    removed_args = {e.get("argument") for e in run.find_all("security.arg_removed")}
    check(removed_args == set(ARG_ATTACKS),
          lambda: f"removed arguments {sorted(map(str, removed_args))}, expected"
                  f" {sorted(ARG_ATTACKS)}")
    processes = run.tree()
    check(len(processes) >= 2, lambda: f"no Chromium helper process to inspect: {processes}")
    told = [hit for text in HELPER_FORBIDDEN for hit in cmdlines_with(processes[1:], text)]
    check(not told, lambda: f"Chromium helpers were started with DevTools switches: {told}")
    ports = listening_ports(processes)
    check(not ports, lambda: f"the app listens on TCP ports (pid, name, port): {ports}")
    return len(processes)


def exam_checks(site: DemoSite, load_timeout: float, display: str | None) -> Checks:
    """The demo exam loads; DevTools attacks are refused; sandbox on; per-user data; then, with
    a ``display``, the keyboard scenario, which ends the app through the quit flow."""

    def checks(run: AppRun, setup: Setup, say: Say) -> dict[str, float]:
        started = time.monotonic()
        run.wait_event("page.loaded", load_timeout, url=site.start_url)
        loaded = time.monotonic() - started
        say(f"ok: page.loaded after {loaded:.1f} s")
        inspected = devtools_checks(run, setup)
        say(f"ok: devtools env/argv refused ({len(ENV_ATTACKS)} variables,"
            f" {len(ARG_ATTACKS)} arguments), none in the helpers' command lines,"
            f" no listening port in {inspected} processes")
        if setup.sandbox_off:
            run.wait_event("security.sandbox_disabled", 5)
            say(f"note: sandbox off by {SANDBOX_OFF}=1 (set by the caller, logged by the app)")
        elif sys.platform.startswith("linux"):
            problems = sandbox_problems(run.tree())
            check(not problems, lambda: "Chromium sandbox is not on: " + "; ".join(problems))
            check(run.find("security.sandbox_disabled") is None,
                  lambda: "the app reports the sandbox disabled")
            say("ok: zygote and renderers in their own user namespace (Chromium sandbox on)")
        profile = setup.data_root / "profile"
        check(profile.is_dir(), lambda: f"no per-user profile at {profile}")
        say(f"ok: per-user data under {setup.data_root}")
        if display is None:
            return {"load_s": loaded}
        keyboard = smoke_keyboard.login_answer_quit(run, site, display, load_timeout, say)
        return {"load_s": loaded, "keyboard_s": keyboard}

    return checks


def blocked_checks(target: str, load_timeout: float) -> Checks:
    """A redirect off the allowed host ends on the app's blocked page, which is rendered from the
    packaged resources (``lockdown.assets``): proof they are found in this form of the app."""

    def checks(run: AppRun, setup: Setup, say: Say) -> dict[str, float]:
        del setup
        page = run.wait_event("page.loaded", load_timeout, url=Prefix("lockdown:blocked"))
        check(target in str(page.get("title", "")) or target in str(page.get("url", "")),
              lambda: f"the blocked page does not name {target}: {page}")
        check(run.find("page.loaded", url=Prefix(target)) is None,
              lambda: f"{target} loaded although the policy does not allow it")
        say("ok: redirect off the exam host refused; blocked page from packaged resources")
        return {}

    return checks


def tls_checks(url: str, load_timeout: float) -> Checks:
    """An untrusted certificate is refused (the TLS libraries work in this build)."""

    def checks(run: AppRun, setup: Setup, say: Say) -> dict[str, float]:
        del setup
        event = run.wait_event("tls.rejected", load_timeout)
        check(str(event.get("url", "")).startswith(url.rstrip("/")),
              lambda: f"tls.rejected for another URL: {event}")
        check(run.find("page.loaded", url=url) is None, lambda: "the untrusted page loaded")
        say(f"ok: untrusted certificate refused ({event.get('error')})")
        return {}

    return checks


@dataclass(frozen=True)
class SmokeResult:
    """What a passed smoke test measured, and what it could not run on this OS."""

    load_s: float
    keyboard_s: float | None  # None: the keyboard scenario did not run
    not_run: str | None = None  # why it did not run


def keyboard_display(stack: contextlib.ExitStack, display: str | None, keyboard: bool) -> \
        tuple[str | None, str | None]:
    """(the X display for the keyboard scenario, or None and the reason it does not run).

    On Linux the scenario is required: missing tools are an error, not a skip. Without
    ``display`` it gets its own Xvfb, never the desktop the build may run on (the app grabs
    the keyboard).
    """
    reason = smoke_keyboard.unavailable() if keyboard else "switched off by the caller"
    if reason is not None:
        return None, reason
    missing = smoke_keyboard.tools_missing(need_xvfb=display is None)
    check(not missing, lambda: f"the keyboard scenario needs {' and '.join(missing)}"
          " (apt-get install xvfb xdotool)")
    if display is None:
        display = stack.enter_context(smoke_keyboard.virtual_display())
    return display, None


def run_smoke(command: Sequence[str], *, run_as_uid: int | None = None,
              install_dir: Path | None = None, load_timeout: float = LOAD_TIMEOUT,
              display: str | None = None, keyboard: bool = True,
              say: Say = print) -> SmokeResult:
    """Run every check (see the module doc). Raises :class:`SmokeError` on the first failure.

    ``display``: an X display for the keyboard scenario (default: a private Xvfb).
    ``keyboard=False`` leaves the scenario out, reported as not run (for a stand-in app).
    """
    if not command:
        raise SmokeError("no app command given (e.g. '-- dist/lockdown/lockdown')")
    before = snapshot(install_dir) if install_dir is not None else None
    with contextlib.ExitStack() as stack:
        x_display, not_run = keyboard_display(stack, display, keyboard)
        if not_run is not None:
            say(f"exam: keyboard scenario (login, answer, quit dialog) NOT RUN: {not_run}")
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="lockdown-smoke-"))
        base = Path(tmp)
        if run_as_uid is not None:
            base.chmod(0o755)  # the app's user must reach its own folders below
        # The identity provider shares 127.0.0.1 on its own port: macOS routes only that address
        # by default (the keyboard scenario, which logs in, runs on Linux only today).
        with DemoSite(idp_host="127.0.0.1", test_routes=True) as site:
            figures = run_phase("exam", command, policy=policy_for(site), base=base / "exam",
                                run_as_uid=run_as_uid, say=say, display=x_display,
                                noise=X11_NOISE if x_display else (),
                                checks=exam_checks(site, load_timeout, x_display))
            redirect = f"{site.base_url}_test/redirect?code=302&to={BLOCKED_TARGET}"
            run_phase("blocked", command, policy={**policy_for(site), "start_url": redirect},
                      base=base / "blocked", run_as_uid=run_as_uid,
                      checks=blocked_checks(BLOCKED_TARGET, load_timeout), say=say)
        with UntrustedTlsSite() as tls:
            run_phase("tls", command, policy={"start_url": tls.url}, base=base / "tls",
                      run_as_uid=run_as_uid, checks=tls_checks(tls.url, load_timeout), say=say,
                      noise=TLS_NOISE)
    if before is not None and install_dir is not None:
        changed = changed_files(before, snapshot(install_dir))
        check(not changed, lambda: f"the app wrote into its install folder {install_dir}:"
              f" {changed[:10]}")
        say(f"ok: nothing written to {install_dir}")
    return SmokeResult(figures["load_s"], figures.get("keyboard_s"), not_run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-test an app command (see module doc).")
    parser.add_argument("--run-as-uid", type=int, metavar="UID",
                        help="run the app as this user (POSIX, needs root): sandbox stays on")
    parser.add_argument("--install-dir", type=Path, metavar="DIR",
                        help="fail if the app writes anything below DIR")
    parser.add_argument("--display", metavar=":N",
                        help="X display for the keyboard scenario (default: a private Xvfb)")
    parser.add_argument("--load-timeout", type=float, default=LOAD_TIMEOUT)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- APP COMMAND...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        result = run_smoke(command, run_as_uid=args.run_as_uid, install_dir=args.install_dir,
                           load_timeout=args.load_timeout, display=args.display)
    except SmokeError as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    keyboard = (f"keyboard scenario {result.keyboard_s:.1f} s" if result.keyboard_s is not None
                else f"keyboard scenario NOT RUN: {result.not_run}")
    print(f"smoke: passed ({' '.join(command)}; start to page loaded {result.load_s:.1f} s;"
          f" {keyboard})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

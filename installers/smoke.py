"""Smoke test for any form of the app: source, frozen build, or the installed package.

    python installers/smoke.py [--run-as-uid UID] [--install-dir DIR] -- APP COMMAND...

e.g. ``-- .venv/bin/python -m lockdown``, ``-- dist/lockdown/lockdown``, ``-- /usr/bin/lockdown``.
It starts the demo exam site itself, writes a policy file for it and starts the app with
``--config FILE --log-format json`` plus a DevTools attack (``QTWEBENGINE_REMOTE_DEBUGGING=9222``
in the environment, ``--remote-debugging-port=9223`` in argv). It passes when:

- the start page loads (log event ``page.loaded``);
- both attack routes are logged as removed (``security.env_removed``/``security.arg_removed``)
  and no process of the app listens on any TCP port;
- on Linux with the sandbox expected on (no ``QTWEBENGINE_DISABLE_SANDBOX=1``), every renderer
  run in their own user namespace, i.e. the Chromium sandbox is really on;
- per-user data goes to the OS user's data folder (platformdirs), nothing to ``--install-dir``;
- a second run, started on a redirect off the exam host, ends on the app's blocked page (so the
  packaged resources are found);
- a third run on an HTTPS site with a self-signed certificate logs ``tls.rejected`` (the
  packaged TLS libraries work, and an untrusted certificate is refused);
- SIGTERM (CTRL_BREAK on Windows) ends each run with exit status 0 and an ``app.exit`` event;
- stderr holds nothing but JSON log lines and the allow-listed noise of a GPU-less headless
  machine (:data:`NOISE`), and no log event has level error.

Run as root (CI containers), ``--run-as-uid 65534`` runs the app as ``nobody`` so the sandbox
can stay on (Chromium refuses its sandbox as root). Never imports Qt: it drives the app from
outside, as IT's monitoring and the packaged-build checks do.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: make the demo site importable
    sys.path.insert(0, str(ROOT))

from installers.tls_site import UntrustedTlsSite  # noqa: E402 (needs ROOT on sys.path first)
from lockdown.demo.site import DemoSite  # noqa: E402

LOAD_TIMEOUT = 120.0
EXIT_TIMEOUT = 60.0
ENV_ATTACK = ("QTWEBENGINE_REMOTE_DEBUGGING", "9222")
ARG_ATTACK = "--remote-debugging-port=9223"
SANDBOX_OFF = "QTWEBENGINE_DISABLE_SANDBOX"
BLOCKED_TARGET = "http://blocked.invalid/answers"  # .invalid never resolves (RFC 2606)

_CHROMIUM = r"^\[\d+:\d+:\d+/\d+\.\d+:(?:ERROR|WARNING):[^\]]*"
#: stderr lines that are not the app's: the known noise of a headless machine without GPU,
#: display server or system D-Bus. Each needs a reason; anything else fails the smoke test.
NOISE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), why)
    for pattern, why in (
        (r"^QRhiGles2: Failed to create (temporary )?context$", "no OpenGL: software rendering"),
        (r"^Failed to create RHI for backend: OpenGL$", "no OpenGL: software rendering"),
        (r"^This plugin does not support createPlatformVulkanInstance$", "offscreen: no Vulkan"),
        (r"^QVulkanInstance: Failed to initialize Vulkan$", "no Vulkan driver"),
        (r"^GBM is not supported with the current configuration and Vulkan is not available\."
         r" Fallback to software rendering\.$", "no GPU buffers: software rendering"),
        (r"^GPUInfo not initialized on GpuInfoUpdate$", "Chromium has no GPU to describe"),
        (r"^This plugin does not support propagateSizeHints\(\)$", "offscreen platform plugin"),
        (_CHROMIUM + r"dbus/bus\.cc:\d+\] Failed to connect to the bus: ",
         "containers and CI runners have no system D-Bus (Chromium asks it for power state)"),
        (r"^Release of profile requested but WebEnginePage still not deleted\. Expect troubles !$",
         "Qt's shutdown order message; the app deletes pages first, Qt still prints it"),
        (_CHROMIUM + r"interface_endpoint_client\.cc:\d+\] Message \d+ rejected by interface"
         r" blink\.mojom\.Widget$",
         "a page torn down mid-navigation (the blocked page replacing a refused redirect) drops"
         " its pending widget messages; seen on the offscreen platform"),
    )
)
#: Extra noise expected only when the caller switched the sandbox off (root in CI containers).
SANDBOX_OFF_NOISE: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), why)
    for pattern, why in (
        (r"^Sandboxing disabled by user\.$", "Qt confirms QTWEBENGINE_DISABLE_SANDBOX=1"),
        (_CHROMIUM + r"zygote_communication_linux\.cc:\d+\] Failed to send GetTerminationStatus"
         r" message to zygote$", "without the sandbox the zygote exits before the browser asks"),
    )
)


class SmokeError(Exception):
    """The app failed the smoke test; the message says which check and shows the evidence."""


class Prefix(str):
    """An expected event field that only has to start with this text."""

    __slots__ = ()


#: Expected only in the TLS phase: Chromium logs the refused handshake itself (-202 is
#: ERR_CERT_AUTHORITY_INVALID, the self-signed certificate).
TLS_NOISE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(_CHROMIUM + r"ssl_client_socket_impl\.cc:\d+\] handshake failed; returned -1,"
                r" SSL error code 1, net_error -202$"), "the refused self-signed certificate"),
    # Seen intermittently from the sandboxed renderer showing the certificate error: it
    # initialises fontconfig, which cannot read /etc/fonts inside the seccomp sandbox. Text still
    # renders (fonts reach renderers through the browser process).
    (re.compile(r"^Fontconfig error: Cannot load default config file: No such file: \(null\)$"),
     "fontconfig inside the sandboxed renderer of the error page"),
)


#: Expected only from a debug build (``LOCKDOWN_BUILD_DEBUG=1``): PyInstaller's bootloader log.
DEBUG_BUILD_NOISE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^\[PYI-\d+:(DEBUG|INFO|WARNING)\] "), "bootloader messages of a debug build"),
)


def unexpected_lines(lines: Iterable[str], sandbox_off: bool = False,
                     extra: Sequence[tuple[re.Pattern[str], str]] = ()) -> list[str]:
    """The stderr lines that are neither JSON log events nor allow-listed noise."""
    debug = DEBUG_BUILD_NOISE if os.environ.get("LOCKDOWN_BUILD_DEBUG") == "1" else ()
    allowed = NOISE + (SANDBOX_OFF_NOISE if sandbox_off else ()) + debug + tuple(extra)
    return [line for line in lines
            if line.strip() and not any(pattern.search(line) for pattern, _ in allowed)]


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


@dataclass
class AppRun:
    """A started app: its JSON events and other stderr lines, collected by a reader thread."""

    proc: subprocess.Popen[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)
    eof: bool = False  # the reader saw the end of stderr: every line is in

    def start_reader(self) -> threading.Thread:
        thread = threading.Thread(target=self._read, name="smoke-stderr", daemon=True)
        thread.start()
        return thread

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            line = raw.rstrip("\r\n")
            try:
                parsed = json.loads(line)
            except json.JSONDecodeError:
                parsed = None
            with self.cond:
                if isinstance(parsed, dict) and "event" in parsed:
                    self.events.append(parsed)
                else:
                    self.other.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def find(self, name: str, **fields: object) -> dict[str, Any] | None:
        """The first event called ``name`` whose fields equal these (or start with a Prefix)."""

        def matches(actual: object, expected: object) -> bool:
            if isinstance(expected, Prefix):
                return isinstance(actual, str) and actual.startswith(expected)
            return actual == expected

        with self.cond:
            return next((e for e in self.events if e.get("event") == name
                         and all(matches(e.get(k), v) for k, v in fields.items())), None)

    def wait_event(self, name: str, timeout: float, **fields: object) -> dict[str, Any]:
        with self.cond:
            self.cond.wait_for(lambda: self.find(name, **fields) is not None or self.eof,
                               timeout=timeout)
        found = self.find(name, **fields)
        if found is None:
            raise SmokeError(f"no {name} event {fields or ''} within {timeout:.0f} s"
                             f" (exit status {self.proc.poll()})\n{self.tail()}")
        return found

    def tail(self) -> str:
        with self.cond:
            events = [json.dumps(e)[:300] for e in self.events[-12:]]
            other = self.other[-12:]
        return "last events:\n  " + "\n  ".join(events) + "\nlast other stderr:\n  " + \
            "\n  ".join(other)

    def tree(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.proc.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []


def listening_ports(processes: Iterable[psutil.Process]) -> list[tuple[int, str, int]]:
    """(pid, name, port) of every listening TCP socket of these processes."""
    found = []
    for proc in processes:
        try:
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append((proc.pid, proc.name(), int(getattr(conn.laddr, "port", 0))))
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def sandbox_problems(processes: Sequence[psutil.Process],
                     readlink: Callable[[str], str] = os.readlink) -> list[str]:
    """Linux: why the Chromium sandbox is not on (empty when it is).

    Chromium forks renderers from its sandboxed zygote (they keep the zygote's command line,
    ``--type=zygote`` without ``--no-zygote-sandbox``); that zygote and everything it forks live
    in new user and PID namespaces. A sandboxed zygote sharing the browser's user namespace, no
    such zygote at all, or any process started with ``--no-sandbox`` means no sandbox.
    """
    if not processes:
        return ["the app is not running"]
    browser = processes[0]
    sandboxed: list[psutil.Process] = []
    problems: list[str] = []
    for proc in processes[1:]:
        try:
            cmdline = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if "--no-sandbox" in cmdline:
            problems.append(f"pid {proc.pid} runs with --no-sandbox")
        if "--type=zygote" in cmdline and "--no-zygote-sandbox" not in cmdline:
            sandboxed.append(proc)
    if not sandboxed:
        problems.append("no sandboxed zygote process found")

    def namespace(pid: int) -> str:
        return readlink(f"/proc/{pid}/ns/user")

    for proc in sandboxed:
        try:
            if namespace(proc.pid) == namespace(browser.pid):
                problems.append(f"zygote/renderer {proc.pid} shares the browser's user namespace")
        except OSError as exc:
            problems.append(f"cannot read the namespace of {proc.pid}: {exc}")
    return problems


@dataclass(frozen=True)
class Setup:
    """Where one app run keeps its files, and the environment the app gets."""

    base: Path
    config: Path
    env: dict[str, str]
    data_root: Path
    sandbox_off: bool


def prepare(base: Path, policy: Mapping[str, object], run_as_uid: int | None) -> Setup:
    home = base / "home"
    runtime = base / "runtime"
    base.mkdir(mode=0o700)
    for folder in (home, runtime):
        folder.mkdir(mode=0o700)
    config = base / "policy.json"
    config.write_text(json.dumps(policy), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKDOWN_")}
    env[ENV_ATTACK[0]] = ENV_ATTACK[1]
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
    argv = [*resolve(command), "--config", str(setup.config), "--log-format", "json", ARG_ATTACK]
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


def check(condition: bool, message: Callable[[], str]) -> None:
    if not condition:
        raise SmokeError(message())


Say = Callable[[str], None]
#: What a phase checks while the app runs (before SIGTERM); returns figures to report.
Checks = Callable[[AppRun, Setup, Say], dict[str, float]]


def run_phase(name: str, command: Sequence[str], *, policy: Mapping[str, object], base: Path,
              run_as_uid: int | None, checks: Checks, say: Say,
              noise: Sequence[tuple[re.Pattern[str], str]] = ()) -> dict[str, float]:
    """Start the app on ``policy``, run ``checks``, end it with SIGTERM, check exit and stderr."""
    setup = prepare(base, policy, run_as_uid)
    run = start(command, setup, run_as_uid)
    reader = run.start_reader()
    try:
        figures = checks(run, setup, lambda text: say(f"{name}: {text}"))
        stop(run)
        try:
            code = run.proc.wait(timeout=EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise SmokeError(f"{name}: no exit within {EXIT_TIMEOUT:.0f} s of SIGTERM"
                             f"\n{run.tail()}") from None
        check(code == 0, lambda: f"{name}: exit status {code} after SIGTERM\n{run.tail()}")
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
    say(f"{name}: ok: SIGTERM -> exit 0; stderr clean ({len(events)} log events,"
        f" {len(other)} allow-listed noise lines)")
    return figures


def exam_checks(site: DemoSite, load_timeout: float) -> Checks:
    """The demo exam loads; DevTools attacks are refused; sandbox on; per-user data."""

    def checks(run: AppRun, setup: Setup, say: Say) -> dict[str, float]:
        started = time.monotonic()
        run.wait_event("page.loaded", load_timeout, url=site.start_url)
        loaded = time.monotonic() - started
        say(f"ok: page.loaded after {loaded:.1f} s")
        run.wait_event("security.env_removed", 1, variable=ENV_ATTACK[0])
        run.wait_event("security.arg_removed", 1, argument=ARG_ATTACK)
        processes = run.tree()
        ports = listening_ports(processes)
        check(not ports, lambda: f"the app listens on TCP ports (pid, name, port): {ports}")
        say(f"ok: devtools env/argv refused, no listening port in {len(processes)} processes")
        if setup.sandbox_off:
            run.wait_event("security.sandbox_disabled", 5)
            say(f"note: sandbox off by {SANDBOX_OFF}=1 (set by the caller, logged by the app)")
        elif sys.platform.startswith("linux"):
            problems = sandbox_problems(processes)
            check(not problems, lambda: "Chromium sandbox is not on: " + "; ".join(problems))
            check(run.find("security.sandbox_disabled") is None,
                  lambda: "the app reports the sandbox disabled")
            say("ok: zygote and renderers in their own user namespace (Chromium sandbox on)")
        profile = setup.data_root / "profile"
        check(profile.is_dir(), lambda: f"no per-user profile at {profile}")
        say(f"ok: per-user data under {setup.data_root}")
        return {"load_s": loaded}

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


def run_smoke(command: Sequence[str], *, run_as_uid: int | None = None,
              install_dir: Path | None = None, load_timeout: float = LOAD_TIMEOUT,
              say: Say = print) -> dict[str, float]:
    """Run every check; return figures. Raises :class:`SmokeError` on the first failure."""
    if not command:
        raise SmokeError("no app command given (e.g. '-- dist/lockdown/lockdown')")
    before = snapshot(install_dir) if install_dir is not None else None
    with tempfile.TemporaryDirectory(prefix="lockdown-smoke-") as tmp:
        base = Path(tmp)
        if run_as_uid is not None:
            base.chmod(0o755)  # the app's user must reach its own folders below
        # The identity provider shares 127.0.0.1 (macOS routes only that address by default);
        # the smoke test never logs in.
        with DemoSite(idp_host="127.0.0.1", test_routes=True) as site:
            figures = run_phase("exam", command, policy=policy_for(site), base=base / "exam",
                                run_as_uid=run_as_uid, checks=exam_checks(site, load_timeout),
                                say=say)
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
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-test an app command (see module doc).")
    parser.add_argument("--run-as-uid", type=int, metavar="UID",
                        help="run the app as this user (POSIX, needs root): sandbox stays on")
    parser.add_argument("--install-dir", type=Path, metavar="DIR",
                        help="fail if the app writes anything below DIR")
    parser.add_argument("--load-timeout", type=float, default=LOAD_TIMEOUT)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- APP COMMAND...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    try:
        timings = run_smoke(command, run_as_uid=args.run_as_uid, install_dir=args.install_dir,
                            load_timeout=args.load_timeout)
    except SmokeError as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"smoke: passed ({' '.join(command)}; start to page loaded {timings['load_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

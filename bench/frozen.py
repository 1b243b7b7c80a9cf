"""Frozen build vs source vs bare QWebEngineView: start-up and PSS, same probe, same run.

    python bench/frozen.py [-n RUNS] [--frozen dist/lockdown/lockdown]

Uses ``../shared/bench/startup_probe.py`` (time from spawn to the first page's load beacon, then
the PSS of the whole process tree) on three commands, interleaved in one run so the machine's
load affects them alike, and reports the frozen build's size. Build the app first
(``installers/build --no-installer``). Writes ``bench/results/frozen.md`` and prints it.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402 - bench/run.py: the shared probe wrapper
    SHARED,
    interleaved,
    medians,
    paired_ratios,
    ratio_text,
)

DEFAULT_FROZEN = ROOT / "dist" / "lockdown" / ("lockdown.exe" if os.name == "nt" else "lockdown")


class _Beacon(http.server.BaseHTTPRequestHandler):
    """A page whose onload calls back, as the shared probe serves it."""

    loaded = threading.Event()
    PAGE = (b"<!doctype html><title>probe</title><h1>Exam start page</h1><script>"
            b"addEventListener('load', () => { new Image().src = '/loaded'; });</script>")

    def do_GET(self) -> None:
        if self.path.startswith("/loaded"):
            _Beacon.loaded.set()
            self.send_response(204)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.PAGE)))
        self.end_headers()
        self.wfile.write(self.PAGE)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def _rollup_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
        for line in rollup:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def private_memory(command: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median (anonymous, RSS) in MiB of the process tree after the first page loaded (Linux).

    PSS (and USS) split a library's pages among every process on the machine that maps the same
    file, so the venv's Qt, also mapped by other Qt programs running meanwhile (here: the other
    engineers' test runs), looks cheaper than the frozen build's private copy of the same
    library. Anonymous memory (heaps, JS, caches) and RSS do not depend on other programs.
    """
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Beacon)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    anon: list[float] = []
    rss: list[float] = []
    try:
        for _ in range(runs):
            _Beacon.loaded.clear()
            proc = subprocess.Popen([c.replace("{url}", url) for c in command], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
            if _Beacon.loaded.wait(60):
                time.sleep(3.0)  # the probe's settle time, so the figures are comparable
                root = psutil.Process(proc.pid)
                pids = [p.pid for p in (root, *root.children(recursive=True))]
                anon.append(sum(_rollup_kib(pid, "Anonymous") for pid in pids) / 1024)
                rss.append(sum(_rollup_kib(pid, "Rss") for pid in pids) / 1024)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        server.shutdown()
        server.server_close()
    if not anon:
        raise SystemExit(f"no run of {command} loaded the page")
    return statistics.median(anon), statistics.median(rss)


def venv_qt_users() -> int:
    """How many processes map the venv's QtWebEngineCore right now (they skew PSS)."""
    import PySide6

    library = str(Path(PySide6.__file__).parent / "Qt" / "lib" / "libQt6WebEngineCore")
    count = 0
    for proc in psutil.process_iter():
        try:
            if any(library in m.path for m in proc.memory_maps(grouped=True)):
                count += 1
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return count


def folder_mib(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("-n", type=int, default=7, help="start-up runs per command")
    parser.add_argument("--frozen", type=Path, default=DEFAULT_FROZEN,
                        help="the frozen executable (default: dist/lockdown/lockdown)")
    args = parser.parse_args()
    if not args.frozen.is_file():
        raise SystemExit(f"no frozen build at {args.frozen}: run installers/build first")
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    commands = {
        "bare QWebEngineView": [sys.executable, str(SHARED / "bare_webengine.py"), "{url}"],
        "lockdown (source)": [sys.executable, "-m", "lockdown", "--start-url", "{url}"],
        "lockdown (frozen)": [str(args.frozen.resolve()), "--start-url", "{url}"],
    }
    mapped_elsewhere = venv_qt_users()
    with tempfile.TemporaryDirectory() as data:
        env["LOCKDOWN_DATA_DIR"] = data
        runs = dict(zip(commands, interleaved(list(commands.values()), args.n, env), strict=True))
        private = {name: private_memory(command, env, 3) for name, command in commands.items()}
    bare = runs["bare QWebEngineView"]
    frozen_dir = args.frozen.resolve().parent
    lines = [
        f"# Frozen build benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores,"
        f" QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']}, sandbox"
        f" {'off' if env.get('QTWEBENGINE_DISABLE_SANDBOX') == '1' else 'on'})",
        "",
        f"Frozen build: {folder_mib(frozen_dir):.0f} MiB in {frozen_dir}",
        "",
        "| command | start → first page loaded | vs bare | PSS of the process tree | vs bare |",
        "|---|---|---|---|---|",
    ]
    for name, command_runs in runs.items():
        startup, pss = medians(command_runs)
        lines.append(f"| {name} | {startup:.3f} s |"
                     f" {ratio_text(paired_ratios(bare, command_runs, 0))} | {pss:.0f} MiB |"
                     f" {ratio_text(paired_ratios(bare, command_runs, 1))} |")
    lines += [
        "",
        f"Start-up and PSS: ../shared/bench/startup_probe.py, {args.n} runs of each command, one"
        " of each in turn; medians, and \"vs bare\" is the median of the ratios of each run to"
        " the bare run of the same turn (their range in brackets).",
        "",
        "PSS shares a library's pages among all processes on the machine mapping the same file,"
        " so the venv's Qt (also mapped by other Qt programs running meanwhile:"
        f" {mapped_elsewhere} other processes at the start of this run) looks cheaper than the"
        " frozen build's own copy. Memory that does not depend on other programs (median of 3"
        " runs, same settle time):",
        "",
        "| command | anonymous (heaps, JS) | RSS |",
        "|---|---|---|",
        *(f"| {name} | {anon:.0f} MiB | {rss:.0f} MiB |" for name, (anon, rss) in private.items()),
    ]
    report = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "frozen.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()

"""Benchmarks (not tests): start-up and memory vs a bare QWebEngineView, interceptor overhead.

Uses ../shared/bench/startup_probe.py for both commands in the same run, so the figures are ratios
measured on the same machine at the same time. Writes bench/report.md and prints it.

usage: python bench/run.py [-n RUNS] [--loads N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
PROBE_LINE = re.compile(r"startup_median_s=([\d.]+) pss_median_mib=(\d+)")


def probe(command: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    out = subprocess.run(
        [sys.executable, str(SHARED / "startup_probe.py"), "-n", str(runs), "--", *command],
        capture_output=True, text=True, env=env, check=False, timeout=900,
    )
    match = PROBE_LINE.search(out.stdout)
    if not match:
        raise SystemExit(f"probe failed for {command}: {out.stdout}\n{out.stderr[-2000:]}")
    return float(match.group(1)), float(match.group(2))


def interceptor_overhead(loads: int, env: dict[str, str]) -> dict[str, Any]:
    """The figures of bench/interceptor_bench.py: median load times by page, and overheads."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "interceptor_bench.py"),
                          "--loads", str(loads)], capture_output=True, text=True, env=env,
                         check=False, timeout=1800)
    try:
        if out.returncode:  # a crash at exit too: its figures would not be trusted
            raise ValueError(out.returncode)
        figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"interceptor bench failed ({out.returncode}): {out.stdout}\n"
                         f"{out.stderr[-2000:]}") from None
    return figures


Run = tuple[float, float]  # start-up (s), PSS (MiB)


def interleaved(commands: Sequence[list[str]], n: int, env: dict[str, str]) -> list[list[Run]]:
    """``n`` runs of each command, one of each in turn: this VM's speed drifts over seconds to
    minutes, and a slow spell must fall on every command. Each run's ratio to the first
    command's run just before it (:func:`paired_ratios`) cancels the drift out."""
    runs: list[list[Run]] = [[] for _ in commands]
    for _ in range(n):
        for index, command in enumerate(commands):
            runs[index].append(probe(command, 1, env))
    return runs


def medians(runs: list[Run]) -> Run:
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def paired_ratios(bare: list[Run], app: list[Run], measure: int) -> list[float]:
    return [a[measure] / b[measure] for b, a in zip(bare, app, strict=True)]


def ratio_text(pairs: list[float]) -> str:
    """The median ratio, with the range of the single ones."""
    return f"{statistics.median(pairs):.2f} [{min(pairs):.2f}..{max(pairs):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=11, help="start-up runs per command")
    parser.add_argument("--loads", type=int, default=100, help="loads of each page")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as data:
        env["LOCKDOWN_DATA_DIR"] = data
        # The app as shipped, and with its GPU service forced on: like for like with the bare
        # view, which always starts one (lockdown.gpu turns it off where no GPU can help).
        gpu_on = Path(data) / "gpu-on.toml"
        gpu_on.write_text('gpu_acceleration = "on"\n', encoding="utf-8")
        commands = ([sys.executable, str(SHARED / "bare_webengine.py"), "{url}"],
                    [sys.executable, "-m", "lockdown", "--start-url", "{url}"],
                    [sys.executable, "-m", "lockdown", "--config", str(gpu_on),
                     "--start-url", "{url}"])
        runs = interleaved(commands, args.n, env)
    bare, app, app_gpu = (medians(r) for r in runs)
    loads = interceptor_overhead(args.loads, env)
    lines = [
        f"# Benchmark report ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores,"
        f" QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']})",
        "",
        f"Start-up and PSS: {args.n} runs of each command, one of each in turn. Ratio = median"
        " of the ratios of each app run to the bare run just before it (their range in"
        " brackets).",
        "",
        "| measure | bare QWebEngineView | lockdown | ratio | target |",
        "|---|---|---|---|---|",
        f"| start → first page loaded (medians) | {bare[0]:.3f} s | {app[0]:.3f} s |"
        f" {ratio_text(paired_ratios(runs[0], runs[1], 0))} | ≤ 1.15 |",
        f"| PSS of the process tree (medians) | {bare[1]:.0f} MiB | {app[1]:.0f} MiB |"
        f" {ratio_text(paired_ratios(runs[0], runs[1], 1))} | ≤ 1.10 |",
        f"| start → first page loaded, app with gpu_acceleration = \"on\" (like for like)"
        f" | {bare[0]:.3f} s | {app_gpu[0]:.3f} s |"
        f" {ratio_text(paired_ratios(runs[0], runs[2], 0))} | (≤ 1.15) |",
        f"| PSS, app with gpu_acceleration = \"on\" | {bare[1]:.0f} MiB | {app_gpu[1]:.0f} MiB"
        f" | {ratio_text(paired_ratios(runs[0], runs[2], 1))} | (≤ 1.10) |",
        f"| load of a page with 300 sub-resources (median of {args.loads}; overhead = median"
        f" over the plain load of the same round, interquartile range in brackets)"
        f"{'' if loads['fast_path'] else ' — C++ FAST PATH NOT BUILT'}"
        f" | {loads['plain']:.1f} ms | {loads['app']:.1f} ms |"
        f" {loads['app_pct']:+.1f} % [{loads['app_iqr']}] | ≤ +5 % |",
        f"| the same, app without its C++ fast path (Python interceptor alone) |"
        f" {loads['plain']:.1f} ms | {loads['python']:.1f} ms |"
        f" {loads['python_pct']:+.1f} % [{loads['python_iqr']}] | — |",
        f"| the same, through an empty Python interceptor (what Qt and PySide cost any"
        f" interceptor) | {loads['plain']:.1f} ms | {loads['floor']:.1f} ms |"
        f" {loads['floor_pct']:+.1f} % [{loads['floor_iqr']}] | — |",
    ]
    names = ("bare", "lockdown", "lockdown, GPU on")
    lines += ["", "Start-up of each run, in order (s):", ""]
    lines += [f"- {name}: {' '.join(f'{r[0]:.3f}' for r in run)}"
              for name, run in zip(names, runs, strict=True)]
    report = "\n".join(lines) + "\n"
    (ROOT / "bench" / "report.md").write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()

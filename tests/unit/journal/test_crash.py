"""SIGKILL at random points: every value whose record() returned is there after a restart."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from lockdown.journal.sender import Sender
from lockdown.journal.store import Journal
from tests.unit.journal.conftest import KEY
from tests.unit.journal.fakes import FakeMoodle

ROOT = Path(__file__).resolve().parents[3]
FAST_RUNS = 12
SOAK_RUNS = 60


def run_and_kill(
    path: Path, rng: random.Random, page: str, origin: str = "https://moodle.test"
) -> dict[int, int]:
    """Start the recorder, SIGKILL it after a random number of confirmed values."""
    kill_after = rng.choice([0, 1, 2, rng.randint(3, 40), rng.randint(40, 300)])
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.unit.journal.crash_child", str(path), "400", page, origin],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert child.stdout is not None
    confirmed: dict[int, int] = {}
    try:
        ready = child.stdout.readline()
        assert ready.strip() == "ready", ready
        while len(confirmed) < kill_after:
            line = child.stdout.readline()
            if not line:
                break
            seq, length = line.split()
            confirmed[int(seq)] = int(length)
    finally:
        child.send_signal(signal.SIGKILL)  # wherever the child is: mid-insert, mid-commit...
        child.wait(30)
        child.stdout.close()
    return confirmed


def check_after_restart(path: Path, page: str, confirmed: dict[int, int]) -> None:
    journal = Journal(path, KEY)
    try:
        assert journal.notices == [], [n.message for n in journal.notices]
        entries = {e.counter: e for e in journal.entries() if e.extras().get("page") == page}
        for seq, length in confirmed.items():
            assert seq in entries, f"value {seq} was confirmed durable but is missing"
            assert len(entries[seq].value) == length
            assert entries[seq].value.startswith(f"answer {seq} ")
        assert journal.pending_count() <= 25  # latest value per key only
    finally:
        journal.close()


def crash_runs(tmp_path: Path, runs: int, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "data" / "journal.sqlite3"
    for run in range(runs):
        if run % 4 == 3:  # sometimes start again from an empty folder (crash during creation)
            for leftover in path.parent.iterdir():
                leftover.unlink()
        page = f"crash-{run}"
        check_after_restart(path, page, run_and_kill(path, rng, page))


def test_sigkill_never_loses_a_confirmed_value(tmp_path: Path) -> None:
    crash_runs(tmp_path, FAST_RUNS, seed=20240611)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_after_a_crash_every_confirmed_answer_reaches_the_server(
    tmp_path: Path, moodle: FakeMoodle, seed: int
) -> None:
    path = tmp_path / "data" / "journal.sqlite3"
    confirmed = run_and_kill(path, random.Random(seed), "crash", moodle.origin)
    journal = Journal(path, KEY)  # the restarted app
    try:
        with requests.Session() as session:
            session.trust_env = False
            sender = Sender(journal, lambda url: {"MoodleSession": "sess1"}, session=session)
            result = sender.deliver_once()  # earlier-session values go at once, no grace
        assert not result.failed and journal.pending() == []
    finally:
        journal.close()
    latest: dict[str, int] = {}
    for seq in sorted(confirmed):
        latest[f"cmi.interactions.{seq % 25}.learner_response"] = seq
    for key, seq in latest.items():
        value = moodle.value(key)
        assert value is not None, f"{key} never reached the server"
        # the confirmed value, or a newer one the child recorded just before the kill
        assert int(value.split()[1]) >= seq


@pytest.mark.soak
@pytest.mark.skipif(
    os.environ.get("LOCKDOWN_SOAK") != "1", reason="set LOCKDOWN_SOAK=1 for the soak"
)
def test_sigkill_soak(tmp_path: Path) -> None:
    crash_runs(tmp_path, SOAK_RUNS, seed=int(os.environ.get("LOCKDOWN_SOAK_SEED", "7")))

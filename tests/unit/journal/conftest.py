"""Fixtures for the journal tests: a key, a journal on tmp_path, a settable clock, fake servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lockdown.journal.store import Journal, SaveContext
from tests.unit.journal.fakes import FakeMoodle, FakeNumbas, running

KEY = bytes(range(32))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "soak: long crash-consistency runs (LOCKDOWN_SOAK=1 to run them)"
    )


class Clock:
    """A wall clock the test moves by hand (journal ``recorded_at``, sender grace periods)."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.sqlite3"


@pytest.fixture
def journal(journal_path: Path, clock: Clock) -> Iterator[Journal]:
    opened = Journal(journal_path, KEY, clock=clock)
    yield opened
    opened.close()


@pytest.fixture
def moodle() -> Iterator[FakeMoodle]:
    fake = FakeMoodle()
    with running(fake):
        yield fake


@pytest.fixture
def numbas() -> Iterator[FakeNumbas]:
    fake = FakeNumbas()
    with running(fake):
        yield fake


def moodle_context(origin: str, *, api: str = "scorm2004", sesskey: str = "sk1") -> SaveContext:
    return SaveContext(
        origin=origin,
        attempt="moodle-scorm:5:2:1",
        adapter="moodle-scorm",
        endpoint=f"{origin}/mod/scorm/datamodel.php",
        params={"id": "5", "a": "1", "sesskey": sesskey, "attempt": "1", "scoid": "2"},
        page_url=f"{origin}/mod/scorm/player.php?a=1&scoid=2",
        api=api,
    )


def numbas_context(origin: str, pk: str = "7") -> SaveContext:
    return SaveContext(
        origin=origin,
        attempt=f"numbas-lti:{pk}",
        adapter="numbas-lti",
        endpoint=f"{origin}/attempt/{pk}/scorm_data_fallback",
        params={},
        page_url=f"{origin}/run_attempt/{pk}",
        api="scorm2004",
    )

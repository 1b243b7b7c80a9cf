"""The page-side hook's contract, run under Node in simulated windows (hook_harness.js).

The real engine test (QtWebEngine, injected at DocumentCreation) belongs to the integration tier;
here every behaviour the hook promises the page and the journal is checked quickly and directly.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lockdown.journal.capture import MESSAGE_TYPES

HARNESS = Path(__file__).with_name("hook_harness.js")
SCENARIOS = re.findall(r"^  ([a-z0-9_]+)\((?:ctx)?\) \{$", HARNESS.read_text(), re.MULTILINE)
NODE = shutil.which("node") or shutil.which("nodejs")

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is needed to run the hook harness")


@pytest.fixture(scope="module")
def results() -> dict[str, str]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(HARNESS)], capture_output=True, text=True, timeout=120, check=True
    )
    parsed: dict[str, str] = json.loads(done.stdout)
    return parsed


def test_harness_found_its_scenarios() -> None:
    assert len(SCENARIOS) >= 15


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_hook_scenario(results: dict[str, str], scenario: str) -> None:
    assert results.get(scenario) == "ok", results.get(scenario, "scenario did not run")


def test_hook_documents_every_entry_type_it_sends() -> None:
    source = (
        Path(__file__).resolve().parents[3] / "resources" / "js" / "journal_hook.js"
    ).read_text()
    header = source.split("*/", 1)[0]
    sent = set(re.findall(r"base\('([a-z-]+)'\)", source))
    assert sent == MESSAGE_TYPES  # exactly what Capture.handle accepts
    for kind in sent:
        assert f'type: "{kind}"' in header, f"entry type {kind} is not documented at the top"

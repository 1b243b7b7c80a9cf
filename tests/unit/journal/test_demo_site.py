"""End to end without a browser: hook messages -> journal -> sender -> demo site datamodel.php.

The demo site (``lockdown.demo``) imitates Moodle's player globals and save endpoint, including its
faults (offline, dropped connections, "acknowledged then lost"); the Moodle adapter must serve it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from lockdown.demo.moodle import CMID, SCO_ID, SCORM_ID
from lockdown.demo.site import DemoSite, Fault
from lockdown.demo.state import CURRENT_ATTEMPT
from lockdown.journal.capture import Capture
from lockdown.journal.sender import Sender
from lockdown.journal.store import Journal
from tests.unit.journal.conftest import Clock


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite() as running:
        yield running


@pytest.fixture
def browser(site: DemoSite) -> Iterator[requests.Session]:
    """A logged-in student session (what the WebEngine cookie store would hold)."""
    with requests.Session() as session:
        session.trust_env = False
        answer = session.post(
            site.base_url + "login/acs.php",
            data={
                "SAMLResponse": site.make_assertion("student"),
                "RelayState": "/course/view.php?id=2",
            },
            allow_redirects=False,
        )
        assert answer.status_code == 303 and "MoodleSessionTest" in session.cookies
        yield session


class Page:
    """Hook messages from the demo's SCORM player window."""

    def __init__(self, site: DemoSite, sesskey: str, page: str) -> None:
        self.url, self.page = site.exam_url, page
        self.ctx = {
            "endpoint": site.base_url + "mod/scorm/datamodel.php",
            "params": (
                f"id={CMID}&a={SCORM_ID}&sesskey={sesskey}&attempt={CURRENT_ATTEMPT}&scoid={SCO_ID}"
            ),
        }
        self.seq = itertools.count(1)

    def msg(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "page": self.page,
            "seq": next(self.seq),
            "time": 1_700_000_000_000,
            "url": self.url,
            "api": "scorm2004",
            "ctx": self.ctx,
            **fields,
        }


def test_outage_drop_and_lost_save_all_end_on_the_demo_site(
    site: DemoSite, browser: requests.Session, journal: Journal, clock: Clock
) -> None:
    sender = Sender(
        journal,
        lambda url: browser.cookies.get_dict(),
        session=browser,
        clock=clock,
        timeout_s=5.0,
        rng=random.Random(3),
    )
    capture = Capture(journal, on_urgent=sender.nudge)
    page = Page(site, browser.cookies["MoodleSessionTest"], "p1")
    site.set_offline(True)
    for q in range(5):
        capture.handle(page.msg("set", key=f"cmi.interactions.{q}.learner_response", value=f"a{q}"))
    clock.advance(10)
    assert sender.deliver_once().failed and "503" in (sender.state.last_error or "")
    site.set_offline(False)
    site.set_fault(Fault.DROP)
    assert sender.deliver_once().failed
    site.set_fault(None)
    assert sender.deliver_once().acked == 5
    answers = site.answers("student")
    assert all(answers[f"cmi.interactions.{q}.learner_response"] == f"a{q}" for q in range(5))

    # acknowledged, then lost: found when the reloaded player reads the key back
    capture.handle(page.msg("set", key="cmi.interactions.0.learner_response", value="changed"))
    site.set_fault(Fault.LOSE)
    clock.advance(10)
    assert sender.deliver_once().acked == 1
    site.set_fault(None)
    assert site.answers("student")["cmi.interactions.0.learner_response"] == "a0"
    reloaded = Page(site, browser.cookies["MoodleSessionTest"], "p2")
    outcome = capture.handle(
        reloaded.msg("get", key="cmi.interactions.0.learner_response", value="a0")
    )
    assert outcome.urgent
    assert sender.deliver_once().acked == 1
    assert site.answers("student")["cmi.interactions.0.learner_response"] == "changed"
    assert journal.pending() == []

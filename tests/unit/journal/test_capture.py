"""Hook messages become journal entries; untrusted input is refused with a clear message."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from lockdown.journal.capture import Capture
from lockdown.journal.errors import CaptureError
from lockdown.journal.store import Journal

ORIGIN = "https://moodle.test"
PLAYER = f"{ORIGIN}/mod/scorm/player.php?a=1&scoid=2"
CTX = {
    "endpoint": f"{ORIGIN}/mod/scorm/datamodel.php",
    "params": "id=5&a=1&sesskey=sk1&attempt=1&scoid=2",
}
ATTEMPT = "moodle-scorm:5:2:1"
N = "https://numbas.test"
RUN = f"{N}/run_attempt/7"


class Hook:
    """Builds messages the way journal_hook.js does, for one page."""

    def __init__(self, url: str = PLAYER, page: str = "pg1") -> None:
        self.url, self.page, self.seq = url, page, 0

    def msg(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        return {
            "type": kind,
            "page": self.page,
            "seq": self.seq,
            "time": 1_700_000_000_000 + self.seq,
            "url": self.url,
            **fields,
        }

    def set(
        self, key: str, value: str, ctx: dict[str, str] | None = CTX, api: str = "scorm2004"
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"api": api, "key": key, "value": value}
        if ctx is not None:
            fields["ctx"] = ctx
        return self.msg("set", **fields)


@pytest.fixture
def urgent() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def capture(journal: Journal, urgent: list[tuple[str, str]]) -> Capture:
    return Capture(journal, on_urgent=lambda o, a: urgent.append((o, a)))


def test_moodle_set_is_recorded_with_its_save_context(capture: Capture, journal: Journal) -> None:
    hook = Hook()
    outcome = capture.handle(hook.set("cmi.location", "p3"), source_url=PLAYER)
    assert outcome.recorded == 1 and outcome.attempt == ATTEMPT
    (entry,) = journal.pending()
    assert (entry.origin, entry.attempt, entry.key, entry.value) == (
        ORIGIN,
        ATTEMPT,
        "cmi.location",
        "p3",
    )
    assert entry.client_time == pytest.approx(1_700_000_000.001) and entry.counter == 1
    assert entry.source == "scorm2004"
    context = journal.context(ORIGIN, ATTEMPT)
    assert context is not None and context.params["sesskey"] == "sk1" and context.page_url == PLAYER


def test_navigation_requests_are_not_answers(capture: Capture, journal: Journal) -> None:
    assert capture.handle(Hook().set("adl.nav.request", "continue")).recorded == 0
    assert journal.entries() == []


def test_rejected_value_is_withdrawn(capture: Capture, journal: Journal) -> None:
    hook = Hook()
    capture.handle(hook.set("cmi.completion_status", "bogus"))
    capture.handle(hook.msg("rejected", api="scorm2004", ref=hook.seq))
    assert journal.pending() == []


def test_page_save_success_acks_posted_values(
    capture: Capture, journal: Journal, urgent: list[Any]
) -> None:
    hook = Hook()
    capture.handle(hook.set("cmi.location", "p3"))
    capture.handle(hook.set("cmi.suspend_data", "s"))
    body = CTX["params"] + "&cmi__location=p3"
    capture.handle(hook.msg("save-request", endpoint=CTX["endpoint"], body=body))
    outcome = capture.handle(
        hook.msg("save-result", endpoint=CTX["endpoint"], body=body, status=200, response="true\n0")
    )
    assert outcome.acked == 1 and urgent == []
    assert [e.key for e in journal.pending()] == ["cmi.suspend_data"]


@pytest.mark.parametrize(
    ("status", "response"), [(0, ""), (500, "error"), (200, "false\n101"), (200, "")]
)
def test_page_save_failure_is_urgent_and_keeps_values(
    capture: Capture, journal: Journal, urgent: list[Any], status: int, response: str
) -> None:
    hook = Hook()
    capture.handle(hook.set("cmi.location", "p3"))
    body = (
        CTX["params"] + "&cmi__location=p3&cmi__total_time=PT1M"
    )  # total_time: computed by Moodle
    outcome = capture.handle(
        hook.msg(
            "save-result", endpoint=CTX["endpoint"], body=body, status=status, response=response
        )
    )
    assert outcome.urgent and urgent == [(ORIGIN, ATTEMPT)]
    assert {(e.key, e.value) for e in journal.pending()} == {
        ("cmi.location", "p3"),
        ("cmi.total_time", "PT1M"),
    }


def test_values_before_the_endpoint_is_known_are_bound_later(
    capture: Capture, journal: Journal
) -> None:
    hook = Hook(url=f"{ORIGIN}/mod/scorm/player.php")
    capture.handle(hook.set("cmi.location", "p1", ctx=None))
    assert journal.pending_count() == 0 and [e.state for e in journal.entries()] == ["local"]
    body = CTX["params"] + "&cmi__location=p1"
    capture.handle(hook.msg("save-request", endpoint="datamodel.php", body=body))  # relative URL
    (entry,) = journal.pending()
    assert entry.attempt == ATTEMPT
    assert journal.context(ORIGIN, ATTEMPT).endpoint == f"{ORIGIN}/mod/scorm/datamodel.php"  # type: ignore[union-attr]


def test_unknown_lms_values_stay_local(capture: Capture, journal: Journal) -> None:
    hook = Hook(url="https://other.test/course/player")
    capture.handle(hook.set("cmi.location", "p1", ctx=None))
    assert journal.pending_count() == 0
    assert [(e.state, e.value) for e in journal.unsent()] == [("local", "p1")]


def test_new_sesskey_replaces_the_old_context(capture: Capture, journal: Journal) -> None:
    capture.handle(Hook().set("cmi.location", "p1"))
    fresh = {**CTX, "params": CTX["params"].replace("sk1", "sk2")}
    capture.handle(Hook(page="pg2").set("cmi.location", "p2", ctx=fresh))
    assert journal.context(ORIGIN, ATTEMPT).params["sesskey"] == "sk2"  # type: ignore[union-attr]


def test_get_spots_a_server_that_lost_an_acknowledged_value(
    capture: Capture, journal: Journal, urgent: list[Any]
) -> None:
    first = Hook(page="before")
    capture.handle(first.set("cmi.location", "p1"))
    capture.handle(first.set("cmi.location", "p2"))
    journal.mark_acked([e.id for e in journal.pending()])
    after = Hook(page="after-reload")
    # the reloaded page shows the previous value: the server lost p2
    outcome = capture.handle(
        after.msg("get", api="scorm2004", key="cmi.location", value="p1", ctx=CTX)
    )
    assert outcome.urgent and [e.value for e in journal.pending()] == ["p2"]


def test_get_with_a_value_from_elsewhere_changes_nothing(
    capture: Capture, journal: Journal
) -> None:
    hook = Hook()
    capture.handle(hook.set("cmi.location", "p1"))
    journal.mark_acked([e.id for e in journal.pending()])
    outcome = capture.handle(
        Hook(page="x").msg("get", api="scorm2004", key="cmi.location", value="staff", ctx=CTX)
    )
    assert not outcome.urgent and journal.pending() == []


def storage_value(batches: dict[str, list[dict[str, Any]]]) -> str:
    return json.dumps({"sent": batches, "current": {}, "save_time": 0})


def item(key: str, value: str, t: float, counter: int) -> dict[str, Any]:
    return {"key": key, "value": value, "time": t, "counter": counter}


def test_numbas_setvalue_then_storage_adopts_provider_time_and_counter(
    capture: Capture, journal: Journal
) -> None:
    hook = Hook(url=RUN)
    capture.handle(hook.set("cmi.suspend_data", "s1", ctx=None))
    (entry,) = journal.pending()
    assert entry.attempt == "numbas-lti:7"
    assert journal.context(N, "numbas-lti:7").endpoint == f"{N}/attempt/7/scorm_data_fallback"  # type: ignore[union-attr]
    snapshot = storage_value({"1700000000000": [item("cmi.suspend_data", "s1", 1700000000.5, 3)]})
    capture.handle(hook.msg("storage", key="numbas-lti-attempt-7-scorm-data", value=snapshot))
    (entry,) = journal.pending()
    assert (entry.client_time, entry.counter) == (1700000000.5, 3)
    assert entry.extras()["batch"] == "1700000000000"


def test_numbas_batch_that_disappears_was_confirmed(capture: Capture, journal: Journal) -> None:
    hook = Hook(url=RUN)
    key = "numbas-lti-attempt-7-scorm-data"
    batch = {"b1": [item("cmi.location", "2", 1.0, 0), item("cmi.suspend_data", "x", 1.0, 1)]}
    assert capture.handle(hook.msg("storage", key=key, value=storage_value(batch))).recorded == 2
    assert journal.pending_count() == 2
    outcome = capture.handle(hook.msg("storage", key=key, value=storage_value({})))
    assert outcome.acked == 2 and journal.pending() == []


def test_numbas_batches_missing_after_a_reload_are_not_acknowledged(
    capture: Capture, journal: Journal
) -> None:
    """Chromium may not have written localStorage before a crash: absence is not confirmation."""
    key = "numbas-lti-attempt-7-scorm-data"
    batch = {"b1": [item("cmi.location", "2", 1.0, 0)]}
    capture.handle(Hook(url=RUN, page="before").msg("storage", key=key, value=storage_value(batch)))
    capture.handle(Hook(url=RUN, page="after").msg("storage", key=key, value=storage_value({})))
    assert journal.pending_count() == 1


def test_older_storage_item_never_beats_a_newer_value(capture: Capture, journal: Journal) -> None:
    hook = Hook(url=RUN)
    capture.handle(hook.set("cmi.location", "new", ctx=None))
    old = storage_value({"b": [item("cmi.location", "old", 1.0, 0)]})
    capture.handle(hook.msg("storage", key="numbas-lti-attempt-7-scorm-data", value=old))
    assert [e.value for e in journal.pending()] == ["new"]


def test_fetch_to_fallback_url_sets_exact_context(capture: Capture, journal: Journal) -> None:
    hook = Hook(url=RUN)
    endpoint = f"{N}/attempt/7/scorm_data_fallback?lti=abc"
    capture.handle(hook.msg("save-context", endpoint=endpoint))
    capture.handle(hook.set("cmi.location", "1", ctx=None))
    assert journal.context(N, "numbas-lti:7").endpoint == endpoint  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("not a dict", "must be an object"),
        ({"type": "explode"}, "Unknown journal hook message type"),
        ({"type": "set", "url": "file:///etc/passwd", "page": "p"}, "non-web page"),
        ({"type": "set", "url": PLAYER, "page": ""}, "no page id"),
        (
            {
                "type": "set",
                "url": PLAYER,
                "page": "p",
                "api": "scorm2004",
                "key": 5,
                "value": "v",
                "seq": 1,
                "time": 1,
            },
            "'key' must be a string",
        ),
        (
            {
                "type": "set",
                "url": PLAYER,
                "page": "p",
                "api": "aicc",
                "key": "k",
                "value": "v",
                "seq": 1,
                "time": 1,
            },
            "Unknown SCORM API",
        ),
        (
            {
                "type": "set",
                "url": PLAYER,
                "page": "p",
                "api": "scorm2004",
                "key": "cmi.k",
                "value": "v",
                "seq": -1,
                "time": 1,
            },
            "whole number",
        ),
        (
            {
                "type": "set",
                "url": PLAYER,
                "page": "p",
                "api": "scorm2004",
                "key": "cmi.k",
                "value": "v",
                "seq": 1,
                "time": "x",
            },
            "'time' must be a number",
        ),
        (
            {
                "type": "storage",
                "url": RUN,
                "page": "p",
                "key": "other-key",
                "value": "{}",
                "seq": 1,
                "time": 1,
            },
            "only mirrors",
        ),
        (
            {
                "type": "storage",
                "url": RUN,
                "page": "p",
                "key": "numbas-lti-attempt-7-scorm-data",
                "value": "{",
                "seq": 1,
                "time": 1,
            },
            "not JSON",
        ),
        (
            {
                "type": "storage",
                "url": RUN,
                "page": "p",
                "key": "numbas-lti-attempt-7-scorm-data",
                "value": '{"sent": {"b": [{"key": 1}]}}',
                "seq": 1,
                "time": 1,
            },
            "lacks key/value",
        ),
    ],
)
def test_malformed_messages_are_refused(
    capture: Capture, journal: Journal, message: object, error: str
) -> None:
    with pytest.raises(CaptureError, match=error):
        capture.handle(message)
    assert journal.entries() == []


def test_cross_origin_endpoint_is_never_used_but_the_value_is_kept(
    capture: Capture, journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    evil = {"endpoint": "https://evil.test/mod/scorm/datamodel.php", "params": CTX["params"]}
    with caplog.at_level(logging.WARNING, logger="lockdown.journal"):
        capture.handle(Hook().set("cmi.location", "p", ctx=evil))
    assert journal.contexts() == [] and journal.pending_count() == 0
    assert [(e.state, e.value) for e in journal.unsent()] == [("local", "p")]
    assert "another origin" in caplog.text


def test_message_naming_another_origin_than_its_frame_is_refused(
    capture: Capture, journal: Journal
) -> None:
    with pytest.raises(CaptureError, match="another origin than its frame"):
        capture.handle(Hook().set("cmi.location", "p"), source_url="https://other.test/")
    assert journal.entries() == []


def test_default_ports_and_user_info_do_not_change_the_origin(
    capture: Capture, journal: Journal
) -> None:
    ctx = {**CTX, "endpoint": "https://MOODLE.test:443/mod/scorm/datamodel.php"}
    capture.handle(
        Hook(url="https://student@moodle.test/mod/scorm/player.php").set("cmi.x", "1", ctx=ctx)
    )
    assert journal.pending_count() == 1 and journal.context(ORIGIN, ATTEMPT) is not None


def test_lone_surrogates_from_javascript_are_stored_safely(
    capture: Capture, journal: Journal
) -> None:
    capture.handle(Hook().set("cmi.location", "a\ud800b"))
    (entry,) = journal.pending()
    assert entry.value == "a?b"


def test_reopened_attempt_with_a_backlog_is_retried_at_once(
    capture: Capture, journal: Journal, urgent: list[Any]
) -> None:
    capture.handle(Hook(page="before-crash").set("cmi.location", "p1"))
    assert urgent == []
    fresh = {**CTX, "params": CTX["params"].replace("sk1", "sk2")}  # a new login after the crash
    capture.handle(Hook(page="after-restart").msg("commit", api="scorm2004", ctx=fresh))
    assert urgent == [(ORIGIN, ATTEMPT)]
    assert journal.context(ORIGIN, ATTEMPT).params["sesskey"] == "sk2"  # type: ignore[union-attr]


def test_numbas_page_context_names_the_exact_fallback_url(
    capture: Capture, journal: Journal
) -> None:
    hook = Hook(url=RUN)
    ctx = {"endpoint": "/attempt/7/scorm_data_fallback?lti_context=9", "params": ""}
    capture.handle(hook.set("cmi.location", "1", ctx=ctx))
    context = journal.context(N, "numbas-lti:7")
    assert context is not None and context.adapter == "numbas-lti"
    assert context.endpoint == f"{N}/attempt/7/scorm_data_fallback?lti_context=9"
    assert [e.attempt for e in journal.pending()] == ["numbas-lti:7"]

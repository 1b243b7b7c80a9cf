"""Replay adapters speak exactly the LMS's own save protocol."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import pytest

from lockdown.journal.replay import (
    Ack,
    MoodleScormAdapter,
    NumbasLtiAdapter,
    ReplayResponse,
    adapter_for,
    adapters_by_name,
    iso_time,
    moodle_api_of,
    moodle_attempt_id,
    moodle_element_name,
    moodle_key,
    numbas_fallback_url,
    parse_moodle_body,
)
from lockdown.journal.store import Entry
from tests.unit.journal.conftest import moodle_context, numbas_context

ORIGIN = "https://lms.test"


def entry(i: int, key: str, value: str, *, source: str = "scorm2004", extra: str = "{}") -> Entry:
    return Entry(
        i, ORIGIN, "a", key, value, 1700000000.25 + i, i, 0.0, "s", source, extra, "pending"
    )


@pytest.mark.parametrize(
    ("key", "api", "name"),
    [
        ("cmi.location", "scorm2004", "cmi__location"),
        ("cmi.interactions.0.id", "scorm2004", "cmi__interactions__0__id"),
        (
            "cmi.interactions.3.objectives.1.id",
            "scorm2004",
            "cmi__interactions__3__objectives__1__id",
        ),
        ("cmi.core.lesson_location", "scorm12", "cmi__core__lesson_location"),
        ("cmi.interactions.0.id", "scorm12", "cmi__interactions_0__id"),
        (
            "cmi.interactions.12.objectives.1.id",
            "scorm12",
            "cmi__interactions_12__objectives_1__id",
        ),
        ("cmi.objectives.0.score.raw", "scorm12", "cmi__objectives_0__score__raw"),
    ],
)
def test_moodle_element_names_round_trip(key: str, api: str, name: str) -> None:
    assert moodle_element_name(key, api) == name
    assert moodle_key(name) == key


def test_moodle_request_has_moodle_parameter_order_and_encoding() -> None:
    adapter = MoodleScormAdapter()
    context = moodle_context(ORIGIN)
    entries = [entry(1, "cmi.location", "page 2&3"), entry(2, "cmi.suspend_data", "é=✓")]
    request = adapter.build_request(entries, context, {})
    assert request.method == "POST" and request.url == f"{ORIGIN}/mod/scorm/datamodel.php"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Referer"] == context.page_url
    fields = parse_qsl(request.body.decode(), keep_blank_values=True)
    assert [n for n, _ in fields] == [
        "id",
        "a",
        "sesskey",
        "attempt",
        "scoid",
        "cmi__location",
        "cmi__suspend_data",
    ]
    assert (
        dict(fields)["cmi__location"] == "page 2&3" and dict(fields)["cmi__suspend_data"] == "é=✓"
    )
    assert request.entry_ids == (1, 2)
    params, values = parse_moodle_body(request.body.decode())
    assert params == dict(context.params) and values == {
        "cmi.location": "page 2&3",
        "cmi.suspend_data": "é=✓",
    }


def test_moodle_12_entries_use_12_names() -> None:
    request = MoodleScormAdapter().build_request(
        [entry(1, "cmi.interactions.0.student_response", "b", source="scorm12")],
        moodle_context(ORIGIN),
        {},
    )
    assert "cmi__interactions_0__student_response=b" in request.body.decode()
    assert moodle_api_of(request.body.decode()) == "scorm12"
    assert moodle_api_of("id=1&cmi__interactions__0__id=x") == "scorm2004"
    assert moodle_api_of("id=1") == ""


@pytest.mark.parametrize(
    ("status", "text", "ok"),
    [
        (200, "true\n0", True),
        (200, "true\r\n0", True),
        (200, 'true\n0\nadl.nav.request_valid["continue"] = "true";', True),
        (200, "false\n101", False),
        (200, "", False),  # confirm_sesskey() failed
        (200, "<html>login</html>", False),
        (303, "", False),
        (500, "true\n0", False),
    ],
)
def test_moodle_ack_is_only_true_zero(status: int, text: str, ok: bool) -> None:
    adapter = MoodleScormAdapter()
    request = adapter.build_request([entry(1, "cmi.location", "x")], moodle_context(ORIGIN), {})
    ack = adapter.is_ack(ReplayResponse(status, text), request)
    assert bool(ack) is ok
    if not ok:
        assert ack.message


def test_moodle_attempt_ids() -> None:
    assert (
        moodle_attempt_id({"id": "5", "a": "1", "scoid": "2", "attempt": "3"})
        == "moodle-scorm:5:2:3"
    )
    assert (
        moodle_attempt_id({"id": "", "a": "1", "scoid": "2", "attempt": "3"})
        == "moodle-scorm:a1:2:3"
    )
    assert moodle_attempt_id({"id": "5", "scoid": "2"}) is None
    assert moodle_attempt_id({"id": "5;drop", "scoid": "2", "attempt": "1"}) is None


def test_numbas_request_matches_provider_fallback_format() -> None:
    adapter = NumbasLtiAdapter()
    context = numbas_context(ORIGIN)
    entries = [
        entry(
            4, "cmi.suspend_data", "{}", extra=json.dumps({"time_iso": "2023-11-14T22:13:20.250Z"})
        ),
        entry(9, "cmi.location", "2"),
    ]
    request = adapter.build_request(entries, context, {"csrftoken": "tok"})
    assert request.url == f"{ORIGIN}/attempt/7/scorm_data_fallback"
    assert request.headers["X-CSRFToken"] == "tok"
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["complete"] is False
    items = body["batches"][request.batch_id]
    assert items[0] == {
        "key": "cmi.suspend_data",
        "value": "{}",
        "time": 1700000004.25,
        "time_iso": "2023-11-14T22:13:20.250Z",
        "counter": 4,
    }
    assert items[1]["time_iso"] == iso_time(1700000009.25) == "2023-11-14T22:13:29.250Z"


def test_numbas_ack_needs_the_batch_id_and_reports_unsaved() -> None:
    adapter = NumbasLtiAdapter()
    request = adapter.build_request(
        [entry(1, "k1", "v1"), entry(2, "k2", "v2")], numbas_context(ORIGIN), {}
    )
    good = json.dumps({"received_batches": [request.batch_id], "unsaved_elements": []})
    assert adapter.is_ack(ReplayResponse(200, good), request) == Ack(True)
    other = json.dumps({"received_batches": ["123"]})
    assert not adapter.is_ack(ReplayResponse(200, other), request)
    assert not adapter.is_ack(ReplayResponse(200, "<html>"), request)
    assert not adapter.is_ack(ReplayResponse(403, good), request)
    partial = json.dumps(
        {
            "received_batches": [request.batch_id],
            "unsaved_elements": [{"key": "k2", "value": "v2", "counter": 2}],
        }
    )
    ack = adapter.is_ack(ReplayResponse(200, partial), request)
    assert ack and ack.not_saved == {2} and "1 element" in ack.message


def test_numbas_fallback_url_from_attempt_page() -> None:
    assert (
        numbas_fallback_url(f"{ORIGIN}/run_attempt/12")
        == f"{ORIGIN}/attempt/12/scorm_data_fallback"
    )
    assert (
        numbas_fallback_url(f"{ORIGIN}/numbas/run_attempt/12?x=1")
        == f"{ORIGIN}/numbas/attempt/12/scorm_data_fallback"
    )
    assert numbas_fallback_url(f"{ORIGIN}/show_attempts") is None


def test_registry_and_matching() -> None:
    adapters = adapters_by_name()
    assert [a.name for a in adapters] == ["moodle-scorm", "numbas-lti"]
    assert adapter_for(f"{ORIGIN}/moodle/mod/scorm/datamodel.php", adapters).name == "moodle-scorm"  # type: ignore[union-attr]
    assert adapter_for(f"{ORIGIN}/attempt/3/scorm_data_fallback", adapters).name == "numbas-lti"  # type: ignore[union-attr]
    assert adapter_for(f"{ORIGIN}/mod/quiz/attempt.php", adapters) is None
    with pytest.raises(KeyError, match="known: moodle-scorm, numbas-lti"):
        adapters_by_name(["moodle-scorm", "blackboard"])


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://LMS.test/x", "https://lms.test"),
        ("https://lms.test:443/x", "https://lms.test"),
        ("http://lms.test:8080/x", "http://lms.test:8080"),
        ("https://user:pw@lms.test/x", "https://lms.test"),
        ("http://[::1]:8000/x", "http://[::1]:8000"),
        ("https://lms.test:99999/x", ""),
        ("about:blank", ""),
        ("/relative", ""),
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    from lockdown.journal.store import origin_of

    assert origin_of(url) == origin

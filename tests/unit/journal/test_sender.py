"""Store-and-forward against real local HTTP servers that misbehave on purpose."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from lockdown.journal.capture import Capture
from lockdown.journal.replay import moodle_element_name
from lockdown.journal.sender import Backoff, Sender, SenderState
from lockdown.journal.store import Journal, SaveContext
from tests.unit.journal.conftest import KEY, Clock, moodle_context, numbas_context
from tests.unit.journal.fakes import CSRF, MOODLE_SESSION, FakeMoodle, FakeNumbas

ATTEMPT = "moodle-scorm:5:2:1"


def cookie_jar(url: str) -> dict[str, str]:
    name, value = MOODLE_SESSION.split("=")
    return {name: value, "csrftoken": CSRF}


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        opened.trust_env = False  # never route 127.0.0.1 through a proxy from the environment
        yield opened


@pytest.fixture
def states() -> list[SenderState]:
    return []


def make_sender(
    journal: Journal,
    clock: Clock,
    session: requests.Session,
    states: list[SenderState] | None = None,
    **kw: object,
) -> Sender:
    options: dict[str, object] = {
        "session": session,
        "clock": clock,
        "timeout_s": 0.5,
        "grace_s": 10.0,
        "rng": random.Random(1),
        "on_state": (states.append if states is not None else None),
    }
    options.update(kw)
    return Sender(journal, cookie_jar, **options)  # type: ignore[arg-type]


def record(journal: Journal, context: SaveContext, key: str, value: str) -> int:
    return journal.record(
        context.origin,
        context.attempt,
        key,
        value,
        client_time=1,
        source="scorm2004",
        context=context,
    ).id


def test_waits_for_grace_then_delivers_and_acks(
    journal: Journal,
    clock: Clock,
    moodle: FakeMoodle,
    session: requests.Session,
    states: list[SenderState],
) -> None:
    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "p1")
    record(journal, context, "cmi.interactions.0.learner_response", "b")
    sender = make_sender(journal, clock, session, states)
    first = sender.deliver_once()
    assert first.sent == 0 and moodle.seen == []  # the page's own save gets its chance
    assert first.next_delay_s == pytest.approx(5.0)  # poll interval, grace ends later
    clock.advance(10)
    result = sender.deliver_once()
    assert (result.sent, result.acked, result.failed) == (2, 2, False)
    assert moodle.value("cmi.location") == "p1"
    assert moodle.value("cmi.interactions.0.learner_response") == "b"
    assert journal.pending() == [] and sender.state == SenderState(pending=0, online=True)
    assert states[-1].pending == 0
    path, headers, _ = moodle.seen[0]
    assert path == "/mod/scorm/datamodel.php" and headers["Referer"] == context.page_url


def test_values_from_an_earlier_session_are_sent_at_once(
    journal_path: Path, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    before = Journal(journal_path, KEY, clock=clock)
    record(before, moodle_context(moodle.origin), "cmi.location", "before-crash")
    before.close()
    after = Journal(journal_path, KEY, clock=clock)
    try:
        assert make_sender(after, clock, session).deliver_once().acked == 1
        assert moodle.value("cmi.location") == "before-crash"
    finally:
        after.close()


def test_urgent_attempt_is_sent_at_once(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "p1")
    sender = make_sender(journal, clock, session)
    sender.nudge(context.origin, context.attempt)
    assert sender.deliver_once().acked == 1


@pytest.mark.parametrize("failure", ["500", "false", "login", "redirect", "hang"])
def test_failures_back_off_then_deliver_without_loss(  # noqa: PLR0917 - pytest fixtures
    journal: Journal,
    clock: Clock,
    moodle: FakeMoodle,
    session: requests.Session,
    states: list[SenderState],
    failure: str,
) -> None:
    context = moodle_context(moodle.origin)
    for i in range(5):
        record(journal, context, f"cmi.interactions.{i}.learner_response", f"answer {i}")
    clock.advance(10)
    moodle.script.extend([failure] * 3)
    sender = make_sender(journal, clock, session, states, timeout_s=0.2)
    delays = []
    for _ in range(3):
        result = sender.deliver_once()
        assert result.failed and result.acked == 0
        delays.append(result.next_delay_s)
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and 2.0 <= delays[2] <= 4.0
    assert not sender.state.online and sender.state.last_error and sender.state.pending == 5
    assert sender.deliver_once().acked == 5
    assert sender.state == SenderState(pending=0, online=True)
    assert any(not s.online for s in states) and states[-1].online
    for i in range(5):
        assert moodle.value(f"cmi.interactions.{i}.learner_response") == f"answer {i}"


def test_slow_server_is_fine(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "p1")
    clock.advance(10)
    moodle.script.append("slow")
    assert make_sender(journal, clock, session, timeout_s=2.0).deliver_once().acked == 1


def test_lost_answer_after_apply_is_resent_and_not_doubled(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    """The server stores, then the connection drops: the resend duplicates, the effect does not."""
    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "p1")
    record(journal, context, "cmi.suspend_data", "state")
    clock.advance(10)
    moodle.script.append("apply-then-drop")
    sender = make_sender(journal, clock, session)
    assert sender.deliver_once().failed
    assert "cannot be reached" in (sender.state.last_error or "")
    assert sender.deliver_once().acked == 2
    assert moodle.writes.count(("cmi.location", "p1")) == 2  # delivered twice...
    assert moodle.value("cmi.location") == "p1" and len(moodle.tracks) == 2  # ...same effect


def test_server_that_acks_then_loses_is_caught_on_reload(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    capture = Capture(journal)
    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "p1")
    journal.mark_acked([e.id for e in journal.pending()], by_app=False)
    record(journal, context, "cmi.location", "p2")
    clock.advance(10)
    moodle.script.append("ack-then-lose")
    sender = make_sender(journal, clock, session)
    assert sender.deliver_once().acked == 1 and moodle.value("cmi.location") is None
    ctx = {"endpoint": context.endpoint, "params": "id=5&a=1&sesskey=sk1&attempt=1&scoid=2"}
    message = {
        "type": "get",
        "page": "reloaded",
        "seq": 1,
        "time": 0,
        "url": context.page_url,
        "api": "scorm2004",
        "key": "cmi.location",
        "value": "p1",
        "ctx": ctx,
    }
    assert capture.handle(message).urgent  # the page shows p1: the server lost p2
    sender.nudge(context.origin, context.attempt)
    assert sender.deliver_once().acked == 1
    assert moodle.value("cmi.location") == "p2"


def test_resend_racing_the_page_never_leaves_an_older_value(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "p1")
    clock.advance(10)
    moodle.script.append("gated")
    sender = make_sender(journal, clock, session, timeout_s=5.0)
    worker = threading.Thread(target=sender.deliver_once)
    worker.start()
    assert moodle.arrived.wait(5.0)
    # meanwhile the student moves on and the page's own save of p2 succeeds
    record(journal, context, "cmi.location", "p2")
    body = "id=5&a=1&sesskey=sk1&attempt=1&scoid=2&cmi__location=p2"
    page_post = session.post(context.endpoint, data=body, cookies=cookie_jar(""), timeout=5)
    assert page_post.text == "true\n0" and moodle.value("cmi.location") == "p2"
    journal.ack_values(context.origin, context.attempt, {"cmi.location": "p2"})
    moodle.gate.set()  # now the stale resend of p1 lands on the server
    worker.join(5.0)
    assert moodle.value("cmi.location") == "p1"
    assert [e.value for e in journal.pending()] == ["p2"]  # so p2 goes again
    assert sender.deliver_once().acked == 1
    assert moodle.value("cmi.location") == "p2"


def test_network_drop_twenty_answers_arrive_in_order_exactly_once(
    journal: Journal,
    clock: Clock,
    moodle: FakeMoodle,
    session: requests.Session,
    states: list[SenderState],
) -> None:
    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "q0")
    clock.advance(10)
    sender = make_sender(journal, clock, session, states, batch_size=7)
    assert sender.deliver_once().acked == 1
    moodle.stop()  # the site goes away
    expected = {}
    for q in range(1, 21):
        key = f"cmi.interactions.{q}.learner_response"
        record(journal, context, key, f"draft {q}")
        record(journal, context, key, f"final {q}")  # the student changes the answer
        record(journal, context, "cmi.location", f"q{q}")
        expected[key] = f"final {q}"
    expected["cmi.location"] = "q20"
    clock.advance(10)
    for _ in range(3):
        assert sender.deliver_once().failed
    assert sender.state.pending == 21 and not sender.state.online
    moodle.start()  # the site returns on the same address
    result = sender.deliver_once()
    assert (result.failed, result.acked) == (False, 21)
    assert journal.pending() == [] and sender.state == SenderState(pending=0, online=True)
    for key, value in expected.items():
        assert moodle.value(key) == value
    arrived = moodle.writes[1:]
    assert len(arrived) == 21, "each latest value exactly once, no drafts"
    assert [k for k, _ in arrived if k.startswith("cmi.interactions")] == [
        f"cmi.interactions.{q}.learner_response" for q in range(1, 21)
    ]
    assert [s.online for s in states][-1] is True


def test_numbas_replay_uses_csrf_and_is_deduplicated_by_the_provider(
    journal: Journal, clock: Clock, numbas: FakeNumbas, session: requests.Session
) -> None:
    context = numbas_context(numbas.origin)
    journal.set_context(context)
    ids = [
        journal.record(
            context.origin,
            context.attempt,
            "cmi.suspend_data",
            "s1",
            client_time=1700000000.5,
            counter=3,
            extra={"time_iso": "2023-11-14T22:13:20.500Z"},
        ).id,
        journal.record(
            context.origin,
            context.attempt,
            "cmi.location",
            "4",
            client_time=1700000001.0,
            counter=4,
        ).id,
    ]
    clock.advance(10)
    numbas.script.append("apply-then-drop")
    sender = make_sender(journal, clock, session)
    assert sender.deliver_once().failed
    assert sender.deliver_once().acked == 2
    assert numbas.creates == 2  # the replay of identical items created nothing new
    assert numbas.latest("cmi.suspend_data") == "s1"
    assert ("cmi.location", "4", "2023-11-14T22:13:21.000Z", 4) in numbas.items
    assert numbas.seen[-1][1]["X-CSRFToken"] == CSRF
    assert all(journal.latest(context.origin, context.attempt, k) for k in ("cmi.location",))
    assert sorted(ids) == ids


def test_requests_only_go_to_the_attempts_origin_and_allowed_urls(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    good = moodle_context(moodle.origin)
    record(journal, good, "cmi.location", "p1")
    foreign = SaveContext(
        "https://exam.test",
        "moodle-scorm:9:9:9",
        "moodle-scorm",
        f"{moodle.origin}/mod/scorm/datamodel.php",
        {"sesskey": "sk1"},
        "https://exam.test/player",
        "scorm2004",
    )
    journal.record(
        foreign.origin, foreign.attempt, "cmi.location", "x", client_time=1, context=foreign
    )
    clock.advance(10)
    allowed: list[str] = []

    def allow(url: str) -> bool:
        allowed.append(url)
        return True

    sender = make_sender(
        journal,
        clock,
        session,
        allow_url=allow,
        headers=lambda url: {"Authorization": "Basic tok", "User-Agent": "lockdown-test"},
    )
    result = sender.deliver_once()
    assert result.acked == 1 and len(moodle.seen) == 1  # the foreign-origin endpoint was skipped
    assert sender.state.blocked == 1 and sender.state.pending == 1
    assert moodle.seen[0][1]["Authorization"] == "Basic tok"
    assert allowed == [good.endpoint]
    refuse = make_sender(journal, clock, session, allow_url=lambda url: False)
    record(journal, good, "cmi.location", "p2")
    clock.advance(10)
    assert refuse.deliver_once().sent == 0 and refuse.state.blocked == 2


def test_attempts_are_sent_in_journal_order(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    first = moodle_context(moodle.origin)
    second = SaveContext(
        first.origin,
        "moodle-scorm:5:3:1",
        "moodle-scorm",
        first.endpoint,
        {**first.params, "scoid": "3"},
        first.page_url,
        "scorm2004",
    )
    record(journal, second, "cmi.location", "b")
    record(journal, first, "cmi.location", "a")
    clock.advance(10)
    make_sender(journal, clock, session).deliver_once()
    scoids = [body.split("scoid=")[1].split("&")[0] for _, _, body in moodle.seen]
    assert scoids == ["3", "2"]


def test_thread_delivers_when_nudged_and_stops(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    done = threading.Event()

    def watch(state: SenderState) -> None:
        if state.pending == 0 and moodle.value("cmi.location") == "live":
            done.set()

    seen_pending = threading.Event()

    def watch_first(state: SenderState) -> None:
        if state.pending == 1:
            seen_pending.set()
        watch(state)

    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "live")
    sender = Sender(
        journal,
        cookie_jar,
        session=session,
        clock=clock,
        grace_s=3600,
        poll_s=3600,
        on_state=watch_first,
    )
    sender.start()
    try:
        assert seen_pending.wait(10.0)  # first pass: the value is not due yet (grace)
        assert moodle.seen == []
        sender.nudge(context.origin, context.attempt)
        assert done.wait(10.0)
    finally:
        sender.stop()
    assert not sender.is_alive()


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    backoff = Backoff(base_s=1.0, factor=2.0, cap_s=60.0)
    rng = random.Random(7)
    assert backoff.delay(0, rng) == 0.0
    for failures in range(1, 12):
        ceiling = min(60.0, 2.0 ** (failures - 1))
        samples = [backoff.delay(failures, rng) for _ in range(50)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1  # jitter spreads clients out


def test_element_names_reach_moodle_in_its_own_form(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    context = moodle_context(moodle.origin, api="scorm12")
    journal.record(
        context.origin,
        context.attempt,
        "cmi.interactions.0.student_response",
        "c",
        client_time=1,
        source="scorm12",
        context=context,
    )
    clock.advance(10)
    make_sender(journal, clock, session).deliver_once()
    assert (
        moodle_element_name("cmi.interactions.0.student_response", "scorm12") in moodle.seen[0][2]
    )
    assert moodle.value("cmi.interactions_0.student_response") == "c"


def test_quit_sends_everything_now_and_banner_knows_the_oldest_wait(
    journal: Journal, clock: Clock, moodle: FakeMoodle, session: requests.Session
) -> None:
    context = moodle_context(moodle.origin)
    record(journal, context, "cmi.location", "p1")
    clock.advance(3)
    record(journal, context, "cmi.suspend_data", "s")
    sender = make_sender(journal, clock, session)
    assert sender.deliver_once().sent == 0  # within the grace time
    assert sender.state.pending == 2
    assert sender.state.oldest_pending_at == clock.now - 3
    sender.nudge(everything=True)  # the student asked to quit
    assert sender.deliver_once().acked == 2
    assert sender.state == SenderState(pending=0, online=True, oldest_pending_at=None)

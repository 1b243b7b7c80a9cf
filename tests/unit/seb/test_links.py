"""seb:// and sebs:// links, including the Numbas provider's ``??query`` form."""

from __future__ import annotations

import pytest

from lockdown.policy.seb.links import (
    SebLinkError,
    append_start_url_query,
    parse_seb_link,
    seb_link_to_http,
)


@pytest.mark.parametrize(
    ("link", "url"),
    [
        (
            "sebs://moodle.example.org/mod/quiz/accessrule/seb/config.php?cmid=42",
            "https://moodle.example.org/mod/quiz/accessrule/seb/config.php?cmid=42",
        ),
        (
            "seb://moodle.example.org:8080/mod/quiz/accessrule/seb/config.php?cmid=42",
            "http://moodle.example.org:8080/mod/quiz/accessrule/seb/config.php?cmid=42",
        ),
        ("SEBS://Moodle.Example.org/x.seb", "https://Moodle.Example.org/x.seb"),
        ("sebs://exam.example.org", "https://exam.example.org/"),
        ("sebs://[::1]:8443/a.seb", "https://[::1]:8443/a.seb"),
        ("  sebs://exam.example.org/a.seb\n", "https://exam.example.org/a.seb"),
        ("sebs://exam.example.org/a.seb#frag", "https://exam.example.org/a.seb"),
        ("sebs://exam.example.org/p%20q.seb", "https://exam.example.org/p%20q.seb"),
    ],
)
def test_seb_links_become_http_urls(link: str, url: str) -> None:
    assert seb_link_to_http(link) == url


def test_numbas_provider_double_question_mark_form() -> None:
    # lockdown_app.make_seb_link:
    #   urlunparse((scheme, host, settings_url, '', '', '')) + '??' + query
    link = (
        "sebs://numbas.example.ac.uk/media/seb_settings/exam.seb"
        "??session_key=abc123&lti1p3-session-id=x%2Fy"
    )
    parsed = parse_seb_link(link)
    assert parsed.config_url == "https://numbas.example.ac.uk/media/seb_settings/exam.seb"
    assert parsed.start_url_query == "session_key=abc123&lti1p3-session-id=x%2Fy"


def test_plain_link_has_no_start_url_query() -> None:
    assert parse_seb_link("sebs://a.example/c.php?cmid=1").start_url_query is None
    assert parse_seb_link("sebs://a.example/c.php??").start_url_query == ""


@pytest.mark.parametrize(
    ("start_url", "query", "expected"),
    [
        (
            "https://n.example/lti/seb_launch",
            "session_key=a",
            "https://n.example/lti/seb_launch?session_key=a",
        ),
        (
            "https://n.example/launch?x=1",
            "session_key=a",
            "https://n.example/launch?x=1&session_key=a",
        ),
        ("https://n.example/launch#top", "k=v", "https://n.example/launch?k=v#top"),
        ("https://n.example/launch", None, "https://n.example/launch"),
        ("https://n.example/launch", "", "https://n.example/launch"),
    ],
)
def test_append_start_url_query_like_seb_for_windows(
    start_url: str, query: str | None, expected: str
) -> None:
    assert append_start_url_query(start_url, query) == expected


@pytest.mark.parametrize(
    "link",
    [
        "",
        "https://moodle.example.org/config.php",
        "numbas://host/00",
        "seb:/moodle.example.org/x",
        "sebs://",
        "sebs:///path.seb",
        "sebs://user:pw@moodle.example.org/x.seb",
        "sebs://trusted.example@evil.example/x.seb",
        "sebs://exam example.org/x.seb",
        "sebs://exam.example.org/a b.seb",
        "sebs://exam.example.org:99999/x.seb",
        "sebs://exam.example.org:port/x.seb",
        "sebs://exam.example.org\\@evil.example/x.seb",
        "sebs://exa$mple.org/x.seb",
        "sebs://exam.example.org/" + "a" * 9000,
    ],
)
def test_bad_seb_links_are_refused(link: str) -> None:
    with pytest.raises(SebLinkError) as info:
        parse_seb_link(link)
    assert str(info.value)

"""SEB request hashes against a server that checks them the way Moodle and Numbas do."""

from __future__ import annotations

import hashlib
import http.client

import pytest
import requests

from lockdown.policy.seb.hashes import (
    CONFIG_KEY_HASH_HEADER,
    REQUEST_HASH_HEADER,
    config_key_hash,
    request_hash,
    seb_request_headers,
    url_without_fragment,
)
from tests.support.protocol_server import (
    ProtocolServer,
    ServerConfig,
    django_absolute_uri,
    moodle_fullme,
)

CONFIG_KEY = "4fa9af8ec8759eb7c680752ef4ee5eaf1a860628608fccae2715d519849f9292"
EXAM_KEY = "b8b0e3cdd6a8b6a6c0ae8d3b1b1c6f9a0e2e7f3c5d4a1b2c3d4e5f60718293a4"


def _send(url: str, headers: dict[str, str] | None = None) -> tuple[requests.Response, str]:
    """GET ``url`` with SEB headers computed over the prepared (on-the-wire) URL."""
    prepared = requests.Request("GET", url).prepare()
    assert prepared.url is not None
    wire_url = url_without_fragment(prepared.url)
    if headers is None:
        headers = seb_request_headers(wire_url, config_key=CONFIG_KEY, browser_exam_key=EXAM_KEY)
    prepared.headers.update(headers)
    with requests.Session() as session:
        response = session.send(prepared, timeout=10)
    return response, wire_url


def _send_raw(server: ProtocolServer, target: str) -> tuple[int, str]:
    """Send ``target`` byte for byte (requests would normalise its percent-encoding)."""
    wire_url = server.base_url + target
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request(
            "GET", target, headers=seb_request_headers(wire_url, config_key=CONFIG_KEY)
        )
        response = connection.getresponse()
        response.read()
        return response.status, wire_url
    finally:
        connection.close()


def test_hash_is_sha256_of_url_and_key() -> None:
    url = "https://moodle.example.org/mod/quiz/view.php?id=5"
    expected = hashlib.sha256((url + CONFIG_KEY).encode()).hexdigest()
    assert config_key_hash(url, CONFIG_KEY) == expected
    assert config_key_hash(url + "#section-2", CONFIG_KEY) == expected
    assert request_hash(url, EXAM_KEY) == hashlib.sha256((url + EXAM_KEY).encode()).hexdigest()


def test_url_is_not_normalised() -> None:
    base = "https://moodle.example.org/a%7Eb?q=%c3%a9"
    variants = [
        base,
        "https://moodle.example.org/a~b?q=%c3%a9",
        "https://MOODLE.example.org/a%7Eb?q=%C3%A9",
    ]
    assert len({config_key_hash(v, CONFIG_KEY) for v in variants}) == 3


def test_headers_helper_omits_empty_keys() -> None:
    url = "https://m.example/"
    assert seb_request_headers(url) == {}
    assert set(seb_request_headers(url, config_key=CONFIG_KEY)) == {CONFIG_KEY_HASH_HEADER}
    assert set(seb_request_headers(url, browser_exam_key=EXAM_KEY)) == {REQUEST_HASH_HEADER}


def test_fullme_replaces_quotes_only() -> None:
    fullme = moodle_fullme("https", "https://moodle.example.org", "/a'b\"c%7e?x=é")
    assert fullme == "https://moodle.example.org/a%27b%22c%7e?x=é"
    assert (
        moodle_fullme("http", "http://m.example:8080/moodle", "/moodle/x")
        == "http://m.example:8080/moodle/x"
    )


MOODLE_PATHS = [
    "/moodle/mod/quiz/view.php?id=5",
    "/moodle/mod/quiz/attempt.php?attempt=12&cmid=5&page=2",
    "/moodle/mod/quiz/attempt.php?attempt=12#question-12-3",
    "/moodle/pluginfile.php/27/question/questiontext/Übung%201.png?forcedownload=0",
    "/moodle/course/view.php?id=5&q=caf%C3%A9+au+lait&x=%2F%3F%26",
    "/moodle/mod/page/view.php?id=9&name=a%7eb",
    "/moodle/課程/index.php?名前=値",
    "/moodle/search.php?q=%27quoted%27",
]


@pytest.mark.parametrize("path", MOODLE_PATHS)
def test_moodle_accepts_hashes_over_the_wire_url(path: str) -> None:
    config = ServerConfig(seb_config_key=CONFIG_KEY, seb_browser_exam_keys=["0" * 64, EXAM_KEY])
    with ProtocolServer(config) as server:
        response, wire_url = _send(server.url(path))
        assert response.status_code == 200, response.text
        seen = server.requests[-1]
    assert seen.check == "moodle" and seen.allowed
    assert wire_url == server.base_url + seen.target, "the hashed URL is exactly what was sent"
    assert "#" not in seen.target
    assert seen.headers["x-safeexambrowser-configkeyhash"] == config_key_hash(wire_url, CONFIG_KEY)


def test_moodle_refuses_missing_wrong_and_fragment_hashes() -> None:
    config = ServerConfig(seb_config_key=CONFIG_KEY)
    with ProtocolServer(config) as server:
        url = server.url("/moodle/mod/quiz/view.php?id=5")
        missing, _ = _send(url, headers={})
        wrong, _ = _send(url, headers=seb_request_headers(url, config_key="1" * 64))
        with_fragment = {
            CONFIG_KEY_HASH_HEADER: hashlib.sha256((url + "#x" + CONFIG_KEY).encode()).hexdigest()
        }
        fragment, _ = _send(url + "#x", headers=with_fragment)
        other_page, _ = _send(
            url, headers=seb_request_headers(url.replace("id=5", "id=6"), config_key=CONFIG_KEY)
        )
    assert missing.status_code == wrong.status_code == fragment.status_code == 403
    assert other_page.status_code == 403
    assert "no X-SafeExamBrowser-ConfigKeyHash" in missing.text
    assert "does not match" in wrong.text


def test_moodle_refuses_unknown_browser_exam_key() -> None:
    config = ServerConfig(seb_config_key=CONFIG_KEY, seb_browser_exam_keys=[EXAM_KEY])
    with ProtocolServer(config) as server:
        url = server.url("/moodle/mod/quiz/view.php?id=5")
        response, _ = _send(
            url, headers=seb_request_headers(url, config_key=CONFIG_KEY, browser_exam_key="2" * 64)
        )
    assert response.status_code == 403
    assert "request hash" in response.text


def test_moodle_rewrites_raw_quotes_so_a_raw_quote_cannot_match() -> None:
    # Moodle's setup_get_remote_url() turns ' into %27 before hashing: a client that sends a
    # raw quote fails, one that percent-encodes it passes. Documents the server's behaviour.
    config = ServerConfig(seb_config_key=CONFIG_KEY)
    with ProtocolServer(config) as server:
        raw, _ = _send(server.url("/moodle/search.php?q='x'"))
        encoded, _ = _send(server.url("/moodle/search.php?q=%27x%27"))
    assert raw.status_code == 403
    assert encoded.status_code == 200


RAW_TARGETS = ["/a%7Eb", "/%c3%bc/x", "/p;q=1/r?s=%7e&t=(1)", "/q?x=a%20b&y=[1]"]


@pytest.mark.parametrize("suffix", RAW_TARGETS)
def test_moodle_hashes_the_raw_target_without_normalising(suffix: str) -> None:
    with ProtocolServer(ServerConfig(seb_config_key=CONFIG_KEY)) as server:
        status, _wire_url = _send_raw(server, "/moodle" + suffix)
        assert server.requests[-1].target == "/moodle" + suffix
    assert status == 200


@pytest.mark.parametrize(
    ("target", "accepted"),
    [
        ("/numbas-seb/lti/launch?session_key=abc&resource_link_id=7", True),
        ("/numbas-seb/%C3%BCbung/launch?x=1", True),
        ("/numbas-seb/lti?next=%2Fa%2Fb", True),
        ("/numbas-seb/a%7Eb", False),  # Django decodes and re-escapes: ~ stays literal
        ("/numbas-seb/%c3%bc", False),  # ... and re-escapes with upper-case hex
        ("/numbas-seb/p;q=1", False),  # ... and escapes ; and = in the path
    ],
)
def test_numbas_provider_seb_check_rebuilds_the_uri_like_django(
    target: str, accepted: bool
) -> None:
    with ProtocolServer(ServerConfig(seb_config_key=CONFIG_KEY)) as server:
        status, wire_url = _send_raw(server, target)
        rebuilt = django_absolute_uri("http", f"127.0.0.1:{server.port}", target)
    assert (status == 200) is accepted
    assert (rebuilt == wire_url) is accepted

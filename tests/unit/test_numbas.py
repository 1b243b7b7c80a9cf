"""Numbas LTI provider lockdown links, user agent and the provider's checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lockdown.policy import numbas
from lockdown.policy.numbas import (
    LaunchLinkError,
    NumbasLaunch,
    WrongPasswordError,
    basic_auth_header,
    current_platform_name,
    decode_launch_link,
    numbas_user_agent,
    parse_provider_user_agent,
)
from tests.support.encoders import numbas_key, numbas_link
from tests.support.protocol_server import MIN_VERSION_PAGE, ProtocolServer, ServerConfig

DATA = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
LINK_TABLE: list[dict[str, Any]] = json.loads((DATA / "numbas_links.json").read_text("utf-8"))[
    "cases"
]

LAUNCH = (
    "https://numbas.example.ac.uk/lti/lockdown_launch?session_key=k3y"
    "&lti1p3-session-id=abc%2Fdef&resource_link_id=42"
)
TOKEN = "eyJyZXNvdXJjZSI6MSwidXNlciI6Mn0:1rXyZ2:Q0p8vA_sig-nature"


@pytest.mark.parametrize(
    ("password", "salt"),
    [("", ""), ("exam password", ""), ("", "institution-salt"), ("pässwörd ✓", "sält")],
)
def test_round_trip_with_independent_encoder(password: str, salt: str) -> None:
    link = numbas_link(
        "numbas.example.ac.uk", {"url": LAUNCH, "token": TOKEN}, password=password, salt=salt
    )
    launch = decode_launch_link(link, password=password, salt=salt)
    assert launch == NumbasLaunch(
        host="numbas.example.ac.uk", url=LAUNCH, token=TOKEN, link_host="numbas.example.ac.uk"
    )
    assert TOKEN not in repr(launch)


def test_wrong_password_and_wrong_salt_are_wrong_password_errors() -> None:
    link = numbas_link("n.example", {"url": LAUNCH, "token": TOKEN}, password="right", salt="s")
    with pytest.raises(WrongPasswordError, match="wrong password"):
        decode_launch_link(link, password="wrong", salt="s")
    with pytest.raises(WrongPasswordError):
        decode_launch_link(link, password="right", salt="")
    assert issubclass(WrongPasswordError, LaunchLinkError)
    assert issubclass(LaunchLinkError, ValueError)


def test_key_derivation_matches_the_provider() -> None:
    # make_key: hashlib.scrypt(password, salt, n=16384, r=8, p=1) (dklen 64), first 24 bytes;
    # node's scryptSync(password, salt, 24) gives the same bytes (PBKDF2 output blocks).
    import hashlib

    full = hashlib.scrypt(b"pw", salt=b"salt", n=16384, r=8, p=1, dklen=64)
    assert numbas_key("pw", "salt") == full[:24]
    assert numbas._make_key("pw", "salt") == full[:24]


@pytest.mark.parametrize(
    "transform",
    [
        lambda link: link.upper().replace("NUMBAS://N.EXAMPLE", "numbas://n.example"),
        lambda link: link + "/",
        lambda link: f"  {link}\n",
        lambda link: link.replace("numbas://", "Numbas://"),
    ],
    ids=["upper-hex", "trailing-slash", "surrounding-space", "scheme-case"],
)
def test_tolerated_link_variants(transform: Any) -> None:
    link = numbas_link("n.example", {"url": LAUNCH, "token": TOKEN})
    assert decode_launch_link(transform(link), password="", salt="").url == LAUNCH


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://Numbas.Example.ac.uk/lti/", "numbas.example.ac.uk"),
        ("https://numbas.example.ac.uk:443/lti/", "numbas.example.ac.uk"),
        ("http://numbas.example.ac.uk:80/lti/", "numbas.example.ac.uk"),
        ("https://numbas.example.ac.uk:8443/lti/", "numbas.example.ac.uk:8443"),
        ("http://127.0.0.1:8000/lti/", "127.0.0.1:8000"),
        ("http://[::1]:8000/lti/", "[::1]:8000"),
    ],
)
def test_host_is_where_the_token_goes(url: str, host: str) -> None:
    link = numbas_link("link.example", {"url": url, "token": TOKEN})
    launch = decode_launch_link(link, password="", salt="")
    assert launch.host == host
    assert launch.link_host == "link.example"


def _corpus_link(case: dict[str, Any]) -> tuple[str, str, str]:
    """(link, password, salt) for a corpus case."""
    if "link" in case:
        return case["link"], "", ""
    spec = case["generate"]
    password, salt = spec.get("password", ""), spec.get("salt", "")
    decode = (spec.get("decode_password", password), spec.get("decode_salt", salt))
    if "repeat_hex" in spec:
        return "numbas://n.example/" + "ab" * (spec["repeat_hex"] // 2), *decode
    if "raw_block_hex" in spec:
        iv = bytes(16)
        encryptor = Cipher(algorithms.AES(numbas_key(password, salt)), modes.CBC(iv)).encryptor()
        block = encryptor.update(bytes.fromhex(spec["raw_block_hex"])) + encryptor.finalize()
        return "numbas://n.example/" + (iv + block).hex(), *decode
    if "plaintext_hex" in spec:
        plaintext: Any = bytes.fromhex(spec["plaintext_hex"])
    else:
        plaintext = spec["plaintext"]
        if isinstance(plaintext, dict):
            plaintext = json.dumps(plaintext)
    link = numbas_link("n.example", plaintext, password=password, salt=salt)
    if spec.get("drop_hex"):
        link = link[: -spec["drop_hex"]]
    return link, *decode


def test_link_corpus_is_large_and_unique() -> None:
    assert len(LINK_TABLE) >= 40
    assert len({case["id"] for case in LINK_TABLE}) == len(LINK_TABLE)


@pytest.mark.parametrize("case", LINK_TABLE, ids=[c["id"] for c in LINK_TABLE])
def test_bad_link_raises_documented_error(case: dict[str, Any]) -> None:
    expected = {"LaunchLinkError": LaunchLinkError, "WrongPasswordError": WrongPasswordError}
    link, password, salt = _corpus_link(case)
    with pytest.raises(LaunchLinkError) as info:
        decode_launch_link(link, password=password, salt=salt)
    assert type(info.value) is expected[case["error"]], f"{case['id']}: {info.value!r}"
    message = str(info.value)
    assert message and "\n" not in message


@pytest.mark.parametrize(
    "settings",
    [
        {"url": "javascript:alert(1)", "token": "SECRET-TOKEN-VALUE"},
        {"url": LAUNCH, "token": "SECRET-TOKEN-VALUE\n"},
        {"url": 7, "token": "SECRET-TOKEN-VALUE"},
    ],
)
def test_errors_never_show_the_token(settings: dict[str, object]) -> None:
    link = numbas_link("n.example", settings)
    with pytest.raises(LaunchLinkError) as info:
        decode_launch_link(link, password="", salt="")
    assert "SECRET" not in str(info.value)


def test_user_agent_is_exactly_the_numbas_apps() -> None:
    ua = numbas_user_agent("3.1.0", "linux")
    assert ua == "Numbas lockdown (Version: 3.1.0) (Platform: linux)"
    assert parse_provider_user_agent(ua) == {"Version": "3.1.0", "Platform": "linux"}


def test_provider_pattern_breaks_on_a_parenthesised_prefix() -> None:
    chromium = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0 Safari/537.36 " + numbas_user_agent("3.1.0", "linux")
    )
    pairs = parse_provider_user_agent(chromium)
    assert "Version" not in pairs
    assert pairs["Platform"] == "linux"


@pytest.mark.parametrize("bad", ["", "3.1.0) (Platform: win32", "1 2", "v:1", "3.1.0\n"])
def test_user_agent_refuses_values_that_would_confuse_the_parser(bad: str) -> None:
    with pytest.raises(ValueError, match="Numbas user agent"):
        numbas_user_agent(bad, "linux")
    with pytest.raises(ValueError, match="Numbas user agent"):
        numbas_user_agent("1.0.0", bad)


@pytest.mark.parametrize(
    ("platform", "name"),
    [("linux", "linux"), ("win32", "win32"), ("darwin", "darwin"), ("freebsd14", "linux")],
)
def test_platform_name_is_electrons_process_platform(
    monkeypatch: pytest.MonkeyPatch, platform: str, name: str
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert current_platform_name() == name


def test_basic_auth_header_sends_the_token_verbatim() -> None:
    assert basic_auth_header(TOKEN) == f"Basic {TOKEN}"
    for bad in ("", "a b", "tok\r\nX: y", "x" * 5000):
        with pytest.raises(ValueError, match="header-safe"):
            basic_auth_header(bad)


def _get(
    server: ProtocolServer, *, user_agent: str, authorization: str | None
) -> requests.Response:
    headers = {"User-Agent": user_agent}
    if authorization is not None:
        headers["Authorization"] = authorization
    return requests.get(server.url("/numbas/lti/lockdown_launch?x=1"), headers=headers, timeout=10)


def test_provider_accepts_the_app_request_built_from_a_link() -> None:
    config = ServerConfig(
        numbas_min_versions={"linux": "3.0.0", "win32": "3.0.0", "darwin": "3.0.0"}
    )
    with ProtocolServer(config) as server:
        link = numbas_link(
            "127.0.0.1", {"url": server.url("/numbas/lti/x"), "token": config.numbas_token}
        )
        launch = decode_launch_link(link, password="", salt="")
        assert launch.host == f"127.0.0.1:{server.port}"
        response = _get(
            server,
            user_agent=numbas_user_agent("3.1.0", current_platform_name()),
            authorization=basic_auth_header(launch.token),
        )
    assert response.status_code == 200, response.text
    assert "numbas app 3.1.0" in response.text


@pytest.mark.parametrize(
    ("user_agent", "authorization", "reason"),
    [
        ("Numbas lockdown (Version: 2.9.9) (Platform: linux)", "Basic {token}", MIN_VERSION_PAGE),
        ("Numbas lockdown (Version: 3.1.0) (Platform: plan9)", "Basic {token}", MIN_VERSION_PAGE),
        (
            "Mozilla/5.0 (X11; Linux x86_64) Numbas lockdown (Version: 3.1.0) (Platform: linux)",
            "Basic {token}",
            MIN_VERSION_PAGE,
        ),
        (
            "Numbas lockdown (Version: 3.1.0) (Platform: linux)",
            None,
            "no lockdown-app Authorization",
        ),
        ("Numbas lockdown (Version: 3.1.0) (Platform: linux)", "Bearer {token}", "no lockdown-app"),
        ("Numbas lockdown (Version: 3.1.0) (Platform: linux)", "Basic forged", "bad signature"),
    ],
)
def test_provider_refuses(user_agent: str, authorization: str | None, reason: str) -> None:
    config = ServerConfig(numbas_min_versions={"linux": "3.0.0"})
    with ProtocolServer(config) as server:
        auth = authorization.format(token=config.numbas_token) if authorization else None
        response = _get(server, user_agent=user_agent, authorization=auth)
    assert response.status_code == 403
    assert reason in response.text

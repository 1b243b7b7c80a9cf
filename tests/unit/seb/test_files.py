"""Reading .seb containers: round trips through independently encoded files."""

from __future__ import annotations

import gzip
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockdown.policy.seb.config_key import config_key
from lockdown.policy.seb.errors import SebPasswordRequired, SebWrongPassword
from lockdown.policy.seb.files import load_seb
from tests.support.encoders import CONTAINERS, plist_xml, rncryptor_encrypt, seb_container
from tests.support.seb_fixtures import MOODLE_FIXTURE, MOODLE_KEY

PASSWORD = "Prüfung 2024!"

EXPECTED_LAYERS = {
    "xml": ("xml",),
    "gzip": ("gzip", "xml"),
    "plnd": ("plnd", "xml"),
    "plnd+gzip": ("plnd", "gzip", "xml"),
    "gzip(plnd+gzip)": ("gzip", "plnd", "gzip", "xml"),
    "pswd": ("pswd", "xml"),
    "gzip(pswd+gzip)": ("gzip", "pswd", "gzip", "xml"),
    "pwcc": ("gzip", "pwcc", "gzip", "xml"),
}

# XML 1.0 text that plistlib can write and read back unchanged: no control characters
# except tab/newline (a bare CR is normalised by XML parsers), no surrogates/noncharacters.
XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Cn"), whitelist_characters="\t\n"),
    max_size=20,
)
KEYS = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=10)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    XML_TEXT,
    st.binary(max_size=24),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=20,
)
SETTINGS = st.dictionaries(KEYS, VALUES, max_size=8)


@pytest.mark.parametrize("kind", CONTAINERS)
def test_moodle_fixture_survives_every_container(kind: str) -> None:
    xml = MOODLE_FIXTURE.read_bytes()
    seb = load_seb(seb_container(xml, kind, password=PASSWORD), password=PASSWORD)
    assert seb.config_key == MOODLE_KEY
    assert seb.layers == EXPECTED_LAYERS[kind]


@settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(SETTINGS, st.sampled_from(["xml", "gzip", "plnd", "plnd+gzip", "gzip(plnd+gzip)"]))
def test_plain_round_trip_keeps_settings_and_key(
    settings_dict: dict[str, object], kind: str
) -> None:
    data = seb_container(plist_xml(settings_dict), kind)
    seb = load_seb(data)
    assert seb.settings == settings_dict
    assert seb.config_key == config_key(settings_dict)


@settings(
    max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(SETTINGS, st.sampled_from(["pswd", "gzip(pswd+gzip)", "pwcc"]), XML_TEXT)
def test_encrypted_round_trip_keeps_settings_and_key(
    settings_dict: dict[str, object], kind: str, password: str
) -> None:
    data = seb_container(plist_xml(settings_dict), kind, password=password)
    seb = load_seb(data, password=password)
    assert seb.settings == settings_dict
    assert seb.config_key == config_key(settings_dict)


def test_insertion_order_of_the_file_does_not_change_the_key() -> None:
    forward = {"startURL": "https://a.example/", "allowQuit": True, "URLFilterEnable": False}
    backward = dict(reversed(list(forward.items())))
    assert plist_xml(forward) != plist_xml(backward)
    assert load_seb(plist_xml(forward)).config_key == load_seb(plist_xml(backward)).config_key


def test_password_required_then_wrong_then_right() -> None:
    data = seb_container(
        plist_xml({"startURL": "https://a.example/"}), "gzip(pswd+gzip)", password="s3cret"
    )
    with pytest.raises(SebPasswordRequired, match="password"):
        load_seb(data)
    with pytest.raises(SebWrongPassword, match="wrong password"):
        load_seb(data, password="s3cret ")
    assert load_seb(data, password="s3cret").settings == {"startURL": "https://a.example/"}


def test_empty_password_is_a_password_not_a_missing_one() -> None:
    data = seb_container(plist_xml({"a": 1}), "pswd", password="")
    with pytest.raises(SebPasswordRequired):
        load_seb(data)
    assert load_seb(data, password="").settings == {"a": 1}


def test_pwcc_accepts_the_password_or_its_hash() -> None:
    import hashlib

    data = seb_container(plist_xml({"a": 1}), "pwcc", password="admin")
    assert load_seb(data, password="admin").settings == {"a": 1}
    hashed = hashlib.sha256(b"admin").hexdigest()
    assert load_seb(data, password=hashed).settings == {"a": 1}
    with pytest.raises(SebWrongPassword):
        load_seb(data, password="Admin")


def test_rncryptor_version_3_header_is_accepted() -> None:
    blob = rncryptor_encrypt(gzip.compress(plist_xml({"v": 3})), "pw", version=3)
    assert load_seb(b"pswd" + blob, password="pw").settings == {"v": 3}


def test_xml_with_bom_and_leading_whitespace_is_read() -> None:
    data = b"\xef\xbb\xbf\n  " + plist_xml({"startURL": "https://a.example/"})
    assert load_seb(data).settings == {"startURL": "https://a.example/"}


def test_self_closing_and_empty_elements_as_seb_for_windows_writes_them() -> None:
    xml = (
        b'<?xml version="1.0" encoding="utf-8"?>\n<plist version="1.0">\n  <dict>\n'
        b"    <key>startResource</key>\n    <string />\n"
        b"    <key>allowQuit</key>\n    <true />\n"
        b"    <key>list</key>\n    <array></array>\n"
        b"    <key>proxies</key>\n    <dict>\n"
        b"      <key>HTTPPort</key>\n      <integer>80</integer>\n    </dict>\n"
        b"  </dict>\n</plist>"
    )
    seb = load_seb(xml)
    assert seb.settings == {
        "startResource": "",
        "allowQuit": True,
        "list": [],
        "proxies": {"HTTPPort": 80},
    }
    assert seb.config_key == config_key(
        {"allowQuit": True, "list": [], "proxies": {"HTTPPort": 80}, "startResource": ""}
    )

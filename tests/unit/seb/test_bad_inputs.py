"""The malformed-.seb corpus (tests/data/bad_inputs/seb_files.json): each case fails cleanly.

Every case must raise the documented subclass of SebError from the documented stage
(``load_seb`` or ``seb_to_settings``) with a one-line, non-empty message -- never another
exception type. Binary cases are built here from the table's ``builder:`` names.
"""

from __future__ import annotations

import gzip
import json
import os
import plistlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lockdown.policy.seb import errors as seb_errors
from lockdown.policy.seb.errors import SebError
from lockdown.policy.seb.files import MAX_SEB_BYTES, load_seb
from lockdown.policy.seb.mapping import seb_to_settings
from tests.support.encoders import plist_xml, rncryptor_encrypt, seb_container

DATA = Path(__file__).resolve().parents[2] / "data" / "bad_inputs"
TABLE: list[dict[str, Any]] = json.loads((DATA / "seb_files.json").read_text("utf-8"))["cases"]
PASSWORD = "exam-password"
GOOD = {"startURL": "https://exam.example.org/quiz", "allowQuit": True}


def _good_xml() -> bytes:
    return plist_xml(GOOD)


def _pswd() -> bytes:
    return b"pswd" + rncryptor_encrypt(gzip.compress(_good_xml()), PASSWORD)


def _deep() -> bytes:
    inner = "<array>" * 100 + "</array>" * 100
    body = f"<dict><key>a</key>{inner}</dict>"
    return f'<?xml version="1.0"?><plist version="1.0">{body}</plist>'.encode()


def _tamper_hmac() -> bytes:
    data = bytearray(_pswd())
    data[-1] ^= 0x01
    return bytes(data)


def _bad_version() -> bytes:
    data = bytearray(_pswd())
    data[4] = 9
    return bytes(data)


def _not_block_multiple() -> bytes:
    data = _pswd()
    return data[:60] + data[61:]


BUILDERS: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "four_bytes_unknown": lambda: b"abcd",
    "four_bytes_plnd": lambda: b"plnd",
    "plnd_garbage": lambda: b"plnd" + bytes(range(256)),
    "truncated_gzip": lambda: gzip.compress(_good_xml())[:-12],
    "gzip_garbage": lambda: b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"garbage!" * 8,
    "gzip_bomb": lambda: gzip.compress(b"\0" * (40 * 1024 * 1024), compresslevel=1),
    "huge": lambda: b"<?xml" + b" " * MAX_SEB_BYTES,
    "binary_plist": lambda: plistlib.dumps(GOOD, fmt=plistlib.FMT_BINARY),
    "deep_nesting": _deep,
    "pswd_no_password": _pswd,
    "pswd_wrong_password": lambda: gzip.compress(_pswd()),
    "pswd_bad_hmac": _tamper_hmac,
    "pswd_truncated": lambda: _pswd()[:40],
    "pswd_bad_version": _bad_version,
    "pswd_not_block_multiple": _not_block_multiple,
    "pwcc_wrong_password": lambda: seb_container(_good_xml(), "pwcc", password=PASSWORD),
    "pkhs": lambda: b"pkhs" + os.urandom(300),
    "phsk": lambda: gzip.compress(b"phsk" + os.urandom(300)),
}


def case_bytes(case: dict[str, Any]) -> bytes:
    """The input bytes of a corpus case (file contents or builder output)."""
    source: str = case["source"]
    kind, _, name = source.partition(":")
    if kind == "file":
        return (DATA / "seb" / name).read_bytes()
    return BUILDERS[name]()


def test_corpus_is_large_and_well_formed() -> None:
    assert len(TABLE) >= 40
    ids = [case["id"] for case in TABLE]
    assert len(ids) == len(set(ids))
    files = {p.name for p in (DATA / "seb").iterdir()}
    referenced = {c["source"][5:] for c in TABLE if c["source"].startswith("file:")}
    assert referenced == files, "every corpus file is in the table and vice versa"
    assert {c["source"][8:] for c in TABLE if c["source"].startswith("builder:")} == set(BUILDERS)


@pytest.mark.parametrize("case", TABLE, ids=[c["id"] for c in TABLE])
def test_bad_seb_input_raises_documented_error(case: dict[str, Any]) -> None:
    expected: type[SebError] = getattr(seb_errors, case["error"])
    data = case_bytes(case)
    with pytest.raises(SebError) as info:
        seb = load_seb(data, password=case.get("password"))
        assert case["stage"] == "mapping", "load_seb accepted a case meant to fail loading"
        seb_to_settings(seb.settings)
    assert type(info.value) is expected, f"{case['id']}: {info.value!r}"
    message = str(info.value)
    assert message and "\n" not in message


def test_xxe_does_not_read_local_files() -> None:
    data = (DATA / "seb" / "xxe_external_entity.seb").read_bytes()
    with pytest.raises(seb_errors.SebFormatError, match=r"entit|DTD"):
        load_seb(data)


def test_entity_bomb_is_refused_before_expansion() -> None:
    data = (DATA / "seb" / "billion_laughs.seb").read_bytes()
    with pytest.raises(seb_errors.SebFormatError, match=r"DTD subset|entit"):
        load_seb(data)

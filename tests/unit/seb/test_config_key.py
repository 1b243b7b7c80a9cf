"""The SEB Config Key: real-world vector, hand-checked renderings and properties."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockdown.policy.seb.config_key import config_key, seb_json
from lockdown.policy.seb.files import load_seb
from tests.support.seb_fixtures import MOODLE_FIXTURE, MOODLE_KEY


def test_moodle_fixture_gives_published_key() -> None:
    seb = load_seb(MOODLE_FIXTURE.read_bytes())
    assert seb.config_key == MOODLE_KEY
    assert config_key(seb.settings) == MOODLE_KEY


def test_moodle_fixture_key_ignores_originator_version_and_order() -> None:
    settings = load_seb(MOODLE_FIXTURE.read_bytes()).settings
    shuffled = list(settings.items())
    random.Random(7).shuffle(shuffled)
    changed = dict(shuffled)
    changed["originatorVersion"] = "SEB_OSX_9.9.9"
    assert config_key(changed) == MOODLE_KEY
    changed["allowQuit"] = not changed["allowQuit"]
    assert config_key(changed) != MOODLE_KEY


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        # Moodle property_list_test vectors (taken from the SEB Config Key requirements).
        ({"date": dt.datetime(1940, 10, 9, 22, 13, 56)}, '{"date":"1940-10-09T22:13:56+00:00"}'),
        ({"data": b"blahblah"}, '{"data":"YmxhaGJsYWg="}'),
        ({"string": "hello wörld"}, '{"string":"hello wörld"}'),
        ({"string": "ws:\\localhost"}, '{"string":"ws:\\localhost"}'),
        ({"string": "ws:\\\\\\localhost"}, '{"string":"ws:\\\\\\localhost"}'),
        ({"bool": True}, '{"bool":true}'),
        ({"bool": True, "array": []}, '{"array":[],"bool":true}'),
        (
            {"dict": {"dictbool": False, "dictbool2": True}},
            '{"dict":{"dictbool":false,"dictbool2":true}}',
        ),
        ({"bool": True, "emptydict": {}}, '{"bool":true}'),
        (
            {"testKey": "testValue", "allowWLAN": "testValue2", "allowWlan": "testValue3"},
            '{"allowWlan":"testValue3","allowWLAN":"testValue2","testKey":"testValue"}',
        ),
        ({"url": "http://test.com"}, '{"url":"http://test.com"}'),
        ({"dict": {"banana": False, "apple": True}}, '{"dict":{"apple":true,"banana":false}}'),
        # Our own: nesting, arrays of dicts, numbers, quotes, metadata removal.
        (
            {"originatorVersion": "x", "d": {"originatorVersion": "y", "Z": 1, "a": 2}, "e": {}},
            '{"d":{"a":2,"Z":1}}',
        ),
        (
            {
                "URLFilterRules": [
                    {"regex": True, "expression": "^https?://a\\.b/.*", "active": True, "action": 1}
                ]
            },
            '{"URLFilterRules":[{"action":1,"active":true,"expression":"^https?://a\\.b/.*","regex":true}]}',
        ),
        ({"q": 'say "hi"'}, '{"q":"say \\"hi\\""}'),
        ({"n": -12, "z": 0}, '{"n":-12,"z":0}'),
        ({"empty": ""}, '{"empty":""}'),
        ({"list": [1, "a", [True], {"k": b""}]}, '{"list":[1,"a",[true],{"k":""}]}'),
    ],
)
def test_seb_json_rendering(settings: dict[str, object], expected: str) -> None:
    assert seb_json(settings) == expected
    assert config_key(settings) == hashlib.sha256(expected.encode("utf-8")).hexdigest()


@pytest.mark.parametrize(
    ("value", "rendered"),
    [
        (0.5, "0.5"),
        (1.0, "1"),
        (-0.0, "0"),
        (0.1 + 0.2, "0.3"),
        (1e16, "1E+16"),
        (1e-5, "1E-05"),
        (0.0001, "0.0001"),
        (123456.789, "123456.789"),
        (2.0 / 3.0, "0.666666666666667"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (float("nan"), "NaN"),
    ],
)
def test_reals_render_like_dotnet_g15(value: float, rendered: str) -> None:
    assert seb_json({"r": value}) == '{"r":' + rendered + "}"


def test_unrenderable_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="SEB-JSON"):
        seb_json({"x": object()})


KEYS = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8)
SCALARS = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), KEYS)
NESTED = st.recursive(
    st.dictionaries(KEYS, SCALARS, max_size=6),
    lambda inner: st.dictionaries(KEYS, st.one_of(SCALARS, inner), max_size=6),
    max_leaves=30,
)


def _reorder(value: object, rng: random.Random) -> object:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _reorder(item, rng) for key, item in items}
    return value


def _check_order(pairs: list[tuple[str, object]]) -> None:
    keys = [key for key, _ in pairs]
    lowered = [key.lower() for key in keys]
    assert lowered == sorted(lowered), f"keys not case-insensitively sorted: {keys}"
    for first, second in itertools.pairwise(keys):
        if first.lower() == second.lower():
            position = next(i for i, (a, b) in enumerate(zip(first, second, strict=True)) if a != b)
            assert first[position].islower(), f"{first} should come after {second}"
    for _key, value in pairs:
        if isinstance(value, list):
            _check_order(value)  # nested object (object_pairs_hook gives lists of pairs)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(NESTED, st.integers(0, 2**32))
def test_json_is_insertion_order_independent(settings_dict: dict[str, object], seed: int) -> None:
    reordered = _reorder(settings_dict, random.Random(seed))
    assert isinstance(reordered, dict)
    assert seb_json(reordered) == seb_json(settings_dict)
    assert config_key(reordered) == config_key(settings_dict)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(NESTED)
def test_json_keys_are_sorted_case_insensitively_at_every_level(
    settings_dict: dict[str, object],
) -> None:
    text = seb_json(settings_dict)
    assert not any(ch.isspace() for ch in text)  # keys and strings here are alphanumeric
    pairs = json.loads(text, object_pairs_hook=list)
    _check_order(pairs)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(NESTED)
def test_empty_dicts_and_originator_version_never_change_the_key(
    settings_dict: dict[str, object],
) -> None:
    decorated = dict(settings_dict)
    decorated["originatorVersion"] = "SEB_Win_3.0"
    decorated["zzEmptyDictionary"] = {}
    assert config_key(decorated) == config_key(settings_dict)

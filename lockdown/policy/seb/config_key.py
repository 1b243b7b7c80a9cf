"""The SEB Config Key: SHA-256 of a canonical "SEB-JSON" rendering of the settings.

Algorithm (SEB developer docs "Config Key"; SEB for Windows ``ConfigurationData/Json.cs``;
Moodle ``quizaccess_seb\\property_list::to_json`` + ``config_key::generate``):

* drop ``originatorVersion`` from every dictionary, at every level;
* drop dictionary entries whose value is an empty dictionary;
* order dictionary keys case-insensitively at every level (a key that differs only in case
  puts its lower-case letters first: ``allowWlan`` before ``allowWLAN``);
* no whitespace; ``<data>`` as standard base64 in a string; booleans ``true``/``false``;
  integers in decimal; reals like .NET ``double.ToString()`` on .NET Framework ("G15");
  ``<date>`` as an ISO 8601 string (Moodle's rendering);
* strings are written as they are -- backslashes, slashes and non-ASCII characters are NOT
  escaped. The one exception: a double quote inside a string is written as ``\\"``, which is
  what both SEB for Windows (``text.Replace("\\"", "\\\\\\"")``) and Moodle
  (``json_encode``) do. Keys are written raw, as SEB does.

The Config Key is the lowercase hex SHA-256 of the UTF-8 bytes of that JSON text.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import math
from collections.abc import Mapping, Sequence

#: Metadata key exempt from the Config Key (which SEB version saved the file).
ORIGINATOR_VERSION = "originatorVersion"


def seb_key_order(key: str) -> tuple[str, tuple[bool, ...]]:
    """Sort key for dictionary keys: case-insensitive, lower case first on ties."""
    return key.lower(), tuple(ch.isupper() for ch in key)


def _real(value: float) -> str:
    """Render a float as .NET Framework's invariant ``double.ToString()`` ("G15") does."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"  # .NET Framework prints negative zero as "0"
    return format(value, ".15G")


def _date(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # plistlib gives naive UTC datetimes
    return value.astimezone(dt.UTC).isoformat(timespec="seconds")


def _render(value: object, out: list[str]) -> None:
    if isinstance(value, Mapping):
        _render_dict(value, out)
    elif isinstance(value, bool):  # before int: bool is a subclass of int
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_real(value))
    elif isinstance(value, str):
        out.append('"' + value.replace('"', '\\"') + '"')
    elif isinstance(value, bytes | bytearray):
        out.append('"' + base64.b64encode(bytes(value)).decode("ascii") + '"')
    elif isinstance(value, dt.datetime):
        out.append('"' + _date(value) + '"')
    elif isinstance(value, Sequence):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _render(item, out)
        out.append("]")
    elif value is None:
        out.append('""')  # SEB for Windows writes a null (empty <string/>) as ""
    else:
        raise TypeError(f"cannot render a {type(value).__name__} in SEB-JSON")


def _render_dict(settings: Mapping[str, object], out: list[str]) -> None:
    entries = [
        (key, value)
        for key, value in settings.items()
        if key != ORIGINATOR_VERSION and not (isinstance(value, Mapping) and not value)
    ]
    entries.sort(key=lambda entry: seb_key_order(entry[0]))
    out.append("{")
    for index, (key, value) in enumerate(entries):
        if index:
            out.append(",")
        out.append('"' + key + '":')
        _render(value, out)
    out.append("}")


def seb_json(settings: Mapping[str, object]) -> str:
    """The canonical SEB-JSON text of a settings dictionary (the Config Key's input)."""
    out: list[str] = []
    _render_dict(settings, out)
    return "".join(out)


def config_key(settings: Mapping[str, object]) -> str:
    """The SEB Config Key of a settings dictionary: 64 lowercase hex digits."""
    return hashlib.sha256(seb_json(settings).encode("utf-8")).hexdigest()

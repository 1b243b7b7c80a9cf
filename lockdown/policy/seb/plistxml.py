"""Hardened reading of XML property lists, the payload of every ``.seb`` file.

``plistlib`` already refuses entity declarations, but it silently ignores unknown elements,
accepts any root element and follows documents of any depth. A ``.seb`` file comes from the
network (Moodle serves it, ``seb://`` links point at it), so before handing the bytes to
``plistlib`` we run one cheap expat pass that enforces the shape SEB's own parser expects:

* no internal DTD subset, no entity declarations, no external entity references (this
  stops XXE and "billion laughs" before any expansion happens);
* the root element is ``<plist>`` and only plist element names appear;
* nesting depth is bounded, so the recursive Config Key serialiser cannot overflow.
"""

from __future__ import annotations

import plistlib
import xml.parsers.expat
from typing import NoReturn

from lockdown.policy.seb.errors import SebFormatError

#: Element names that may appear in an XML plist.
PLIST_ELEMENTS = frozenset(
    {"plist", "dict", "key", "array", "string", "integer", "real", "true", "false", "data", "date"}
)

#: Deepest nesting of dict/array we accept (real SEB files use at most 5 or 6 levels).
MAX_DEPTH = 64


class _Refused(Exception):
    """Internal signal raised from expat callbacks; converted to SebFormatError."""


def _refuse(message: str) -> NoReturn:
    raise _Refused(message)


def _validate_structure(data: bytes) -> None:
    """One expat pass over ``data`` that raises SebFormatError for anything unsafe or odd."""
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    depth = 0
    seen_root = False

    def start_doctype(
        _name: str, _sysid: str | None, _pubid: str | None, has_internal_subset: int
    ) -> None:
        if has_internal_subset:
            _refuse("the XML has an internal DTD subset (entity definitions are not allowed)")

    def entity_decl(name: str, *_args: object) -> None:
        _refuse(f"the XML declares an entity ({name!r}); entities are not allowed")

    def skipped_entity(name: str, _is_parameter: int) -> None:
        # With an external DTD, expat skips undeclared entities instead of failing.
        _refuse(f"the XML references an undefined entity ({name!r})")

    def external_entity(*_args: object) -> int:
        _refuse("the XML references an external entity; external entities are not allowed")

    def start_element(name: str, _attrs: dict[str, str]) -> None:
        nonlocal depth, seen_root
        if depth == 0:
            if seen_root:
                _refuse("the XML has more than one root element")
            if name != "plist":
                _refuse(f"the XML root element is <{name}>, not <plist>")
            seen_root = True
        elif name not in PLIST_ELEMENTS:
            _refuse(f"unexpected element <{name}> in the property list")
        depth += 1
        if depth > MAX_DEPTH:
            _refuse(f"the property list is nested more than {MAX_DEPTH} levels deep")

    def end_element(_name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartDoctypeDeclHandler = start_doctype
    parser.EntityDeclHandler = entity_decl
    parser.UnparsedEntityDeclHandler = entity_decl
    parser.ExternalEntityRefHandler = external_entity
    parser.SkippedEntityHandler = skipped_entity
    parser.StartElementHandler = start_element
    parser.EndElementHandler = end_element
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise SebFormatError(f"refusing the configuration: {exc}") from None
    except xml.parsers.expat.ExpatError as exc:
        raise SebFormatError(f"the configuration is not well-formed XML ({exc})") from None
    if not seen_root:
        raise SebFormatError("the configuration XML has no <plist> root element")


def parse_plist_xml(data: bytes) -> dict[str, object]:
    """Parse an XML plist whose root value must be a ``<dict>``; return it as a ``dict``.

    Values come back as ``plistlib`` gives them: ``str``, ``bool``, ``int``, ``float``,
    ``bytes`` (``<data>``), ``datetime`` (``<date>``), ``list`` and ``dict``.
    """
    _validate_structure(data)
    try:
        value = plistlib.loads(data, fmt=plistlib.FMT_XML)
    except plistlib.InvalidFileException as exc:
        raise SebFormatError(f"the configuration is not a valid property list ({exc})") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        # plistlib reports bad <integer>/<real>/<date>/<data> text and misplaced keys with
        # these built-in exceptions (a malformed <date> even surfaces as AttributeError).
        raise SebFormatError(f"the property list has an invalid value ({exc})") from None
    except xml.parsers.expat.ExpatError as exc:  # pragma: no cover - caught by the first pass
        raise SebFormatError(f"the configuration is not well-formed XML ({exc})") from None
    if not isinstance(value, dict):
        raise SebFormatError(
            f"the property list's root is a {type(value).__name__}, not a <dict> of settings"
        )
    return value

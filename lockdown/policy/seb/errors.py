"""Exceptions for Safe Exam Browser configuration handling.

Every failure while reading a ``.seb`` file or mapping its settings raises a subclass of
:class:`SebError` (itself a :class:`ValueError`) with a message meant for a human: the
command-line tools print ``str(error)`` as the whole explanation, so messages name the
problem and, where it helps, what to do about it.
"""

from __future__ import annotations


class SebError(ValueError):
    """Base class: the data is not a usable SEB configuration."""


class SebFormatError(SebError):
    """The bytes are not a well-formed SEB configuration (bad container, XML or plist)."""


class SebTooLarge(SebFormatError):
    """The file, or what it decompresses to, exceeds the size we are willing to parse."""


class SebPasswordRequired(SebError):
    """The file is password-encrypted (``pswd``/``pwcc``) and no password was given."""


class SebWrongPassword(SebError):
    """The password does not authenticate the file (wrong password or corrupted data).

    SEB itself cannot tell these apart: the HMAC check fails either way.
    """


class SebUnsupported(SebError):
    """A valid but unsupported format, such as certificate-encrypted (``pkhs``/``phsk``)."""


class SebSettingsError(SebError):
    """A known SEB key has a value of the wrong type or an invalid value."""

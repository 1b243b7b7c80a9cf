"""What the frozen build leaves out: Chromium UI languages not shipped, Qt translations, devtools.

PyInstaller collects every Qt WebEngine locale (.pak, ~45 MB) and every Qt translation; the app
ships English only, so the rest is pruned. Chromium falls back to en-US when the OS language has
no .pak, so a German PC still starts cleanly (checked by the smoke test with ``LANG=de_DE``).

The DevTools front-end (``qtwebengine_devtools_resources.pak``) is dropped too: the app never
opens DevTools, and a build without the front-end cannot show it even if a future Qt or a bug
reopened the remote-debugging route (defence in depth next to ``lockdown.sanitize``).

Pure functions over PyInstaller TOC entries ``(dest_name, src_name, typecode)``, so the rules
are unit-tested without building.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import PurePosixPath

TocEntry = tuple[str, str, str]

LOCALES_DIR = "qtwebengine_locales"
DEVTOOLS_PAK = "qtwebengine_devtools_resources.pak"


def qt_language(locale: str) -> str:
    """Qt's translation suffix for a Chromium locale: ``en-US`` -> ``en``, ``pt-BR`` -> ``pt_BR``.
    """
    language, _, region = locale.partition("-")
    return language if language == "en" or not region else f"{language}_{region}"


def keep_data(dest: str, locales: Sequence[str]) -> bool:
    """Whether one collected data file belongs in the build (``dest`` relative to the bundle)."""
    path = PurePosixPath(dest.replace("\\", "/"))
    parts = path.parts
    if "__pycache__" in parts or path.suffix == ".pyc":
        return False
    if LOCALES_DIR in parts[:-1]:
        return path.suffix != ".pak" or path.stem in locales
    if path.name == DEVTOOLS_PAK:
        return False
    if path.suffix == ".qm" and "translations" in parts:
        wanted = {qt_language(locale) for locale in locales}
        # qtbase_en.qm, qt_help_pt_BR.qm: the language is the suffix after the module name.
        return any(path.stem.endswith("_" + language) for language in wanted)
    return True


def prune(entries: Iterable[TocEntry], locales: Sequence[str]) -> list[TocEntry]:
    """The entries to keep, in order."""
    return [entry for entry in entries if keep_data(entry[0], locales)]

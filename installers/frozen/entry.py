"""The frozen build's main script: restore the user's environment, then run ``lockdown``.

Everything else is the same code path as ``python -m lockdown`` (``lockdown.__main__.main``), so
the smoke test exercises one program in both forms.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, MutableMapping


def restore_user_env(recorded: Mapping[str, str | None],
                     environ: MutableMapping[str, str] | None = None) -> None:
    """Undo PyInstaller's Qt variables: put back what the user had (or nothing)."""
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    for name, value in recorded.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value


def main() -> int:
    restore_user_env(getattr(sys, "_lockdown_user_env", {}))
    from lockdown.__main__ import main as app_main

    return app_main()


if __name__ == "__main__":
    sys.exit(main())

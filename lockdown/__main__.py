"""``python -m lockdown`` and the installed ``lockdown`` command."""

from __future__ import annotations

import sys


def main() -> int:
    from lockdown.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

"""Command line: parse arguments, build the layered policy, hand over to the UI.

Qt is imported only when the browser really starts, so the IT tools (``inspect``, ``hash-url``,
``settings``) and configuration errors answer instantly and never touch a display.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lockdown import __version__
from lockdown.policy.config import (
    ConfigError,
    Layer,
    find_machine_policy,
    load_layer,
    machine_policy_dir,
    merge,
    start_url_layer,
)
from lockdown.policy.decide import Decider
from lockdown.policy.settings import Policy, declared_settings, type_name

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one clear line (never a traceback, never a wall of usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"lockdown: error: {message} (see 'python -m lockdown --help')", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout at the terminal's width, learnt without ``shutil``: argparse
    imports it for that (with zlib, bz2 and lzma) when the parser is built, ~4 ms before the
    first page that only ``--help`` needs."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _terminal_columns() - 2 if width is None else width)


def _terminal_columns() -> int:
    """As ``shutil.get_terminal_size().columns``: $COLUMNS, else the terminal's, else 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80


@dataclass(frozen=True)
class Options:
    """What the browser needs besides the policy.

    ``exam_policy`` rebuilds the policy with an exam layer (a decoded launch link or .seb file)
    over the same machine policy and ``--config``; ``restart_args`` are this command line without
    the launch argument, for restarting with a new SEB configuration (``--reconfigure``).
    """

    demo: bool
    launch_link: str | None
    log_format: str | None
    log_file: str | None
    exam_policy: Callable[[Layer], Policy] | None = None
    restart_args: tuple[str, ...] = ()
    reconfigure: str | None = None


def browser_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lockdown",
        formatter_class=_Formatter,
        description="A locked-down exam browser. Without an institution configured it opens the"
        " embedded demo exam site.",
        epilog="Other commands: 'lockdown settings', 'lockdown inspect FILE.seb|numbas://…',"
        " 'lockdown hash-url URL --config-key K', 'lockdown journal export'.",
    )
    parser.add_argument("--config", metavar="FILE", type=Path,
                        help="development policy file (TOML or JSON) over the machine policy")
    parser.add_argument("--start-url", metavar="URL",
                        help="open this URL and allow its host only (refused if the machine policy"
                        " pins a start URL)")
    parser.add_argument("--log-format", choices=("text", "json"), help="log line format")
    parser.add_argument("--log-file", metavar="FILE", help="also write the log to FILE")
    parser.add_argument("--version", action="version", version=f"lockdown {__version__}")
    parser.add_argument("link", nargs="?",
                        help="a numbas://, seb:// or sebs:// link, or a .seb file (OS URL handler)")
    # Internal: a restart after an in-page seb:// link hands over the new configuration.
    parser.add_argument("--reconfigure", metavar="FILE", help=argparse.SUPPRESS)
    return parser


def build_policy(
    *, config: Path | None, start_url: str | None, machine_dir: Path | None = None,
    exam: Layer | None = None,
) -> Policy:
    """Layer defaults < machine policy < --config < --start-url | exam, enforcing machine pins.

    ``exam`` is the layer of a launch link or .seb file (``lockdown.launch``).
    """
    machine_path = find_machine_policy(machine_dir or machine_policy_dir())
    machine = load_layer(machine_path) if machine_path else None
    user_layers: list[Layer] = []
    if config is not None:
        user_layers.append(load_layer(config))
    if start_url is not None:
        layer = start_url_layer(start_url)
        if machine is not None and "start_url" in machine.values:
            raise ConfigError(
                "--start-url",
                f"the machine policy {machine.source} pins the start URL; --start-url is refused",
            )
        user_layers.append(layer)
    if exam is not None:
        if start_url is not None:
            raise ConfigError("--start-url", "cannot be combined with a launch link or .seb file")
        from lockdown.launch import fit_to_machine

        user_layers.append(fit_to_machine(exam, machine))
    policy = merge(machine, user_layers)
    if machine is not None and ({"allowed_hosts", "url_rules"} & set(machine.values)):
        _check_start_within_machine(machine, policy)
    return policy


def _check_start_within_machine(machine: Layer, policy: Policy) -> None:
    """A user-chosen start URL must already be allowed by the machine's own host list/rules."""
    if not policy.start_url or policy.start_url == machine.values.get("start_url"):
        return
    machine_only = merge(machine, [])
    decision = Decider(machine_only).navigation(policy.start_url, main_frame=True)
    if not decision.allowed:
        raise ConfigError(
            "start URL",
            f"{policy.start_url} is not allowed by the machine policy {machine.source}"
            f" ({decision.reason})",
        )


def _without_launch(args: Sequence[str], link: str | None,
                    reconfigure: str | None) -> tuple[str, ...]:
    """The command line minus the launch argument and ``--reconfigure FILE``."""
    out = list(args)
    if link is not None and link in out:
        del out[len(out) - 1 - out[::-1].index(link)]
    for index, arg in enumerate(out):
        if arg == "--reconfigure" and index + 1 < len(out) and out[index + 1] == reconfigure:
            del out[index:index + 2]
            break
        if arg == f"--reconfigure={reconfigure}":
            del out[index]
            break
    return tuple(out)


def settings_main(argv: Sequence[str]) -> int:
    """Print every declared setting: name, type, default, description."""
    del argv
    for info in declared_settings():
        per_url = " (per-URL)" if info.per_url else ""
        default = info.default if not isinstance(info.default, tuple) else list(info.default)
        print(f"{info.name}: {type_name(info.type)} = {default!r}{per_url}")
        print(f"    {info.description}")
    return 0


def _subcommands() -> dict[str, Callable[[list[str]], int]]:
    def inspect(argv: list[str]) -> int:
        from lockdown.commands.inspect_cmd import inspect_main

        return inspect_main(argv)

    def hash_url(argv: list[str]) -> int:
        from lockdown.commands.inspect_cmd import hash_url_main

        return hash_url_main(argv)

    def journal(argv: list[str]) -> int:
        from lockdown.commands.journal_cmd import journal_main

        return journal_main(argv)

    return {"settings": settings_main, "inspect": inspect, "hash-url": hash_url, "journal": journal}


def main(argv: Sequence[str] | None = None) -> int:
    from lockdown.sanitize import sanitise_process

    raw = list(sys.argv[1:] if argv is None else argv)
    args_list, report = sanitise_process(raw)
    subcommand = _subcommands().get(args_list[0]) if args_list else None
    if subcommand is not None:
        return subcommand(args_list[1:])
    args = browser_parser().parse_args(args_list)
    if args.start_url is not None and (args.link is not None or args.reconfigure is not None):
        print("lockdown: error: give either --start-url or a launch link/.seb file, not both",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        policy = build_policy(config=args.config, start_url=args.start_url)
    except ConfigError as exc:
        print(f"lockdown: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def exam_policy(layer: Layer) -> Policy:
        return build_policy(config=args.config, start_url=args.start_url, exam=layer)

    options = Options(
        demo=not policy.start_url and args.link is None and args.reconfigure is None,
        launch_link=args.link,
        log_format=args.log_format,
        log_file=args.log_file,
        exam_policy=exam_policy,
        restart_args=_without_launch(args_list, args.link, args.reconfigure),
        reconfigure=args.reconfigure,
    )
    from lockdown.ui.app import run

    return run(policy, options, report)

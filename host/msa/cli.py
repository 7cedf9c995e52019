"""The `msa` command: one entry point, one sub-command per user.

Each sub-command lives in its own module, imported only when it runs (so
`msa --help` stays fast and a missing optional part breaks only its own
command). A module provides `register(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys

from msa.errors import MsaError

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("msa.demo.cli", "run backend + emulated board + app link, ready to press"),
    "firmware": ("msa.firmware.cli", "build the firmware with mpy-cross, deploy it to a board"),
    "board": ("boards.emulated.cli", "run and drive an emulated board"),
    "app": ("msa.app.cli", "the phone's app link: bond with a button, relay its alarms"),
    "backend": ("msa.backend.cli", "the dispatch + case backend (serve, migrate, seed)"),
    "inventory": ("msa.backend.inventory_cli", "the tech desk's buttons per judicial district"),
    "provision": ("msa.desk.provision_cli", "a button for a person of a case, over USB"),
    "decommission": ("msa.desk.cli", "wipe a button, prove it blank, revoke it, return it"),
    "arm-test": ("msa.desk.arm_cli", "arm a button's test alarm for the test call with the CIC"),
    "case": ("msa.backend.case_cli", "a case's life: request, decision, revisits, stays, end"),
    "evidence": ("msa.backend.evidence_cli", "a case's evidence log: export it, verify it"),
    "bench": ("msa.benchcli", "run a benchmark from bench/ and print its figures"),
    "test": ("msa.testcli", "run the test suite (pytest); extra arguments go to pytest"),
}

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def describe_os_error(error: OSError) -> str:
    """An OSError as one line: what failed, on what, and what to look at."""
    what = error.strerror or str(error) or type(error).__name__
    where = f" ({error.filename})" if error.filename else ""
    hint = {
        errno.ENOENT: "check the path",
        errno.EACCES: "check the permissions",
        errno.EPERM: "check the permissions",
        errno.ENOSPC: "free some disk space",
        errno.EADDRINUSE: "choose another port",
        errno.ECONNREFUSED: "is the other side running?",
    }.get(error.errno or 0)
    return f"{what}{where}" + (f": {hint}" if hint else "")


def version() -> str:
    """`msa --version`: this package's version and the firmware's it builds."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        host = installed("msa")
    except PackageNotFoundError:  # run from a checkout without installing
        host = "unknown"
    from msa.desk.provision import tool_firmware_version

    return f"msa {host} (firmware {tool_firmware_version()})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="msa",
        description="Mobile stalking alarm: firmware, emulated board, app link, backend.",
    )
    parser.add_argument("-V", "--version", action="store_true", help="print the version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--version"], ["-V"]):
        print(version())
        return EXIT_OK
    if not argv or argv[0] not in COMMANDS:
        parser = build_parser()
        if not argv:
            parser.print_help()
            return EXIT_USAGE
        parser.parse_args(argv)  # prints help or an "invalid choice" error
        return EXIT_USAGE
    name, rest = argv[0], argv[1:]
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    own_help = getattr(module, "OWN_HELP", False)  # e.g. `msa bench heap --help`
    parser = argparse.ArgumentParser(
        prog=f"msa {name}", description=help_text, add_help=not own_help
    )
    module.register(parser)
    if getattr(module, "PASS_THROUGH", False):  # e.g. `msa test -k alarm`
        args, args.extra = parser.parse_known_args(rest)
    else:
        args = parser.parse_args(rest)
    try:
        return int(module.run(args) or EXIT_OK)
    except MsaError as error:
        print(f"msa {name}: {error}", file=sys.stderr)
        return error.exit_code
    except OSError as error:  # a path, a port, a full disk: one line, not a traceback
        print(f"msa {name}: {describe_os_error(error)}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

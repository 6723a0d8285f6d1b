"""`ftwizard` command line: one module per command (like TRL's `get_commands()` and axolotl's `cli/`).
With no command it opens the Textual app.

Heavy libraries (torch, transformers) are imported only by the commands that train or check. Every known error
is one line plus a hint (exit 2); `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib

# the command table: name → module in ftwizard/cli (each has `register(sub)`). A new command = a module + a line.
COMMANDS = ("probe", "estimate", "models", "info", "plan", "data", "train", "demo", "monitor", "check", "stop", "distill",
            "export")


def build_parser() -> argparse.ArgumentParser:
    from ftwizard import __version__

    ap = argparse.ArgumentParser(prog="ftwizard", description="Fine-tuning wizard. No command: open the app.")
    ap.add_argument("--version", action="version", version=f"ftwizard {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks")
    ap.add_argument("--fake-gpus", dest="fake_app", help="(app) use a fake GPU description file")
    ap.add_argument("--preset", dest="preset_app", help="(app) start from answers saved as a preset YAML")
    sub = ap.add_subparsers(dest="cmd")
    for name in COMMANDS:
        importlib.import_module(f"ftwizard.cli.{name}").register(sub)
    return ap


def _run(args: argparse.Namespace) -> int:
    if not getattr(args, "cmd", None):
        from ftwizard.ui.app import run_app

        return run_app(fake_gpus=args.fake_app, preset=args.preset_app)
    from ftwizard.cli._common import resolve_model_arg

    resolve_model_arg(args)
    return int(args.func(args) or 0)


def main(argv: list[str] | None = None) -> int:
    from rich.markup import escape

    from ftwizard.cli._common import CliError, err_console

    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except CliError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        if exc.hint:
            err_console.print(f"[dim]hint:[/] {escape(exc.hint)}")
        return exc.code
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: a line, not a traceback
        if args.debug:
            raise
        from ftwizard.cli._common import known_error

        line, hint = known_error(exc)
        err_console.print(f"[red]error:[/] {escape(line)}")
        err_console.print(f"[dim]hint:[/] {escape(hint)}")
        return 2

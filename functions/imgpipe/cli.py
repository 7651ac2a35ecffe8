"""The `imgpipe` command. Subcommands that need a running stack arrive with the local runtime."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from imgpipe.core import Rejected, SpecError, inspect, render

EXIT_REJECTED = 2
EXIT_USAGE = 64


def _print_json(payload: object, stream: TextIO | None = None) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False), file=stream or sys.stdout)


def _inspect(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        info = inspect(path.read_bytes(), declared_type=None if args.ignore_name else path.name)
    except Rejected as rejection:
        _print_json({"file": str(path), "status": "REJECTED", **rejection.as_dict()})
        return EXIT_REJECTED
    _print_json({"file": str(path), "status": "READY", **info.model_dump(mode="json")})
    return 0


def _render(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        rendered = render(path.read_bytes(), args.query, accept=args.accept)
    except Rejected as rejection:
        _print_json({"file": str(path), "status": "REJECTED", **rejection.as_dict()}, sys.stderr)
        return EXIT_REJECTED
    except SpecError as error:
        _print_json({"error": "bad-parameter", "param": error.param, "message": error.message}, sys.stderr)
        return EXIT_USAGE
    output = (
        Path(args.output)
        if args.output
        else path.with_suffix(f".out.{rendered.format.replace('jpeg', 'jpg')}")
    )
    output.write_bytes(rendered.data)
    _print_json(
        {
            "output": str(output),
            "format": rendered.format,
            "width": rendered.width,
            "height": rendered.height,
            "bytes": len(rendered.data),
            "animated": rendered.animated,
            "query": rendered.query,
            "operations": list(rendered.operations),
            "timings_ms": {name: round(ms, 1) for name, ms in rendered.timings_ms.items()},
        }
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imgpipe", description="Serverless image pipeline: local tools.")
    commands = parser.add_subparsers(dest="command", required=True)

    inspect_cmd = commands.add_parser("inspect", help="validate an image and print its facts as JSON")
    inspect_cmd.add_argument("file")
    inspect_cmd.add_argument(
        "--ignore-name", action="store_true", help="do not refuse a file whose extension names another format"
    )
    inspect_cmd.set_defaults(run=_inspect)

    render_cmd = commands.add_parser("render", help="apply one transformation, no stack needed")
    render_cmd.add_argument("file")
    render_cmd.add_argument("query", help="delivery URL parameters, e.g. 'w=800&fm=webp'")
    render_cmd.add_argument("-o", "--output", help="where to write the result")
    render_cmd.add_argument("--accept", default="image/avif,image/webp,*/*", help="Accept header for fm=auto")
    render_cmd.set_defaults(run=_render)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

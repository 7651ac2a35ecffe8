"""The `imgpipe` command.

`inspect` and `render` need no stack. `dev` runs the local stack; `upload`, `url`, `status`, `redrive`,
`export` and `keys` talk to a stack: the local one by default (found through the state file in the data
directory, `--data DIR` or `$IMGPIPE_DATA`, default `.imgpipe/`), or a deployed one given its outputs
(`--stack-outputs FILE`, as `cdk deploy --outputs-file FILE` writes them) and the shell's AWS credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
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


def _ensure_repo_on_path() -> None:
    """`infra.constants` (shared names) lives beside `functions/` in the repository, which `python -m` from
    the repository root finds; the `imgpipe` console script started elsewhere does not."""
    try:
        import infra.constants  # noqa: F401, PLC0415 - only probing whether it can be imported
    except ModuleNotFoundError:
        root = Path(__file__).resolve().parents[2]
        if (root / "infra" / "constants.py").is_file():
            sys.path.insert(0, str(root))


def _stack_command(name: str) -> Callable[[argparse.Namespace], int]:
    """A subcommand that needs the stack code, imported when it runs (after `_ensure_repo_on_path`)."""

    def run(args: argparse.Namespace) -> int:
        _ensure_repo_on_path()
        from imgpipe.dev import commands  # noqa: PLC0415 - inspect and render need no stack code

        code: int = getattr(commands, name)(args)
        return code

    return run


def _add_target_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--data", help="data directory of the local stack (default: $IMGPIPE_DATA or .imgpipe)"
    )
    command.add_argument(
        "--stack-outputs",
        metavar="FILE",
        help="talk to a deployed stack: its outputs as JSON (`cdk deploy --outputs-file FILE`)",
    )


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

    dev_cmd = commands.add_parser(
        "dev", help="run the whole stack locally: gallery, images and API on one port"
    )
    dev_cmd.add_argument("--port", type=int, default=8750, help="the one HTTP port (0: any free port)")
    dev_cmd.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    dev_cmd.add_argument("--data", help="data directory: keys, state and originals (default: .imgpipe)")
    dev_cmd.add_argument("--tenant", default="local", help="tenant of the gallery's uploads and the samples")
    dev_cmd.add_argument(
        "--no-seed", action="store_true", help="do not upload sample images on a first start"
    )
    dev_cmd.add_argument(
        "--visibility-timeout", type=int, default=30, help="seconds before a failed message is retried"
    )
    dev_cmd.add_argument("--verbose", action="store_true", help="the handlers' JSON logs and metrics too")
    dev_cmd.set_defaults(run=_stack_command("dev"))

    upload_cmd = commands.add_parser("upload", help="upload images to the originals bucket")
    upload_cmd.add_argument("paths", nargs="+", metavar="PATH")
    upload_cmd.add_argument(
        "--batch", metavar="NAME", help="upload as one batch (bulk lane, Batch Completed)"
    )
    upload_cmd.add_argument("--tenant", help="tenant (default: the local stack's, else 'local')")
    upload_cmd.add_argument(
        "--wait", action="store_true", help="wait until every upload is READY or REJECTED"
    )
    upload_cmd.add_argument("--timeout", type=float, default=300, help="seconds --wait waits at most")
    _add_target_options(upload_cmd)
    upload_cmd.set_defaults(run=_stack_command("upload"))

    url_cmd = commands.add_parser("url", help="the delivery URL of a transformation (signed with --sign)")
    url_cmd.add_argument("key", help="the original's key, e.g. uploads/local/photo.jpg")
    url_cmd.add_argument("params", nargs="*", help="parameters: 'w=800&fm=webp' or w=800 fm=webp")
    url_cmd.add_argument(
        "--sign", action="store_true", help="sign it even when the policy does not require it"
    )
    url_cmd.add_argument("--expires", type=int, metavar="SECONDS", help="add exp= (signed URLs expire)")
    _add_target_options(url_cmd)
    url_cmd.set_defaults(run=_stack_command("url"))

    status_cmd = commands.add_parser("status", help="queue depths, dead letters, images by status, batches")
    status_cmd.add_argument("--json", action="store_true", help="print JSON")
    _add_target_options(status_cmd)
    status_cmd.set_defaults(run=_stack_command("status"))

    redrive_cmd = commands.add_parser("redrive", help="move dead-letter messages back to their queue")
    redrive_cmd.add_argument("--lane", choices=["interactive", "bulk"], help="only this lane (default: both)")
    _add_target_options(redrive_cmd)
    redrive_cmd.set_defaults(run=_stack_command("redrive"))

    export_cmd = commands.add_parser(
        "export", help="ZIP of a batch with SEO file names and names.csv (POST /v1/batches/{id}/export)"
    )
    export_cmd.add_argument("batch")
    export_cmd.add_argument(
        "-o", "--output", metavar="FILE", help="where to write the ZIP (default: BATCH.zip)"
    )
    export_cmd.add_argument(
        "--api-key",
        help="API key (x-api-key) of a deployed stack (default: $IMGPIPE_API_KEY; local: the data dir's)",
    )
    export_cmd.add_argument(
        "--wait", action="store_true", help="first wait until the batch is complete (GET /v1/batches/{id})"
    )
    export_cmd.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the batch and the ZIP"
    )
    _add_target_options(export_cmd)
    export_cmd.set_defaults(run=_stack_command("export"))

    keys_cmd = commands.add_parser(
        "keys", help="URL-signing keys: list, add or retire (the secret and the edge store together)"
    )
    keys_actions = keys_cmd.add_subparsers(dest="keys_action", required=True)
    keys_list = keys_actions.add_parser("list", help="key ids and fingerprints (the first one signs)")
    keys_add = keys_actions.add_parser("add", help="generate a key and add it after the others")
    keys_retire = keys_actions.add_parser("retire", help="remove a key (never the last one)")
    keys_retire.add_argument("key_id", metavar="KEY_ID")
    keys_sync = keys_actions.add_parser(
        "sync", help="deployed: copy the secret's keys to the edge store again (after a failed change)"
    )
    for action in (keys_list, keys_add):
        action.add_argument("--show", action="store_true", help="print the secrets too")
    for action in (keys_list, keys_add, keys_retire, keys_sync):
        _add_target_options(action)
    keys_cmd.set_defaults(run=_stack_command("keys"))
    return parser


# What a shell reports for a process that a closed pipe stopped (128 + SIGPIPE).
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`imgpipe status | head`): stop quietly. Python's own flush at exit would
        # fail again on the same stdout, so point it at /dev/null first.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


if __name__ == "__main__":
    raise SystemExit(main())

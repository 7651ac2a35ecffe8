"""The `imgpipe` subcommands that run or talk to a stack (`dev`, `upload`, `url`, `status`, `redrive`,
`export`, `keys`). `imgpipe.cli` imports this module only for them, so `inspect` and `render` need no
stack code.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from imgpipe.core import SpecError
from imgpipe.delivery import parse_signing_keys
from imgpipe.dev import ops
from imgpipe.dev.apiclient import (
    ApiEndpoint,
    ApiError,
    api_key_from_env,
    deployed_api,
    export_batch,
    local_api,
    wait_for_batch,
)
from imgpipe.dev.datadir import default_data_dir
from imgpipe.dev.keys import (
    DeployedKeyRing,
    KeyChangeIncomplete,
    KeyRing,
    LocalKeyRing,
    add_key,
    describe,
    retire_key,
)
from imgpipe.dev.ops import Target, TargetError, deployed_target, local_target
from imgpipe.dev.stack import AlreadyRunning, DevOptions, DevStack, PortInUse, load_local_config
from imgpipe.dev.urls import build_url, join_query
from imgpipe.dev.web import BadRequest, batch_id_from
from imgpipe.records import utc_now_text
from imgpipe.uploads import InvalidUploadKey

EXIT_FAILED = 1
EXIT_USAGE = 64
EXIT_UNAVAILABLE = 69  # sysexits' EX_UNAVAILABLE: no stack to talk to, port taken, feature not built


def _print_json(payload: object, stream: TextIO | None = None) -> None:
    print(json.dumps(payload, indent=2, ensure_ascii=False), file=stream or sys.stdout)


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data) if args.data else default_data_dir()


def _target(args: argparse.Namespace) -> Target:
    if args.stack_outputs:
        return deployed_target(Path(args.stack_outputs))
    return local_target(_data_dir(args))


def _fail(message: str, code: int = EXIT_UNAVAILABLE) -> int:
    print(f"imgpipe: {message}", file=sys.stderr)
    return code


# dev


def dev(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def echo(line: str) -> None:
        print(line, flush=True)

    options = DevOptions(
        data_dir=_data_dir(args),
        host=args.host,
        port=args.port,
        tenant=args.tenant,
        seed=not args.no_seed,
        visibility_timeout=args.visibility_timeout,
        verbose=args.verbose,
        echo=echo,
    )
    stack = DevStack(options)
    started = time.monotonic()
    print("imgpipe dev: starting the local stack (embedded AWS: moto server on 127.0.0.1) ...", flush=True)
    try:
        stack.start()
    except (PortInUse, AlreadyRunning) as error:
        return _fail(str(error))
    _print_banner(stack, time.monotonic() - started)

    def on_signal(signum: int, _: Any) -> None:
        stop.set()

    # Installed explicitly: a shell that starts the command in the background ignores SIGINT otherwise.
    previous = {number: signal.signal(number, on_signal) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        print(
            "\nimgpipe dev: stopping (a batch in progress gets 10 s; "
            "anything unfinished is redone on the next start)",
            flush=True,
        )
        stack.stop(grace_seconds=10)
        print("imgpipe dev: stopped", flush=True)
    return 0


def _cli() -> str:
    """How to call `imgpipe` from here: the bare name when it is on PATH, else the venv's script."""
    script = Path(sys.executable).parent / "imgpipe"
    if shutil.which("imgpipe") == str(script) or not script.exists():
        return "imgpipe"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _print_banner(stack: Any, seconds: float) -> None:
    config = stack.config
    lanes = config.lanes
    resize = stack.resize
    delivery = (
        "resize handler on a miss"
        if resize and resize.available
        else (f"NOT AVAILABLE on a miss: {resize.unavailable_reason if resize else 'no resize handler'}")
    )
    api = stack.api
    if api is not None and api.available:
        key = stack.api_key()
        api_line = (
            f"  api       {stack.url}/v1/...        management API (docs: {stack.url}/v1/docs)\n"
            f"  api key   {key.value}   (x-api-key; tenant {key.tenant}, plan {key.plan}; "
            f"in {stack.data.api_keys_file})"
        )
    else:
        reason = api.unavailable_reason if api is not None else "not started"
        api_line = f"  api       {stack.url}/v1/...        answers 501: {reason}"
    restored = f", {stack.restored} original(s) restored" if stack.restored else ""
    seeded = f", {stack.seeded} sample(s) seeded" if stack.seeded else ""
    lines = [
        f"imgpipe dev: ready in {seconds:.1f} s",
        "",
        f"  gallery   {stack.url}/",
        f"  images    {stack.url}/{{key}}?w=800   edge rules → transformed bucket → {delivery}",
        api_line,
        f"  aws       {stack.endpoint}   (moto server in this process; fake credentials, loopback only)",
        f"  data      {stack.data.path}{restored}{seeded}",
        f"  signing   {config.signing_policy}; keys in {stack.data.keys_file}",
        f"  lanes     interactive: batch {lanes.interactive.batch_size}, window "
        f"{lanes.interactive.batching_window_seconds} s; bulk: batch {lanes.bulk.batch_size}, window "
        f"{lanes.bulk.batching_window_seconds} s; visibility {stack.options.visibility_timeout} s; "
        f"DLQ after {lanes.max_receive_count} receives",
        "",
        f"  try       {_cli()} upload photo.jpg --wait    {_cli()} status    {_cli()} url KEY w=400",
        f"            curl -H 'x-api-key: KEY' {stack.url}/v1/images    {_cli()} export BATCH",
        "",
        "Ctrl-C stops it.",
    ]
    print("\n".join(lines), flush=True)


# upload


class _ProgressBar:
    """One line on stderr, redrawn in place on a terminal; a line per step otherwise."""

    WIDTH = 28

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.tty = stream.isatty()
        self._last = ""

    def draw(self, fraction: float, text: str, *, step_done: bool = False) -> None:
        filled = int(self.WIDTH * max(0.0, min(1.0, fraction)))
        line = f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {text}"
        if self.tty:
            self.stream.write("\r" + line.ljust(len(self._last)))
            self.stream.flush()
        elif step_done and line != self._last:
            self.stream.write(line + "\n")
            self.stream.flush()
        self._last = line

    def done(self) -> None:
        if self.tty and self._last:
            self.stream.write("\n")
            self.stream.flush()


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


def upload(args: argparse.Namespace) -> int:
    paths = [Path(path) for path in args.paths]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        return _fail(f"not a file: {', '.join(missing)}", EXIT_USAGE)
    try:
        target = _target(args)
        tenant = args.tenant or target.extra.get("tenant") or "local"
        batch_id = None
        if args.batch:
            batch_id = batch_id_from(args.batch)
            ops.open_batch(target, tenant, batch_id, len(paths))
        since = utc_now_text()
        bar = _ProgressBar(sys.stderr, "upload ")
        counted = [0]

        def uploaded(files: int, total_files: int, sent: int, total: int) -> None:
            bar.draw(
                sent / total if total else 1.0,
                f"{files}/{total_files} files  {_megabytes(sent)}/{_megabytes(total)}",
                step_done=files > counted[0],
            )
            counted[0] = files

        keys = ops.upload_files(target, paths, tenant=tenant, batch_id=batch_id, progress=uploaded)
        bar.done()
    except (TargetError, InvalidUploadKey) as error:
        return _fail(str(error))
    except BadRequest as error:
        return _fail(error.problem.detail, EXIT_USAGE)
    if not args.wait:
        for key in keys:
            print(key)
        where = f" (batch {batch_id})" if batch_id else ""
        print(
            f"uploaded {len(keys)} file(s){where}; `imgpipe status` shows the pipeline's progress",
            file=sys.stderr,
        )
        return 0
    waiting = _ProgressBar(sys.stderr, "process")
    seen = [-1]

    def processed(final: int, total: int) -> None:
        waiting.draw(final / total if total else 1.0, f"{final}/{total} final", step_done=final > seen[0])
        seen[0] = final

    records = ops.wait_for(target, keys, timeout=args.timeout, since=since, progress=processed)
    waiting.done()
    failed = False
    for key in keys:
        record = records.get(key)
        if record is None:
            print(f"{key}\tNOT SEEN")
            failed = True
        elif record.status == "READY":
            print(
                f"{key}\tREADY\t{record.width}x{record.height} {record.format}, "
                f"{len(record.renditions)} renditions"
            )
        elif record.status == "REJECTED":
            print(f"{key}\tREJECTED\t{record.reason}: {record.reason_message or ''}")
        else:
            print(f"{key}\t{record.status}")
            failed = failed or record.status == "PROCESSING"
    return EXIT_FAILED if failed else 0


# url


def url(args: argparse.Namespace) -> int:
    try:
        target = _target(args)
        presets = target.presets or load_local_config().presets
        policy: Any = target.signing_policy
        query = join_query(args.params)
        expires_at = int(time.time()) + args.expires if args.expires else None
        built = build_url(args.key, query, presets=presets, policy=policy, secret=None, expires_at=expires_at)
        if args.sign or built.needs_signature:
            try:
                secret = parse_signing_keys(target.signing_keys())[0]
            except Exception as error:  # a deployed secret the caller may not read
                if args.sign:
                    raise TargetError(f"cannot read the signing keys: {error}") from None
            else:
                built = build_url(
                    args.key,
                    query,
                    presets=presets,
                    policy=policy,
                    secret=secret,
                    sign_always=args.sign,
                    expires_at=expires_at,
                )
    except TargetError as error:
        return _fail(str(error))
    except SpecError as error:
        _print_json({"error": "bad-parameter", "param": error.param, "message": error.message}, sys.stderr)
        return EXIT_USAGE
    print(target.images_url + built.path_and_query)
    if built.needs_signature and not built.signed:
        print(
            "note: this URL needs a signature under the stack's policy, and no key could be read",
            file=sys.stderr,
        )
    return 0


# status, redrive, export


def status(args: argparse.Namespace) -> int:
    try:
        report = ops.summary(_target(args))
    except TargetError as error:
        return _fail(str(error))
    if args.json:
        _print_json(report)
        return 0
    print(report["stack"])
    print()
    print(f"{'queue':<14}{'waiting':>9}{'in flight':>11}{'delayed':>9}{'dead letters':>14}")
    for lane, depth in report["queues"].items():
        queue = depth["queue"] or {}
        print(
            f"{lane:<14}{queue.get('visible', '?'):>9}{queue.get('in_flight', '?'):>11}"
            f"{queue.get('delayed', '?'):>9}{depth['dlq']['visible'] + depth['dlq']['in_flight']:>14}"
        )
    print()
    print("images        " + "   ".join(f"{status} {count}" for status, count in report["images"].items()))
    for batch in report["batches"]:
        state = "completed" if batch["completed"] else "open"
        print(
            f"batch         {batch['tenant']}/{batch['batch_id']}: "
            f"{batch['done']}/{batch['expected'] or '?'} "
            f"done ({batch['ready']} ready, {batch['rejected']} rejected), {state}"
        )
    dead = sum(depth["dlq"]["visible"] + depth["dlq"]["in_flight"] for depth in report["queues"].values())
    if dead:
        print(f"\n{dead} message(s) in dead-letter queues: fix the cause, then `imgpipe redrive`")
    return 0


def redrive(args: argparse.Namespace) -> int:
    try:
        moved = ops.redrive(_target(args), lanes=[args.lane] if args.lane else None)
    except TargetError as error:
        return _fail(str(error))
    for lane, count in moved.items():
        print(f"{lane}: moved {count} message(s) from the dead-letter queue back to the queue")
    return 0


def _api_endpoint(args: argparse.Namespace) -> ApiEndpoint:
    key = args.api_key or api_key_from_env()
    if args.stack_outputs:
        return deployed_api(Path(args.stack_outputs), key)
    return local_api(_data_dir(args), key)


def export(args: argparse.Namespace) -> int:
    output = Path(args.output) if args.output else Path(f"{args.batch}.zip")
    try:
        endpoint = _api_endpoint(args)
        if args.wait:

            def report(batch: dict[str, Any]) -> None:
                print(
                    f"batch {args.batch}: {batch.get('done')}/{batch.get('expected') or '?'} done "
                    f"({batch.get('ready')} ready, {batch.get('rejected')} rejected)",
                    file=sys.stderr,
                )

            wait_for_batch(endpoint, args.batch, timeout=args.timeout, progress=report)
        export = export_batch(endpoint, args.batch, output, timeout=args.timeout)
    except TargetError as error:
        return _fail(str(error))
    except ApiError as error:
        if error.status == 0:
            return _fail(error.detail)
        code = f" ({error.code})" if error.code else ""
        exit_code = EXIT_USAGE if error.status in (400, 401, 403, 404, 422) else EXIT_FAILED
        return _fail(
            f"export of batch {args.batch!r} refused: {error.status}{code}: {error.detail}", exit_code
        )
    print(str(output))
    print(
        f"exported batch {export.get('batch_id')}: {export.get('files')} file(s), "
        f"{export.get('skipped')} skipped, {_megabytes(output.stat().st_size)}",
        file=sys.stderr,
    )
    return 0


# keys


def _key_ring(args: argparse.Namespace) -> KeyRing:
    if args.stack_outputs:
        return DeployedKeyRing.from_outputs(Path(args.stack_outputs))
    return LocalKeyRing(_data_dir(args))


def keys(args: argparse.Namespace) -> int:
    try:
        ring = _key_ring(args)
        action = args.keys_action
        if action == "list":
            document = ring.read()
            for view in describe(document):
                print(view.line(args.show))
            if isinstance(ring, DeployedKeyRing) and not ring.edge_in_step(document):
                print(
                    "the edge store's keys differ from the secret's: run `imgpipe keys sync`",
                    file=sys.stderr,
                )
                return EXIT_FAILED
        elif action == "add":
            added = add_key(ring)
            print(added.line(args.show))
            print(
                f"added {added.key_id} to the {ring.description}; signatures made with it are accepted "
                "now (the resize function sees it within 5 minutes). Signers that take the first key keep "
                f"the old one until it is retired; `imgpipe keys list --show` prints the new secret.",
                file=sys.stderr,
            )
        elif action == "retire":
            remaining = retire_key(ring, args.key_id)
            print(
                f"retired {args.key_id} from the {ring.description}; URLs signed with it are refused "
                f"from now on. {next(iter(remaining))} signs new URLs.",
                file=sys.stderr,
            )
        elif action == "sync":
            if not isinstance(ring, DeployedKeyRing):
                return _fail("keys sync is for a deployed stack (--stack-outputs FILE)", EXIT_USAGE)
            ring.sync()
            print(f"the edge store holds the secret's keys again ({ring.description})", file=sys.stderr)
    except (TargetError, KeyChangeIncomplete) as error:
        return _fail(str(error), EXIT_FAILED if isinstance(error, KeyChangeIncomplete) else EXIT_UNAVAILABLE)
    return 0

"""thumbor as a peer: its own venv under bench/.peers/thumbor, a generated config, a loopback server.

Installing: `thumbor[opencv]` (pinned) into a venv of its own. thumbor 7.8 needs no system packages for
this benchmark: pycurl is only in its `extra-libs` extra (the HTTP loader; we use the file loader), and the
Pillow 12 wheels it pulls carry libavif, which thumbor's PIL engine uses for AVIF output (`PIL._avif`), so
neither `pillow-avif-plugin` nor libcurl headers are needed. OpenCV is installed for `smart/` crops (face and
feature detectors), the counterpart of imgpipe's `g=auto`.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

THUMBOR_REQUIREMENT = "thumbor[opencv]==7.8.0"
QUALITY = 80  # thumbor's default QUALITY; WEBP_QUALITY and AVIF_QUALITY default to it
_ACCESS_LINE = re.compile(r"tornado\.access:\w+ (\d{3}) GET (\S+) \([^)]*\) ([\d.]+)ms")


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def ensure_thumbor(venv: Path, log: Path) -> Path:
    """Create the venv and install thumbor once; later calls return at once. Returns the venv's python."""
    stamp = venv / ".bench-installed"
    python = venv_python(venv)
    if stamp.is_file() and stamp.read_text().strip() == THUMBOR_REQUIREMENT and python.exists():
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"  installing {THUMBOR_REQUIREMENT} into {venv} (once; log: {log})", flush=True)
    with log.open("w") as out:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=out, stderr=out)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        result = subprocess.run([*pip, THUMBOR_REQUIREMENT], stdout=out, stderr=out, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pip install {THUMBOR_REQUIREMENT} failed; see {log}")
        if not _has_avif(python):
            # Older Pillow builds lack AVIF; thumbor then looks for the plugin.
            subprocess.run([*pip, "pillow-avif-plugin"], stdout=out, stderr=out, check=True)
    if not _has_avif(python):
        raise RuntimeError("thumbor's venv has no AVIF encoder (neither PIL._avif nor pillow_avif)")
    stamp.write_text(THUMBOR_REQUIREMENT + "\n")
    return python


def _has_avif(python: Path) -> bool:
    probe = "import thumbor.engines.pil as p, sys; sys.exit(0 if p.HAVE_AVIF else 1)"
    return subprocess.run([str(python), "-c", probe], capture_output=True, check=False).returncode == 0


def versions(python: Path) -> dict[str, str]:
    probe = (
        "import json, thumbor, PIL, cv2, tornado, sys; from PIL import features; "
        "print(json.dumps({'thumbor': thumbor.__version__, 'pillow': PIL.__version__, "
        "'opencv': cv2.__version__, "
        "'tornado': tornado.version, 'python': sys.version.split()[0], "
        "'libavif': features.version('avif') or '', 'libwebp': features.version('webp') or '', "
        "'libjpeg': features.version('jpg') or ''}))"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout
    parsed: dict[str, str] = json.loads(out)
    return parsed


def write_config(path: Path, photos_dir: Path) -> None:
    settings = {
        "LOADER": "thumbor.loaders.file_loader",
        "FILE_LOADER_ROOT_PATH": str(photos_dir),
        "STORAGE": "thumbor.storages.no_storage",  # no source cache between requests
        "RESULT_STORAGE": None,  # no result cache: every request is a real render
        "ENGINE": "thumbor.engines.pil",
        "ALLOW_UNSAFE_URL": True,
        "AUTO_WEBP": False,
        "AUTO_AVIF": False,
        "RESPECT_ORIENTATION": True,  # default False would leave 6 of the photos on their side
        "QUALITY": QUALITY,
        "DETECTORS": ["thumbor.detectors.face_detector", "thumbor.detectors.feature_detector"],
        "NON_BLOCKING_SOCKETS": True,
        "MAX_WAIT_SECONDS_BEFORE_SERVER_SHUTDOWN": 0,
        "MAX_WAIT_SECONDS_BEFORE_IO_SHUTDOWN": 0,
    }
    path.write_text("".join(f"{key} = {value!r}\n" for key, value in settings.items()))


def _die_with_parent() -> None:
    # The server must not outlive the worker that started it, whatever kills the worker.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class ThumborServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def vm_kb(self, field: str) -> int:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) if match else 0

    def access_log(self) -> list[tuple[int, str, float]]:
        """(status, path, ms) of every /unsafe/ request, as tornado logged them (thumbor's own timing)."""
        entries = []
        for line in self.log.read_text(errors="replace").splitlines():
            match = _ACCESS_LINE.search(line)
            if match and match.group(2).startswith("/unsafe/"):
                entries.append((int(match.group(1)), match.group(2), float(match.group(3))))
        return entries


@contextlib.contextmanager
def serve(python: Path, config: Path, log: Path, ready_timeout: float = 90.0) -> Iterator[ThumborServer]:
    """Start thumbor on an already-listening 127.0.0.1 socket (no port race); always stop it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    thumbor = python.parent / "thumbor"
    command = [str(thumbor), "-f", str(sock.fileno()), "-c", str(config), "-l", "info"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            pass_fds=(sock.fileno(),),
            env=env,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads are running in the worker
        )
    sock.close()
    server = ThumborServer(process, port, log)
    try:
        _wait_ready(server, ready_timeout)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: ThumborServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"thumbor exited with {server.process.returncode}:\n{tail}")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("GET", "/healthcheck")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.2)
    raise RuntimeError(f"thumbor did not answer /healthcheck within {timeout:.0f} s; see {server.log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

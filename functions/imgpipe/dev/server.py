"""The one HTTP port of `imgpipe dev` (stdlib `ThreadingHTTPServer`); routing lives in `web.DevWeb`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from imgpipe.dev.cdn import HttpAnswer

if TYPE_CHECKING:
    from imgpipe.dev.web import DevWeb

_log = logging.getLogger("imgpipe-dev.http")
# Largest request body read: the ingest limit on uploads plus room for the form's other fields.
FORM_OVERHEAD_BYTES = 1024 * 1024


class DevHttpServer(ThreadingHTTPServer):
    """Bound when created (so a taken port is reported before anything else starts); `web` is attached
    once the stack behind it is up, and `serve_forever` starts after that."""

    daemon_threads = True
    web: DevWeb

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, DevRequestHandler)


class DevRequestHandler(BaseHTTPRequestHandler):
    server_version = "imgpipe-dev"
    protocol_version = "HTTP/1.1"
    server: DevHttpServer

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Any other method (TRACE, PROPFIND, ...) goes to the routes too, which answer it with a problem
        # (the API: 405 with Allow); without this the stdlib answers an HTML 501 by itself.
        if name.startswith("do_") and name[3:].isalpha() and name[3:].isupper():
            return lambda: self._serve(name[3:])
        raise AttributeError(name)

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_OPTIONS(self) -> None:
        self._serve("OPTIONS")

    def _serve(self, method: str) -> None:
        target = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        web = self.server.web
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > web.max_body_bytes + FORM_OVERHEAD_BYTES:
            answer = web.too_large(length)
            self.close_connection = True  # the body is not read
        else:
            body = self.rfile.read(length) if length else b""
            try:
                answer = web.handle(
                    method,
                    target.path or "/",
                    target.query,
                    headers,
                    body,
                    client_ip=str(self.client_address[0]),
                )
            except Exception:
                _log.exception("%s %s failed", method, self.path)
                answer = web.internal_error()
        self._send(answer, method)

    def _send(self, answer: HttpAnswer, method: str) -> None:
        body = answer.body
        try:
            self.send_response(answer.status)
            sent_length = False
            for name, value in answer.headers.items():
                if name.lower() == "content-length":
                    sent_length = True
                self.send_header(name, value)
            if not sent_length and answer.status not in (204, 304):
                self.send_header("content-length", str(len(body)))
            self.end_headers()
            if method != "HEAD" and body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (a browser cancelling an image)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("%s - %s", self.address_string(), format % args)


def make_server(host: str, port: int) -> DevHttpServer:
    return DevHttpServer((host, port))

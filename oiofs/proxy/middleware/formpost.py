"""formpost: files uploaded straight from an HTML form, signed with the temp URL keys.

A browser ``POST``s ``multipart/form-data`` to ``/v1/<account>/<container>[/<prefix>]``
with the fields ``redirect``, ``max_file_size``, ``max_file_count``, ``expires`` and
``signature`` (:mod:`oiofs.proxy.middleware.formpost_form`; optionally ``x_delete_at``
or ``x_delete_after``) before its file fields. Each file becomes the object
``<prefix><filename>`` by a ``PUT`` subrequest allowed on that path only, its body
streamed from the form as it arrives: the form is decoded by werkzeug's sans-IO
``MultipartDecoder`` fed 64 KiB at a time, so neither the form nor a file is ever held
in memory (werkzeug's higher-level form parser, which spools files, is not used).

The answer is ``303 See Other`` to ``redirect?status=<code>&message=<text>`` when the
form gives a redirect, else the status itself with a short text (Swift's forms).

Configuration (``[filter:formpost]``)::

    allowed_digests = sha1 sha256 sha512

Requests other than a ``POST`` of ``multipart/form-data`` cost two comparisons.
"""

from __future__ import annotations

import time

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Field,
    File,
    MultipartDecoder,
    NeedData,
    Preamble,
)

from oiofs.common.exceptions import HTTPBadRequest, HTTPError, HTTPForbidden
from oiofs.common.http.body import RequestBody
from oiofs.proxy.controllers.base import AUTHORIZE_KEY, AUTHORIZE_OVERRIDE_KEY
from oiofs.proxy.controllers.info import register_info
from oiofs.proxy.middleware.formpost_form import (
    MAX_VALUE_LENGTH,
    FormInvalid,
    FormRefused,
    answer,
    check_signature,
    int_attribute,
    object_path,
)
from oiofs.proxy.middleware.subrequest import call, make_environ, to_wsgi
from oiofs.proxy.middleware.tempurl import temp_url_keys
from oiofs.proxy.middleware.tempurl_verify import DIGESTS
from oiofs.proxy.request import ensure_trans_id
from oiofs.proxy.response import status_line

FORMPOST_USER = ".wsgi.formpost"
READ_SIZE = 65536
#: the most a part's headers (or the preamble) may buffer
MAX_BUFFER = 1 << 20


class FormStream:
    """The events of a multipart body read from ``body`` as they are needed."""

    def __init__(self, body: RequestBody, boundary: bytes):
        self.body = body
        self.decoder = MultipartDecoder(boundary, MAX_BUFFER)

    def next(self):
        """The next event (never ``NeedData``); ``FormInvalid`` if the form is broken."""
        try:
            while True:
                event = self.decoder.next_event()
                if not isinstance(event, NeedData):
                    return event
                chunk = self.body.read(READ_SIZE)
                self.decoder.receive_data(chunk or None)
        except (ValueError, RequestEntityTooLarge) as err:
            raise FormInvalid(f"invalid form: {err}") from None

    def value(self) -> str:
        """The rest of a field's value (at most ``MAX_VALUE_LENGTH`` bytes kept)."""
        kept = bytearray()
        while True:
            event = self.next()
            if not isinstance(event, Data):
                raise FormInvalid("invalid form")
            if len(kept) < MAX_VALUE_LENGTH:
                kept += event.data[:MAX_VALUE_LENGTH - len(kept)]
            if not event.more_data:
                return kept.decode("utf-8", "replace")


class FilePart:
    """The body of one file part, read (once) by the ``PUT`` that stores it."""

    def __init__(self, stream: FormStream, max_size: int):
        self.stream = stream
        self.max_size = max_size
        self.pending = b""
        self.finished = False
        self.size = 0
        self.too_big = False

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all pending ones if negative); ``b''`` at its end."""
        while not self.pending and not self.finished:
            event = self.stream.next()
            if not isinstance(event, Data):
                raise FormInvalid("invalid form")
            self.pending = event.data
            self.finished = not event.more_data
        if size is None or size < 0:
            size = len(self.pending)
        data, self.pending = self.pending[:size], self.pending[size:]
        self.size += len(data)
        if self.size > self.max_size:
            self.too_big = True
            raise HTTPBadRequest("max_file_size exceeded")  # into the PUT reading it
        return data

    def drain(self) -> None:
        """Skip what the ``PUT`` did not read."""
        self.max_size = self.size = 0
        while not self.finished:
            self.pending = b""
            self.read(READ_SIZE)
            self.size = 0
        self.pending = b""


class FormPost:
    """The formpost filter."""

    def __init__(self, app, conf: dict):
        self.app = app
        digests = (conf.get("allowed_digests") or "sha1 sha256 sha512").split()
        self.allowed_digests = frozenset(d for d in digests if d in DIGESTS)
        register_info("formpost", {"allowed_digests": sorted(self.allowed_digests)})

    def __call__(self, environ, start_response):
        if environ["REQUEST_METHOD"] != "POST" or \
                not environ.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
            return self.app(environ, start_response)
        ctype, options = parse_options_header(environ["CONTENT_TYPE"])
        boundary = options.get("boundary")
        path = environ.get("PATH_INFO", "")
        parts = path.split("/", 4)
        if ctype != "multipart/form-data" or not boundary or len(parts) < 4 or \
                parts[1] not in ("v1", "v1.0") or not all(parts[2:4]):
            return self.app(environ, start_response)
        try:
            text_path = path.encode("latin-1").decode("utf-8")
            redirect, status, message = self._run(environ, text_path,
                                                  boundary.encode("latin-1"))
        except (FormInvalid, UnicodeError) as err:
            body = f"FormPost: {err}".encode()
            start_response("400 Bad Request", [
                ("Content-Type", "text/plain"), ("Content-Length", str(len(body))),
                ("X-Trans-Id", ensure_trans_id(environ))])
            return [body]
        except HTTPError as err:  # reading the client's body: 408 or 499
            redirect, status, message = None, status_line(err.status), err.description
        status, headers, body = answer(redirect, status, message)
        start_response(status, headers + [("X-Trans-Id", ensure_trans_id(environ))])
        return [body]

    def _run(self, environ: dict, path: str, boundary: bytes
             ) -> tuple[str | None, str, str]:
        """Store the form's files: ``(redirect, status line, message)``."""
        length = environ.get("CONTENT_LENGTH")
        stream = FormStream(RequestBody.of(
            environ, int(length) if length and length.isdigit() else None), boundary)
        attributes: dict[str, str] = {}
        status, message, files, checked = "", "", 0, False
        while True:
            event = stream.next()
            if isinstance(event, Epilogue):
                break
            if isinstance(event, Preamble):
                continue
            if isinstance(event, File) and event.filename:
                files += 1
                if files > int_attribute(attributes, "max_file_count"):
                    status, message = "400 Bad Request", "max file count exceeded"
                    break
                try:
                    if not checked:
                        self._check(environ, path, attributes)
                        checked = True
                    status, message = self._store(environ, path, attributes, event,
                                                  stream)
                except FormRefused as refused:
                    status, message = refused.status, refused.message
                if not status.startswith("2"):
                    break
            elif isinstance(event, (Field, File)):
                value = stream.value()
                if event.name:
                    attributes[event.name.lower()] = value
        if not status:
            status, message = "400 Bad Request", "no files to process"
        return attributes.get("redirect") or None, status, message

    def _check(self, environ: dict, path: str, attributes: dict[str, str]) -> None:
        parts = path.split("/", 4)
        keys = temp_url_keys(self.app, environ, parts[2], parts[3])
        check_signature(path, attributes, keys, allowed_digests=self.allowed_digests,
                        now=time.time())

    def _store(self, environ: dict, path: str, attributes: dict[str, str], event: File,
               stream: FormStream) -> tuple[str, str]:
        """``PUT`` one file: ``(status line, message)``."""
        target = to_wsgi(object_path(path, event.filename or ""))
        headers = {"Transfer-Encoding": "chunked",
                   "Content-Type": event.headers.get("Content-Type")
                   or "application/octet-stream"}
        for name, header in (("x_delete_at", "X-Delete-At"),
                             ("x_delete_after", "X-Delete-After")):
            if attributes.get(name):
                headers[header] = str(int_attribute(attributes, name))
        body = FilePart(stream, int_attribute(attributes, "max_file_size"))
        env = make_environ(environ, "PUT", target, headers=headers, body_file=body)
        env.pop("CONTENT_LENGTH", None)
        env["REMOTE_USER"] = FORMPOST_USER
        env[AUTHORIZE_OVERRIDE_KEY] = True
        env.pop("HTTP_X_AUTH_TOKEN", None)
        env.pop("HTTP_X_STORAGE_TOKEN", None)
        own = tuple(target.encode("latin-1").decode("utf-8").split("/", 4)[2:])

        def authorize(req, acl=None, target_of_check=None, method=None) -> None:
            if tuple(target_of_check or (req.account, req.container, req.obj)) != own:
                raise HTTPForbidden()

        env[AUTHORIZE_KEY] = authorize
        resp = call(self.app, env)
        resp.read(1 << 16)
        if body.too_big:
            return "400 Bad Request", "max_file_size exceeded"
        body.drain()
        return status_line(resp.status), ""


def filter_factory(global_conf: dict, **local_conf):
    """PasteDeploy entry point ``egg:oiofs#formpost``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return lambda app: FormPost(app, conf)

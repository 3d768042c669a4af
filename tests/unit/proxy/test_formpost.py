"""formpost's sans-IO decisions and its streaming form reader, on forms made by a real
multipart encoder (urllib3's)."""

import base64
import hashlib
import hmac
import io

import pytest
from urllib3 import encode_multipart_formdata
from werkzeug.sansio.multipart import Epilogue, Field, File, Preamble

from oiofs.common.exceptions import HTTPBadRequest
from oiofs.common.http.body import RequestBody
from oiofs.proxy.middleware.formpost import FilePart, FormStream
from oiofs.proxy.middleware.formpost_form import (
    FormInvalid,
    FormRefused,
    check_signature,
    hmac_body,
    int_attribute,
    sign,
)

ALL = frozenset(("sha1", "sha256", "sha512"))
PATH = "/v1/AUTH_a/c/pre-"


def attributes(expires=2000, **extra):
    attrs = {"redirect": "", "max_file_size": "100", "max_file_count": "2",
             "expires": str(expires)}
    attrs.update(extra)
    return attrs


@pytest.mark.parametrize("digest", ["sha1", "sha256", "sha512"])
def test_hex_signatures_of_each_digest(digest):
    attrs = attributes()
    attrs["signature"] = sign(b"key", PATH, "", 100, 2, 2000, digest)
    check_signature(PATH, attrs, [b"other", b"key"], allowed_digests=ALL, now=1000)
    with pytest.raises(FormRefused) as refused:
        check_signature(PATH, attrs, [b"other"], allowed_digests=ALL, now=1000)
    assert (refused.value.status, refused.value.message) == \
        ("401 Unauthorized", "invalid signature")
    with pytest.raises(FormRefused):
        check_signature(PATH, attrs, [b"key"], allowed_digests=ALL - {digest}, now=1000)


def test_base64_signature_and_expiry():
    attrs = attributes()
    mac = hmac.new(b"key", hmac_body(PATH, attrs), hashlib.sha512).digest()
    attrs["signature"] = "sha512:" + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    check_signature(PATH, attrs, [b"key"], allowed_digests=ALL, now=1000)
    with pytest.raises(FormRefused) as refused:
        check_signature(PATH, attrs, [b"key"], allowed_digests=ALL, now=3000)
    assert refused.value.message == "form expired"
    with pytest.raises(FormInvalid):
        int_attribute({"max_file_size": "big"}, "max_file_size")


def form(fields, boundary="b0undary"):
    body, ctype = encode_multipart_formdata(fields, boundary=boundary)
    return body, boundary.encode()


class Trickle(io.BytesIO):
    """A client body that arrives 7 bytes at a time."""

    def read(self, size=-1):
        return super().read(min(7, size if size >= 0 else 7))


def test_stream_reads_fields_then_files_in_pieces():
    data = bytes(range(256)) * 40 + b"\r\n--b0undar"  # looks like a boundary, is not
    body, boundary = form([("redirect", "https://x/"), ("max_file_size", "20000"),
                           ("file1", ("a.bin", data, "application/x-a")),
                           ("file2", ("b.txt", b"", "text/plain"))])
    stream = FormStream(RequestBody(Trickle(body), len(body)), boundary)
    assert isinstance(stream.next(), Preamble)
    seen = []
    while True:
        event = stream.next()
        if isinstance(event, Epilogue):
            break
        if isinstance(event, File):
            part = FilePart(stream, 20000)
            chunks = []
            while chunk := part.read(1000):
                assert len(chunk) <= 1000
                chunks.append(chunk)
            seen.append((event.filename, event.headers["Content-Type"], b"".join(chunks)))
        elif isinstance(event, Field):
            seen.append((event.name, stream.value()))
    assert seen == [("redirect", "https://x/"), ("max_file_size", "20000"),
                    ("a.bin", "application/x-a", data), ("b.txt", "text/plain", b"")]


def test_file_past_its_limit_raises_into_the_reader_and_can_be_drained():
    body, boundary = form([("f", ("a", b"x" * 5000, "text/plain")), ("after", "1")])
    stream = FormStream(RequestBody(io.BytesIO(body), len(body)), boundary)
    stream.next()
    assert isinstance(stream.next(), File)
    part = FilePart(stream, 100)
    with pytest.raises(HTTPBadRequest):
        while part.read(64):
            pass
    assert part.too_big
    part.drain()
    assert isinstance(stream.next(), Field)
    assert stream.value() == "1"


def test_broken_form_is_invalid():
    stream = FormStream(RequestBody(io.BytesIO(b"garbage"), 7), b"b0undary")
    with pytest.raises(FormInvalid):
        stream.next()

"""The bodies of error answers, as Swift clients see them.

Swift answers an error it has nothing specific to say about with a small HTML page made of
the status's title and a one-sentence explanation (``<html><h1>Not Found</h1><p>The
resource could not be found.</p></html>``), and an error with a specific text (``Invalid
UTF8 or contains NULL``) with that text alone; both as ``text/html; charset=UTF-8``, its
default content type. Clients and their tests compare these bodies, so oiofs sends the
same ones, from here, in the proxy and in the storage servers.
"""

from __future__ import annotations

#: the content type of every error body
ERROR_CONTENT_TYPE = "text/html; charset=UTF-8"

#: ``status: (title, explanation)`` where Swift's wording differs from plain HTTP's or
#: adds an explanation; statuses not listed get their HTTP phrase and no explanation
_PAGES: dict[int, tuple[str, str]] = {
    202: ("Accepted", "The request is accepted for processing."),
    400: ("Bad Request", "The server could not comply with the request since it is "
          "either malformed or otherwise incorrect."),
    401: ("Unauthorized", "This server could not verify that you are authorized to "
          "access the document you requested."),
    402: ("Payment Required", "Access was denied for financial reasons."),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "The method is not allowed for this resource."),
    406: ("Not Acceptable", "The resource is not available in a format acceptable to "
          "your browser."),
    408: ("Request Timeout", "The server has waited too long for the request to be "
          "sent by the client."),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
    410: ("Gone", "This resource is no longer available."),
    411: ("Length Required", "Content-Length header required."),
    412: ("Precondition Failed", "A precondition for this request was not met."),
    413: ("Request Entity Too Large", "The body of your request was too large for this "
          "server."),
    414: ("Request URI Too Long", "The request URI was too long for this server."),
    415: ("Unsupported Media Type", "The request media type is not supported by this "
          "server."),
    416: ("Requested Range Not Satisfiable", "The Range requested is not available."),
    417: ("Expectation Failed", "Expectation failed."),
    422: ("Unprocessable Entity", "Unable to process the contained instructions"),
    499: ("Client Disconnect", "The client was disconnected during request."),
    500: ("Internal Error", "The server has either erred or is incapable of performing "
          "the requested operation."),
    501: ("Not Implemented", "The requested method is not implemented by this server."),
    502: ("Bad Gateway", "Bad gateway."),
    503: ("Service Unavailable", "The server is currently unavailable. Please try again "
          "at a later time."),
    504: ("Gateway Timeout", "A timeout has occurred speaking to a backend server."),
    507: ("Insufficient Storage", "There was not enough space to save the resource."),
}


def default_error_body(status: int) -> bytes:
    """Swift's page for ``status`` when nothing more specific is said (may be empty).

    >>> default_error_body(404)
    b'<html><h1>Not Found</h1><p>The resource could not be found.</p></html>'
    """
    page = _PAGES.get(status)
    if page is None:
        return b""
    return f"<html><h1>{page[0]}</h1><p>{page[1]}</p></html>".encode()


def error_body(status: int, description: str | None) -> bytes:
    """The body of an error answer: ``description`` when one was given, else the page."""
    if description:
        return description.encode("utf-8")
    return default_error_body(status)


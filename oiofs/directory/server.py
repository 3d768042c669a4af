"""The directory server: the conscience and the references over HTTP
(``oiofs-server directory <conf>``, ``egg:oiofs#directory``).

JSON in and out. Services are named by ``type`` and ``addr``, references by ``acct`` and
``ref`` or by ``cid``, in the query string.

=============================================  ============================================
``GET /status``                                ``{"store", "types", "services"}``
``POST /v1/conscience/register``               body: a service or a list of them
                                               (``type``, ``addr``, ``id``, ``score``,
                                               ``tags``); 200 with their views
``GET /v1/conscience/list?type=``              every service (of the type), as seen now
``GET /v1/conscience/show?type=&addr=``        one service; 404
``GET /v1/conscience/info``                    ``{"types": [...]}``
``POST /v1/conscience/lock?type=&addr=``       body ``{"score": n}`` (or ``&score=``):
                                               pin the score (0 drains); 404
``POST /v1/conscience/unlock?type=&addr=``     let the service's own score count again
``POST /v1/conscience/deregister?type=&addr=`` 204: forget the service
``POST /v1/reference/create?acct=&ref=``       body ``{"properties": {}}``; 201 created,
                                               202 it existed
``GET /v1/reference/has``                      204, or 404
``POST /v1/reference/destroy[?force=1]``       204; 404; 409 services still linked
``GET /v1/reference/show[?type=]``             ``{"cid", "account", "reference", "srv"}``
``POST /v1/reference/link?type=``              ``[&count=n&autocreate=1]``: the type's links
``POST /v1/reference/renew?type=[&count=n]``   a new set at the next seq: the type's links
``POST /v1/reference/unlink?type=``            204
``POST /v1/reference/force``                   body: a link or a list of links,
                                               ``[?replace=1&autocreate=1]``: every link
``POST /v1/reference/get_properties``          body ``[keys]`` or nothing: ``{"properties"}``
``POST /v1/reference/set_properties``          body ``{"properties": {}}``
                                               ``[?flush=1]``; 204
``POST /v1/reference/del_properties``          body ``[keys]`` (nothing or ``[]``: all); 204
``GET /v1/meta0``                              the meta0 document, packed
                                               (:mod:`oiofs.directory.meta0_packed`)
``PUT /v1/meta0``                              body: a packed document, checked; 204
=============================================  ============================================

Errors are ``{"status": n, "message": "...", "error": "<class>"}`` with the status of
:mod:`oiofs.directory.errors` (400, 404, 409, 503; 503 too when the store cannot be
reached). Options: ``etc/directory-server.conf.sample`` and ``docs/directory.md``.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from oiofs.common.config import conf_float
from oiofs.common.logger import get_logger
from oiofs.common.redis_conn import RedisUnavailable
from oiofs.directory.conscience import Conscience
from oiofs.directory.errors import DirectoryError, InvalidRequest
from oiofs.directory.meta0_errors import Meta0Error
from oiofs.directory.meta0_packed import EMPTY, META0_KEY, META0_NAMESPACE, unpack
from oiofs.directory.references import ReferenceBook, resolve_cid
from oiofs.directory.store import DirectoryStore, StoreBusy, make_store

#: low-level errors of the stores, answered 503 (the store is down or too busy)
_UNAVAILABLE = (RedisUnavailable, StoreBusy, sqlite3.OperationalError)
MAX_BODY = 1 << 20
#: a packed meta0 document: a few hundred kB for 65,536 prefixes, far more with many
#: services in the descriptions
MAX_META0_BODY = 32 << 20

_ROUTES = Map([Rule("/status", endpoint="status", methods=["GET"])] + [
    Rule(f"/v1/conscience/{name}", endpoint=f"cs_{name}", methods=methods)
    for name, methods in (("register", ["POST"]), ("list", ["GET"]), ("show", ["GET"]),
                          ("info", ["GET"]), ("lock", ["POST"]), ("unlock", ["POST"]),
                          ("deregister", ["POST"]))] + [
    Rule(f"/v1/reference/{name}", endpoint=f"ref_{name}", methods=methods)
    for name, methods in (("create", ["POST"]), ("has", ["GET"]), ("destroy", ["POST"]),
                          ("show", ["GET"]), ("link", ["POST"]), ("renew", ["POST"]),
                          ("unlink", ["POST"]), ("force", ["POST"]),
                          ("get_properties", ["POST"]), ("set_properties", ["POST"]),
                          ("del_properties", ["POST"]))] + [
    Rule("/v1/meta0", endpoint="meta0_get", methods=["GET"]),
    Rule("/v1/meta0", endpoint="meta0_put", methods=["PUT"])])


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _body(req: Request, limit: int = MAX_BODY) -> Any:
    """The request's JSON body (``None`` when empty)."""
    if (req.content_length or 0) > limit:
        raise InvalidRequest(f"body larger than {limit} bytes")
    raw = req.get_data(cache=True)
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidRequest(f"body is not valid JSON: {err}") from None


def _flag(req: Request, name: str) -> bool:
    return req.args.get(name, "").lower() in ("1", "true", "yes", "on")


def _arg(req: Request, name: str) -> str:
    value = req.args.get(name)
    if not value:
        raise InvalidRequest(f"missing parameter {name}")
    return value


def _count(req: Request) -> int:
    try:
        return int(req.args.get("count", "1"))
    except ValueError:
        raise InvalidRequest("count must be an integer") from None


def _keys(body: Any) -> list[str] | None:
    """Property names from a body: a list, or ``{"properties": [...]}``; ``None``: all."""
    if isinstance(body, dict):
        body = body.get("properties")
    if body is None or body == []:
        return None
    if not isinstance(body, list) or not all(isinstance(k, str) for k in body):
        raise InvalidRequest("property names are a JSON list of text")
    return list(body)


class DirectoryApp:
    """The WSGI application of the directory."""

    def __init__(self, conf: dict[str, Any], store: DirectoryStore | None = None,
                 logger: Any = None):
        self.conf = conf
        self.logger = logger or get_logger(conf, "directory")
        self.store = store or make_store(conf)
        self.conscience = Conscience(self.store, conf_float(conf, "service_timeout", 15.0))
        self.references = ReferenceBook(self.store, self.conscience)

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Any:
        return self.dispatch(Request(environ, populate_request=False))(environ, start_response)

    def dispatch(self, req: Request) -> Response:
        """The response to ``req``; the one place errors become statuses."""
        try:
            endpoint, _args = _ROUTES.bind_to_environ(req.environ).match()
            response: Response = getattr(self, "on_" + endpoint)(req)
            return response
        except HTTPException as err:
            code = err.code or 500
            return _json({"status": code, "message": err.description}, code)
        except DirectoryError as err:
            return _json({"status": err.status, "message": str(err) or err.__doc__,
                          "error": type(err).__name__}, err.status)
        except _UNAVAILABLE as err:
            self.logger.error("directory store unavailable: %s", err)
            return _json({"status": 503, "message": f"store unavailable: {err}",
                          "error": "DirectoryUnavailable"}, 503)
        except Exception:  # anything else is our bug: logged, 500
            self.logger.exception("directory error on %s %s", req.method, req.path)
            return _json({"status": 500, "message": "internal error"}, 500)

    # --- conscience -------------------------------------------------------------------

    def on_status(self, req: Request) -> Response:
        services = self.conscience.list()
        return _json({"store": self.conf.get("store", "sqlite"),
                      "types": sorted({s["type"] for s in services}),
                      "services": len(services)})

    def on_cs_register(self, req: Request) -> Response:
        body = _body(req)
        services = body if isinstance(body, list) else [body]
        return _json([self.conscience.register(service) for service in services])

    def on_cs_list(self, req: Request) -> Response:
        return _json(self.conscience.list(req.args.get("type") or None))

    def on_cs_show(self, req: Request) -> Response:
        return _json(self.conscience.show(_arg(req, "type"), _arg(req, "addr")))

    def on_cs_info(self, req: Request) -> Response:
        return _json({"types": self.conscience.types()})

    def on_cs_lock(self, req: Request) -> Response:
        body = _body(req)
        score = body.get("score") if isinstance(body, dict) else None
        if score is None:
            score = _arg(req, "score")
        return _json(self.conscience.lock(_arg(req, "type"), _arg(req, "addr"), score))

    def on_cs_unlock(self, req: Request) -> Response:
        return _json(self.conscience.unlock(_arg(req, "type"), _arg(req, "addr")))

    def on_cs_deregister(self, req: Request) -> Response:
        self.conscience.deregister(_arg(req, "type"), _arg(req, "addr"))
        return Response(status=204)

    # --- references -------------------------------------------------------------------

    @staticmethod
    def _cid(req: Request) -> str:
        return resolve_cid(req.args.get("acct"), req.args.get("ref"), req.args.get("cid"))

    @staticmethod
    def _autocreate(req: Request) -> tuple[str, str] | None:
        if not _flag(req, "autocreate"):
            return None
        return _arg(req, "acct"), _arg(req, "ref")

    def on_ref_create(self, req: Request) -> Response:
        body = _body(req)
        props = body.get("properties") if isinstance(body, dict) else None
        created = self.references.create(_arg(req, "acct"), _arg(req, "ref"), props)
        return Response(status=201 if created else 202)

    def on_ref_has(self, req: Request) -> Response:
        return Response(status=204 if self.references.has(self._cid(req)) else 404)

    def on_ref_destroy(self, req: Request) -> Response:
        self.references.delete(self._cid(req), force=_flag(req, "force"))
        return Response(status=204)

    def on_ref_show(self, req: Request) -> Response:
        return _json(self.references.show(self._cid(req), req.args.get("type") or None))

    def on_ref_link(self, req: Request) -> Response:
        return _json(self.references.link(self._cid(req), _arg(req, "type"), _count(req),
                                          self._autocreate(req)))

    def on_ref_renew(self, req: Request) -> Response:
        return _json(self.references.renew(self._cid(req), _arg(req, "type"), _count(req)))

    def on_ref_unlink(self, req: Request) -> Response:
        self.references.unlink(self._cid(req), _arg(req, "type"))
        return Response(status=204)

    def on_ref_force(self, req: Request) -> Response:
        body = _body(req)
        links = body if isinstance(body, list) else [body]
        return _json(self.references.force(self._cid(req), links, _flag(req, "replace"),
                                           self._autocreate(req)))

    def on_ref_get_properties(self, req: Request) -> Response:
        props = self.references.get_properties(self._cid(req), _keys(_body(req)))
        return _json({"properties": props})

    def on_ref_set_properties(self, req: Request) -> Response:
        body = _body(req)
        props = body.get("properties") if isinstance(body, dict) else None
        if props is None:
            raise InvalidRequest('body must be {"properties": {...}}')
        self.references.set_properties(self._cid(req), props, clear=_flag(req, "flush"))
        return Response(status=204)

    def on_ref_del_properties(self, req: Request) -> Response:
        self.references.del_properties(self._cid(req), _keys(_body(req)))
        return Response(status=204)


    # --- meta0 ------------------------------------------------------------------------

    def on_meta0_get(self, req: Request) -> Response:
        return _json(self.store.get(META0_NAMESPACE, META0_KEY) or EMPTY)

    def on_meta0_put(self, req: Request) -> Response:
        packed = _body(req, MAX_META0_BODY)
        try:
            unpack(packed)  # only a well-formed document is kept
        except Meta0Error as err:
            raise InvalidRequest(f"meta0: {err}") from None
        self.store.update(META0_NAMESPACE, META0_KEY, lambda _old: packed)
        return Response(status=204)


def app_factory(global_conf: dict[str, Any], **local_conf: Any) -> DirectoryApp:
    """PasteDeploy factory of ``egg:oiofs#directory``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return DirectoryApp(conf)

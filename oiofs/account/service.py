"""The account service: :class:`~oiofs.account.redis_backend.RedisAccountBackend` over HTTP
(``oiofs-server account-service <conf>``, ``egg:oiofs#account-service``).

Routes (JSON in and out; ``id`` is the account, always in the query string):

========================================  ==================================================
``GET /status``                           ``{"account_count": n}``
``POST /v1.0/account/create?id=``         201 (created, body: the id) or 202 (existed)
``POST /v1.0/account/delete?id=``         204; 404 no account, 409 it lists containers
``GET /v1.0/account/list``                ``["name", ...]``
``GET /v1.0/account/show?id=``            the account's info; 404
``POST /v1.0/account/update?id=``         body ``{"metadata": {}, "to_delete": []}``; 204
``GET|POST /v1.0/account/containers?id=`` the info plus ``"listing"``; parameters
                                          ``limit``, ``marker``, ``end_marker``, ``prefix``,
                                          ``delimiter``, ``s3_buckets_only`` (query or body)
``POST /v1.0/account/container/update``   body ``{"name", "mtime", "dtime", "objects",
  ``?id=``                                "bytes", "damaged_objects", "missing_chunks"}``;
                                          200 with ``{"name", "result"}``; 409 when older
                                          than what is stored
``POST /v1.0/account/container/reset``    body ``{"name", "mtime"}``: zero the counters of a
  ``?id=``                                live container; 404 if it is not live
``POST /v1.0/account/flush?id=``          204: forget all containers, zero the counters
``POST /v1.0/account/refresh?id=``        204: recompute the counters
========================================  ==================================================

Errors are JSON ``{"status": n, "message": "..."}``: 400 bad JSON or parameter, 404 no
account or container, 409 as above, 503 when Redis cannot be reached. One access-log line
per request. Options: those of the backend (``docs/account-service.md``) and
``log_name``/``log_level``.
"""

from __future__ import annotations

import json
import time

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from oiofs.account.redis_backend import (
    AccountNotEmpty,
    NoSuchAccount,
    NoSuchContainer,
    NoUpdateNeeded,
    RedisAccountBackend,
)
from oiofs.common.logger import get_logger
from oiofs.common.redis_conn import RedisUnavailable

MAX_LISTING = 10000


class InvalidServiceRequest(Exception):
    """A missing or malformed parameter or body (400)."""


_ERRORS = ((InvalidServiceRequest, 400), (ValueError, 400), (NoSuchAccount, 404),
           (NoSuchContainer, 404), (AccountNotEmpty, 409), (NoUpdateNeeded, 409),
           (RedisUnavailable, 503))

_ROUTES = Map([
    Rule("/status", endpoint="status", methods=["GET"]),
    Rule("/v1.0/account/create", endpoint="account_create", methods=["POST", "PUT"]),
    Rule("/v1.0/account/delete", endpoint="account_delete", methods=["POST"]),
    Rule("/v1.0/account/list", endpoint="account_list", methods=["GET"]),
    Rule("/v1.0/account/show", endpoint="account_show", methods=["GET"]),
    Rule("/v1.0/account/update", endpoint="account_update", methods=["POST"]),
    Rule("/v1.0/account/containers", endpoint="account_containers",
         methods=["GET", "POST"]),
    Rule("/v1.0/account/container/update", endpoint="container_update", methods=["POST"]),
    Rule("/v1.0/account/container/reset", endpoint="container_reset", methods=["POST"]),
    Rule("/v1.0/account/flush", endpoint="account_flush", methods=["POST"]),
    Rule("/v1.0/account/refresh", endpoint="account_refresh", methods=["POST"]),
])


def _json(data, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def _account_id(req: Request) -> str:
    account = req.args.get("id")
    if not account:
        raise InvalidServiceRequest("missing account id (?id=)")
    return account


def _container_name(body: dict) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidServiceRequest("missing container name")
    return name


def _body(req: Request) -> dict:
    raw = req.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidServiceRequest(f"body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise InvalidServiceRequest("body must be a JSON object")
    return body


def _int(value, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise InvalidServiceRequest(f"missing {name}")
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidServiceRequest(f"{name} must be an integer") from None
    if number < 0:
        raise InvalidServiceRequest(f"{name} must not be negative")
    return number


def _number(value, name: str, default: str | None = None):
    if value is None or value == "":
        if default is None:
            raise InvalidServiceRequest(f"missing {name}")
        return default
    try:
        if float(value) < 0:
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidServiceRequest(f"{name} must be a non-negative timestamp") from None
    return value


class AccountService:
    """The WSGI application of the account service."""

    def __init__(self, conf: dict, backend: RedisAccountBackend | None = None, logger=None):
        self.conf = conf
        self.logger = logger or get_logger(conf, "account-service")
        self.backend = backend or RedisAccountBackend(conf)

    def __call__(self, environ, start_response):
        req = Request(environ, populate_request=False)
        began = time.monotonic()
        resp = self.dispatch(req)
        self.logger.info('%s - "%s %s" %s %.4f', req.remote_addr or "-", req.method,
                         req.full_path.rstrip("?"), resp.status_code,
                         time.monotonic() - began)
        return resp(environ, start_response)

    def dispatch(self, req: Request) -> Response:
        """The response to ``req``; the one place errors become statuses."""
        try:
            endpoint, _args = _ROUTES.bind_to_environ(req.environ).match()
            return getattr(self, "on_" + endpoint)(req)
        except (NotFound, MethodNotAllowed) as err:
            return _json({"status": err.code, "message": err.description}, err.code)
        except HTTPException as err:
            return _json({"status": err.code, "message": err.description}, err.code or 500)
        except Exception as err:  # mapped below or logged as a 500
            for klass, status in _ERRORS:
                if isinstance(err, klass):
                    return _json({"status": status, "message": str(err) or klass.__doc__},
                                 status)
            self.logger.exception("account service error on %s %s", req.method, req.path)
            return _json({"status": 500, "message": "internal error"}, 500)

    # --- routes -------------------------------------------------------------------------

    def on_status(self, req: Request) -> Response:
        return _json(self.backend.status())

    def on_account_create(self, req: Request) -> Response:
        created = self.backend.create_account(_account_id(req))
        if created is None:
            return Response(status=202)
        return Response(created, status=201, mimetype="text/plain")

    def on_account_delete(self, req: Request) -> Response:
        self.backend.delete_account(_account_id(req))
        return Response(status=204)

    def on_account_list(self, req: Request) -> Response:
        return _json(self.backend.list_account())

    def _info(self, account: str) -> dict:
        info = self.backend.info_account(account)
        if info is None:
            raise NoSuchAccount(f"no account {account!r}")
        return info

    def on_account_show(self, req: Request) -> Response:
        return _json(self._info(_account_id(req)))

    def on_account_update(self, req: Request) -> Response:
        body = _body(req)
        metadata = body.get("metadata") or {}
        to_delete = body.get("to_delete") or []
        if not isinstance(metadata, dict) or not isinstance(to_delete, list):
            raise InvalidServiceRequest("metadata must be an object and to_delete a list")
        self.backend.update_account_metadata(_account_id(req), metadata, to_delete)
        return Response(status=204)

    def on_account_containers(self, req: Request) -> Response:
        account = _account_id(req)
        params = {**req.args.to_dict(), **_body(req)}
        limit = min(_int(params.get("limit"), "limit", 1000), MAX_LISTING)
        s3_only = str(params.get("s3_buckets_only", "")).lower() in ("1", "true", "yes")
        info = self._info(account)
        info["listing"] = self.backend.list_containers(
            account, limit=limit, marker=params.get("marker"),
            end_marker=params.get("end_marker"), prefix=params.get("prefix"),
            delimiter=params.get("delimiter"), s3_buckets_only=s3_only)
        return _json(info)

    def on_container_update(self, req: Request) -> Response:
        account = _account_id(req)
        body = _body(req)
        name = _container_name(body)
        result = self.backend.update_container(
            account, name, _number(body.get("mtime"), "mtime", "0"),
            _number(body.get("dtime"), "dtime", "0"), _int(body.get("objects"), "objects", 0),
            _int(body.get("bytes"), "bytes", 0),
            _int(body.get("damaged_objects"), "damaged_objects", 0),
            _int(body.get("missing_chunks"), "missing_chunks", 0))
        return _json({"name": name, "result": result})

    def on_container_reset(self, req: Request) -> Response:
        account = _account_id(req)
        body = _body(req)
        name = _container_name(body)
        self.backend.update_container(account, name, _number(body.get("mtime"), "mtime"), 0,
                                      0, 0, autocreate_account=False,
                                      autocreate_container=False)
        return Response(status=204)

    def on_account_flush(self, req: Request) -> Response:
        self.backend.flush_account(_account_id(req))
        return Response(status=204)

    def on_account_refresh(self, req: Request) -> Response:
        self.backend.refresh_account(_account_id(req))
        return Response(status=204)


def app_factory(global_conf: dict, **local_conf) -> AccountService:
    """PasteDeploy factory of ``egg:oiofs#account-service``."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return AccountService(conf)

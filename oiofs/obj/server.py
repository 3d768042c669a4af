"""The object server: the WSGI application that stores objects on this node's devices.

It speaks the object part of the backend protocol (``docs/backend-protocol.md``): PUT, GET,
HEAD, POST and DELETE on ``/<device>/<partition>/<account>/<container>/<object>``, and
REPLICATE and replication writes for the replicator (:mod:`oiofs.obj.replication_server`).
The storage is behind :mod:`oiofs.obj.diskfile`; HTTP details that do not need a socket
(ranges, preconditions, multipart bodies) are in :mod:`oiofs.common.http`; container
updates in :mod:`oiofs.obj.container_update`. Options are read once, in
:meth:`ObjectServer.__init__` (see ``etc/object-server.conf.sample``).

Past 600 lines on purpose: every verb is here beside the container-update logic they
share, and the erasure-coded commit (``_ec_commit``) is the second step of PUT; splitting
the verbs apart would scatter one request's path over several files.
"""

from __future__ import annotations

import os
import time
from typing import NamedTuple

from werkzeug.wrappers import Request

from oiofs.common import constraints
from oiofs.common.backend_protocol import (
    DATA_TIMESTAMP_HEADER,
    EC_COMMIT_HEADER,
    EC_CONTENT_LENGTH,
    EC_ETAG,
    EC_FRAG_INDEX,
    EC_FRAG_INDEX_HEADER,
    EC_SYSMETA_PREFIX,
    ETAG_IS_AT_HEADER,
    POLICY_INDEX_HEADER,
    REPLICATION_HEADER,
    REPLICATION_OP_HEADER,
    REPLICATION_OP_PUSH,
    STATE_ONLY_HEADER,
    TIMESTAMP_HEADER,
    environ_key,
    parse_update_targets,
)
from oiofs.common.base_app import (
    BaseServerApp,
    given_content_type,
    header_text,
    request_path,
)
from oiofs.common.config import conf_bool, conf_float, conf_int, conf_list
from oiofs.common.constraints import (
    check_content_length,
    check_delete_headers,
    check_if_none_match,
    check_metadata,
    check_name_lengths,
    split_path_exact,
    valid_timestamp,
    wsgi_to_str,
)
from oiofs.common.exceptions import (
    DiskFileCollision,
    DiskFileDeviceUnavailable,
    DiskFileExpired,
    DiskFileMetadataTooLarge,
    DiskFileNoSpace,
    DiskFileNotExist,
    DiskFileXattrNotSupported,
    HTTPBadRequest,
    HTTPConflict,
    HTTPError,
    HTTPForbidden,
    HTTPInsufficientStorage,
    HTTPNotFound,
    HTTPPreconditionFailed,
    HTTPRequestedRangeNotSatisfiable,
    HTTPRequestEntityTooLarge,
    HTTPServiceUnavailable,
    HTTPUnprocessableEntity,
    LockTimeout,
    OiofsError,
)
from oiofs.common.expiring import EXPIRING_ACCOUNT
from oiofs.common.hashing import hash_path, md5
from oiofs.common.http.body import RequestBody
from oiofs.common.http.conditional import Precondition, evaluate_preconditions, if_range_allows
from oiofs.common.http.etag import quote_etag, unquote_etag
from oiofs.common.http.header_names import title_case
from oiofs.common.http.multipart import ByteRangesLayout, make_boundary
from oiofs.common.http.ranges import (
    content_range,
    parse_range_header,
    ranges_to_serve,
    unsatisfied_content_range,
)
from oiofs.common.http.response import WsgiResponse
from oiofs.common.storage_policy import ERASURE_CODING, POLICIES, StoragePolicy
from oiofs.common.timestamp import Timestamp
from oiofs.obj.container_update import ContainerUpdateSender, UpdateJob
from oiofs.obj.diskfile import DiskFile, DiskFileManager
from oiofs.obj.expiring_queue import ExpiringQueue
from oiofs.obj.filenames import DATA, META, TOMBSTONE
from oiofs.obj.hashes import DEFAULT_RECLAIM_AGE
from oiofs.obj.metadata import stored_text, to_wsgi
from oiofs.obj.repair_push import RepairPusher
from oiofs.obj.replication_client import ReplicationClient
from oiofs.obj.replication_server import ReplicationHandler, is_replication

#: headers a client may set on an object besides X-Object-Meta-* (stored, served back)
DEFAULT_ALLOWED_HEADERS = ("content-disposition, content-encoding, content-language, "
                           "cache-control, expires, x-object-manifest, x-static-large-object, "
                           "x-robots-tag")
#: stored at PUT and kept by a POST (they describe the data, not the user's labels)
DATA_ONLY_HEADERS = frozenset({"x-static-large-object"})
USER_META_PREFIXES = ("x-object-meta-", "x-object-transient-sysmeta-")
SYSMETA_PREFIX = "x-object-sysmeta-"
#: environ keys whose metadata name is remembered (a client may send any header names)
_MAX_STORED_NAMES = 4096
#: object metadata that replaces a field of the object's container updates
UPDATE_OVERRIDE_PREFIX = "x-object-sysmeta-container-update-override-"
UPDATE_OVERRIDE_FIELDS = {"etag": "X-Etag", "size": "X-Size", "content-type": "X-Content-Type"}
#: metadata keys that are ours, never sent back as headers
#: when a POST last set the content type (so that a later POST without one keeps it)
CTYPE_TIMESTAMP = "Content-Type-Timestamp"
INTERNAL_KEYS = frozenset({"name", "ETag", "Content-Length", "Content-Type", "X-Timestamp",
                           CTYPE_TIMESTAMP})


_PRECONDITION_KEYS = ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE",
                      "HTTP_IF_UNMODIFIED_SINCE")


def with_update_overrides(update: dict[str, str], metadata: dict[str, str],
                          content_type: bool = True) -> dict[str, str]:
    """``update`` (a container update's ``X-Size``, ``X-Etag``, ``X-Content-Type``) with
    the values the object's ``X-Object-Sysmeta-Container-Update-Override-*`` metadata
    gives instead, as Swift's object server does: a filter records there what the
    listing must show (the symlink filter its target, in the ETag's parameters).
    ``content_type=False`` keeps the update's own content type (a POST's new one).

    >>> with_update_overrides({"X-Etag": "e", "X-Size": "0"},
    ...     {"X-Object-Sysmeta-Container-Update-Override-Etag": "e; symlink_target=c/o"})
    {'X-Etag': 'e; symlink_target=c/o', 'X-Size': '0'}
    """
    for name, value in metadata.items():
        lname = name.lower()
        if lname.startswith(UPDATE_OVERRIDE_PREFIX):
            field = lname[len(UPDATE_OVERRIDE_PREFIX):]
            if field in UPDATE_OVERRIDE_FIELDS and (content_type or field != "content-type"):
                update[UPDATE_OVERRIDE_FIELDS[field]] = to_wsgi(value)
    return update


def _has_preconditions(environ: dict) -> bool:
    # most requests carry none: skip the evaluation (and werkzeug's header lookups)
    for key in _PRECONDITION_KEYS:
        if key in environ:
            return True
    return False


class Target(NamedTuple):
    """What a request's path and policy name: the object file and its coordinates."""

    df: DiskFile
    device: str
    policy: StoragePolicy
    account: str
    container: str
    obj: str


class ObjectServer(BaseServerApp):
    """The object server application; one instance per worker process."""

    server_type = "object-server"
    allowed_methods = frozenset({"GET", "HEAD", "PUT", "POST", "DELETE", "REPLICATE"})

    def __init__(self, conf: dict, logger=None):
        super().__init__(conf, logger)
        self.conn_timeout = conf_float(conf, "conn_timeout", 0.5)
        self.node_timeout = conf_float(conf, "node_timeout", 3.0)
        self.container_update_timeout = conf_float(conf, "container_update_timeout", 1.0)
        self.network_chunk_size = conf_int(conf, "network_chunk_size", 65536, minimum=1)
        self.allowed_headers = frozenset(
            h.lower() for h in conf_list(conf, "allowed_headers", DEFAULT_ALLOWED_HEADERS))
        self.post_keys = self.allowed_headers - DATA_ONLY_HEADERS
        # environ key -> the name it is stored under, or None, for a PUT (True) and a POST
        # (False): the same few keys come with every request
        self._stored_names: dict[bool, dict[str, str | None]] = {True: {}, False: {}}
        self.manager = DiskFileManager(conf, self.logger, post_keys=self.post_keys)
        self.manager.check_xattr_support()
        self.update_sender = ContainerUpdateSender(
            self.logger, self.conn_timeout, self.node_timeout, self.container_update_timeout,
            batching=conf_bool(conf, "container_update_batching", True))
        self.user_agent = f"object-server {os.getpid()}"
        # rows of the expiry queue, sent beside the container updates
        self.expiring_queue = ExpiringQueue(conf, self.logger)
        # REPLICATE and replication writes (oiofs.obj.replication_server)
        self.replication = ReplicationHandler(
            self.manager, conf_float(conf, "reclaim_age", DEFAULT_RECLAIM_AGE),
            self.network_chunk_size, self.logger)
        # pushes of one object asked by a proxy (oiofs.obj.repair_push)
        self.repair = RepairPusher(
            ReplicationClient(self.conn_timeout, self.node_timeout,
                              http_timeout=self.node_timeout,
                              chunk_size=self.network_chunk_size,
                              user_agent=self.user_agent), self.logger)

    # -- errors, in one place --------------------------------------------------------------

    def translate_error(self, err: Exception) -> HTTPError | None:
        """Map storage errors to statuses: no space or device 507, collision 403..."""
        if isinstance(err, (DiskFileNoSpace, DiskFileDeviceUnavailable,
                            DiskFileXattrNotSupported)):
            self.logger.error("%s: %s", type(err).__name__, err)
            return HTTPInsufficientStorage()
        if isinstance(err, DiskFileCollision):
            self.logger.error("%s", err)
            return HTTPForbidden(str(err))
        if isinstance(err, DiskFileMetadataTooLarge):
            return HTTPBadRequest("Metadata too large")
        if isinstance(err, DiskFileNotExist):
            return HTTPNotFound()
        if isinstance(err, LockTimeout):
            return HTTPServiceUnavailable(str(err))
        return None

    # -- request parsing ---------------------------------------------------------------

    def _target(self, req: Request) -> Target:
        """The object a request is about, from its path and policy header (400/503/507)."""
        path = request_path(req)
        if "\x00" in path:
            raise HTTPBadRequest("Invalid path")
        device, partition, account, container, obj = split_path_exact(path, 5, True)
        if not partition.isdigit():
            raise HTTPBadRequest(f"Invalid partition {partition!r}")
        check_name_lengths(None, None, obj)
        index = req.environ.get(environ_key(POLICY_INDEX_HEADER))
        policy = POLICIES.get_by_index(index if index else 0)
        if policy is None:
            raise HTTPServiceUnavailable(f"No policy with index {index}")
        df = self.manager.get_diskfile(device, partition, account, container, obj, policy)
        return Target(df, device, policy, account, container, obj)

    def _metadata_from_headers(self, environ: dict, sysmeta: bool) -> dict[str, str]:
        """The storable headers of a request (user metadata, allowed headers, sysmeta),
        checked against the metadata limits, as text.

        One pass over the WSGI environ (werkzeug's header view would rebuild every name).
        Limits count UTF-8 bytes, so they are checked on the raw WSGI values.
        """
        raw: dict[str, str] = {}
        allowed = self.allowed_headers if sysmeta else self.post_keys
        stored = self._stored_names[sysmeta]
        for key, value in environ.items():
            name = stored.get(key, "")
            if name == "":
                name = self._stored_name(key, allowed, sysmeta)
                if len(stored) < _MAX_STORED_NAMES:
                    stored[key] = name
            if name is not None:
                raw[name] = value  # non-ASCII characters kept as they came
        check_metadata(raw, "object")
        return {name: stored_text(value) for name, value in raw.items()}

    @staticmethod
    def _stored_name(key: str, allowed: frozenset[str], sysmeta: bool) -> str | None:
        """The metadata name an environ ``key`` is stored under (``None``: not kept)."""
        if not key.startswith("HTTP_"):
            return None
        name = key[5:].replace("_", "-")
        lname = name.lower()
        if lname.startswith(USER_META_PREFIXES) or lname in allowed or (
                sysmeta and lname.startswith(SYSMETA_PREFIX)):
            return title_case(name)
        return None

    def _delete_at(self, req: Request, metadata: dict[str, str]) -> int | None:
        """Store the request's expiry time in ``metadata``; that time, or ``None``.

        An empty ``X-Delete-At`` (the proxy's form of ``X-Remove-Delete-At``) means none.
        """
        headers = req.headers
        if headers.get("X-Delete-At") == "" and "X-Delete-After" not in headers:
            return None
        delete_at = check_delete_headers(headers, time.time())
        if delete_at is not None:
            metadata["X-Delete-At"] = str(delete_at)
        return delete_at

    @staticmethod
    def _stored_delete_at(df: DiskFile) -> int | None:
        """The ``X-Delete-At`` of the object stored now, even if it has expired already.

        Costs a metadata read only when a ``.data`` is there (an overwrite): the expiry
        queue row of the old version must go when the new one has another time or none.
        """
        if not df.ondisk().data:
            return None
        try:
            with df.open(replication=True):
                value = df.metadata.get("X-Delete-At")
        except (DiskFileNotExist, DiskFileCollision):
            return None
        return int(value) if value else None

    @staticmethod
    def _exists(df: DiskFile) -> bool:
        """True if the object is there (not deleted, not expired); closes it again."""
        try:
            df.open().close()
            return True
        except DiskFileNotExist:
            return False

    # -- PUT ---------------------------------------------------------------------------

    def PUT(self, req: Request) -> WsgiResponse:
        """Store an object; 201 once it is durable (see the module docstring of diskfile)."""
        target = self._target(req)
        if is_replication(req.environ):
            return self.replication.receive(target.df, req, DATA)
        df = target.df
        headers = req.headers
        timestamp = valid_timestamp(headers.get("X-Timestamp"))
        frag_index = self._frag_index(req, target.policy)
        if frag_index is not None and headers.get(EC_COMMIT_HEADER, "").lower() == "yes":
            return self._ec_commit(req, target, timestamp, frag_index)
        length = check_content_length(headers)
        content_type = header_text(req, "Content-Type")
        if not content_type:
            raise HTTPBadRequest("No content type")
        metadata = self._metadata_from_headers(req.environ, sysmeta=True)
        new_delete_at = self._delete_at(req, metadata)
        if_none_match = headers.get("If-None-Match")
        check_if_none_match(if_none_match)

        current = df.ondisk().data_or_ts_timestamp
        if current is not None and current >= timestamp.internal:
            raise HTTPConflict(headers={TIMESTAMP_HEADER: current})
        if if_none_match is not None and self._exists(df):
            newest = df.ondisk().newest  # never None: the object exists
            raise HTTPPreconditionFailed(
                headers={TIMESTAMP_HEADER: newest} if newest is not None else None)
        old_delete_at = self._stored_delete_at(df)

        hasher = md5()
        with df.create(size=length) as writer:
            self._read_body(RequestBody.of(req.environ, length), writer, hasher)
            etag = hasher.hexdigest()
            expected = headers.get("ETag")
            if expected and unquote_etag(expected).lower() != etag:
                raise HTTPUnprocessableEntity("Etag does not match the body")
            metadata.update({
                "X-Timestamp": timestamp.internal,
                "Content-Type": content_type,
                "ETag": etag,
                "Content-Length": str(writer.upload_size),
                "name": df.name,
            })
            if frag_index is not None:
                metadata[EC_FRAG_INDEX] = str(frag_index)
            writer.put(metadata, frag_index=frag_index)
        if frag_index is not None:
            # not durable yet: the container hears of the object at the commit
            return WsgiResponse(201, {"ETag": quote_etag(etag)})

        self._container_update(req, "PUT", target, timestamp, with_update_overrides({
            "X-Size": str(writer.upload_size),
            "X-Content-Type": to_wsgi(content_type),
            "X-Etag": etag,
        }, metadata), old_delete_at, new_delete_at)
        return WsgiResponse(201, {"ETag": quote_etag(etag)})

    @staticmethod
    def _frag_index(req: Request, policy: StoragePolicy) -> int | None:
        """The fragment index of an erasure-coded policy's write (400 if missing or out
        of range); ``None`` for other policies."""
        if policy.policy_type != ERASURE_CODING:
            return None
        raw = req.headers.get(EC_FRAG_INDEX_HEADER, "")
        if not raw.isdigit() or not raw.isascii() or \
                int(raw) >= getattr(policy, "ec_n_unique_fragments", 0):
            raise HTTPBadRequest(f"Invalid or missing {EC_FRAG_INDEX_HEADER}")
        return int(raw)

    def _ec_commit(self, req: Request, target: Target, timestamp: Timestamp,
                   frag_index: int) -> WsgiResponse:
        """Second phase of an erasure-coded PUT: make the archive written at
        ``timestamp`` durable with the footers (``X-Object-Sysmeta-Ec-*`` headers: the
        object's ETag and length), then tell the container; 201, or 404 if the archive
        is not here (``docs/erasure-coding.md``)."""
        df = target.df
        footers = {}
        for key, value in req.headers.items():
            name = title_case(key)
            if name.startswith(EC_SYSMETA_PREFIX):
                footers[name] = stored_text(value)
        if not footers.get(EC_ETAG) or not footers.get(EC_CONTENT_LENGTH, "").isdigit():
            raise HTTPBadRequest(f"A commit needs {EC_ETAG} and {EC_CONTENT_LENGTH}")
        old_delete_at = self._stored_delete_at(df)
        metadata = df.commit(timestamp, frag_index, footers)
        new_delete_at = metadata.get("X-Delete-At")
        self._container_update(req, "PUT", target, timestamp, {
            "X-Size": metadata[EC_CONTENT_LENGTH],
            "X-Content-Type": to_wsgi(metadata["Content-Type"]),
            "X-Etag": metadata[EC_ETAG],
        }, old_delete_at, int(new_delete_at) if new_delete_at else None)
        return WsgiResponse(201, {"ETag": quote_etag(metadata[EC_ETAG])})

    def _read_body(self, body: RequestBody, writer, hasher) -> None:
        """Copy the request body into ``writer`` (client faults: :class:`RequestBody`);
        413 if a chunked body grows past ``max_file_size``."""
        chunked = body.left is None
        for chunk in body.chunks(self.network_chunk_size):
            hasher.update(chunk)
            writer.write(chunk)
            if chunked and writer.upload_size > constraints.LIMITS.max_file_size:
                raise HTTPRequestEntityTooLarge()  # chunked: no length was checked

    # -- GET/HEAD ------------------------------------------------------------------------

    def GET(self, req: Request) -> WsgiResponse:
        """Serve an object (whole, one range, or several as multipart/byteranges)."""
        return self._get_or_head(req)

    def HEAD(self, req: Request) -> WsgiResponse:
        """Serve an object's headers."""
        return self._get_or_head(req)

    def _get_or_head(self, req: Request) -> WsgiResponse:
        target = self._target(req)
        df = target.df
        headers = req.headers
        if req.method == "HEAD" and target.policy.policy_type != ERASURE_CODING and \
                headers.get(STATE_ONLY_HEADER, "").lower() == "true":
            return self._replica_state(df)
        replication = headers.get(REPLICATION_HEADER, "").lower() == "true"
        try:
            df.open(replication=replication)
        except DiskFileNotExist as err:
            extra = {}
            stamp = getattr(err, "timestamp", None)
            if stamp:
                extra[TIMESTAMP_HEADER] = stamp.internal
            if evaluate_preconditions(headers.get, req.method, None, None, exists=False) \
                    is Precondition.FAILED:  # If-Match: * (any other tag: 404, as Swift)
                raise HTTPPreconditionFailed(headers=extra) from None
            raise HTTPNotFound(headers=extra) from None
        try:
            return self._object_response(req, df)
        finally:
            df.close()  # no-op once a reader owns the file

    @staticmethod
    def _replica_state(df: DiskFile) -> WsgiResponse:
        """The answer to a state-only ``HEAD`` (:data:`STATE_ONLY_HEADER`): 200 when the
        newest of the object's files is a ``.data``, else 404, with the timestamps a full
        ``HEAD`` gives (``X-Backend-Timestamp``, ``X-Backend-Data-Timestamp``), from the
        directory listing alone. The file is not opened, so an expired copy, or one whose
        metadata went bad, still answers 200 here: the request that reads it says so."""
        files = df.ondisk()
        newest, data_stamp = files.newest, files.data_or_ts_timestamp
        if files.data is None or newest is None or data_stamp is None:
            # no .data: the tombstone's timestamp when one is newest (data_stamp is its)
            raise HTTPNotFound(headers={TIMESTAMP_HEADER: data_stamp} if data_stamp else None)
        return WsgiResponse(200, {TIMESTAMP_HEADER: newest, DATA_TIMESTAMP_HEADER: data_stamp})

    def _object_response(self, req: Request, df: DiskFile) -> WsgiResponse:
        metadata = df.metadata
        etag = metadata["ETag"]
        stamp = Timestamp(metadata["X-Timestamp"])
        last_modified = stamp.ceil_seconds
        files = df.ondisk()
        newest, data_stamp = files.newest, files.data_or_ts_timestamp
        if newest is None or data_stamp is None:  # never: df is open, so its .data is there
            raise HTTPNotFound()
        out = {
            "Content-Type": to_wsgi(metadata["Content-Type"]),
            "ETag": quote_etag(etag),
            "Last-Modified": stamp.http_date,
            "X-Timestamp": stamp.normal,
            TIMESTAMP_HEADER: newest,
            DATA_TIMESTAMP_HEADER: data_stamp,
            "Accept-Ranges": "bytes",
        }
        for key, value in metadata.items():
            if key not in INTERNAL_KEYS:
                out[key] = to_wsgi(value)
        method = req.method
        environ = req.environ
        # an archive's conditions are about the object's ETag, not the archive's
        etag_is_at = environ.get(environ_key(ETAG_IS_AT_HEADER))
        if etag_is_at and title_case(etag_is_at) in metadata:
            etag = metadata[title_case(etag_is_at)]
        outcome = evaluate_preconditions(req.headers.get, method, etag, last_modified) \
            if _has_preconditions(environ) else Precondition.PROCEED
        if outcome is Precondition.NOT_MODIFIED:
            return WsgiResponse(304, out)
        if outcome is Precondition.FAILED:
            raise HTTPPreconditionFailed(headers={key: out[key] for key in (
                "ETag", "Last-Modified", "X-Timestamp", TIMESTAMP_HEADER)})
        length = df.content_length
        if method == "HEAD":
            out["Content-Length"] = str(length)
            return WsgiResponse(200, out)
        specs = parse_range_header(environ.get("HTTP_RANGE"))
        ranges = None
        if specs is not None and if_range_allows(environ.get("HTTP_IF_RANGE"), etag,
                                                 last_modified):
            ranges = ranges_to_serve(specs, length)
        if ranges is not None and not ranges:
            out["Content-Range"] = unsatisfied_content_range(length)
            raise HTTPRequestedRangeNotSatisfiable(headers={key: out[key] for key in (
                "Content-Range", "ETag", "Last-Modified", "X-Timestamp",
                TIMESTAMP_HEADER, "Accept-Ranges")})
        reader = df.reader()
        try:
            # a bad first block answers 404 (quarantined) before any header is sent, so
            # the proxy simply asks another replica
            reader.check_first(ranges[0][0] if ranges else 0)
        except BaseException:
            reader.close()
            raise
        if ranges is not None:
            if len(ranges) == 1:
                start, stop = ranges[0]
                out["Content-Range"] = content_range(start, stop, length)
                out["Content-Length"] = str(stop - start)
                return WsgiResponse(206, out, reader.set_range(start, stop))
            layout = ByteRangesLayout(ranges, length, out["Content-Type"], make_boundary())
            out["Content-Type"] = layout.content_type
            out["Content-Length"] = str(layout.content_length)
            return WsgiResponse(206, out, reader.set_ranges(layout))
        out["Content-Length"] = str(length)
        return WsgiResponse(200, out, reader)

    # -- POST ----------------------------------------------------------------------------

    def POST(self, req: Request) -> WsgiResponse:
        """Replace the user metadata of an object with a ``.meta``; 202.

        A ``Content-Type`` changes the object's content type (kept by later POSTs without
        one) and the container listing is told of it, as Swift does.
        """
        target = self._target(req)
        df = target.df
        if is_replication(req.environ):
            return self.replication.receive(df, req, META)
        timestamp = valid_timestamp(req.headers.get("X-Timestamp"))
        metadata = self._metadata_from_headers(req.environ, sysmeta=False)
        content_type = given_content_type(req.environ)
        if content_type is not None:
            content_type = wsgi_to_str(content_type)  # 400 if not UTF-8
        new_delete_at = self._delete_at(req, metadata)
        try:
            df.open().close()
        except DiskFileNotExist as err:
            stamp = getattr(err, "timestamp", None)
            raise HTTPNotFound(headers={TIMESTAMP_HEADER: stamp.internal}
                               if stamp else None) from None
        newest = df.ondisk().newest
        if newest is not None and newest >= timestamp.internal:
            raise HTTPConflict(headers={TIMESTAMP_HEADER: newest})
        current = df.metadata
        old_delete_at = current.get("X-Delete-At")
        update: dict[str, str] = {}
        if content_type:
            metadata["Content-Type"] = content_type
            metadata[CTYPE_TIMESTAMP] = timestamp.internal
            # the listing row keeps the data's time, size and ETag; only its type is newer
            update = {"X-Size": current.get(EC_CONTENT_LENGTH, current["Content-Length"]),
                      "X-Etag": current.get(EC_ETAG, current["ETag"]),
                      "X-Content-Type": to_wsgi(content_type),
                      "X-Content-Type-Timestamp": timestamp.internal,
                      "X-Meta-Timestamp": timestamp.internal,
                      "X-Timestamp": current["X-Timestamp"]}
            update = with_update_overrides(update, current, content_type=False)
        elif CTYPE_TIMESTAMP in current:  # set by an earlier POST: this .meta replaces it
            metadata["Content-Type"] = current["Content-Type"]
            metadata[CTYPE_TIMESTAMP] = current[CTYPE_TIMESTAMP]
        metadata["X-Timestamp"] = timestamp.internal
        metadata["name"] = df.name
        df.write_metadata(metadata)
        self._container_update(req, "POST", target, timestamp, update,
                               int(old_delete_at) if old_delete_at else None, new_delete_at)
        return WsgiResponse(202)

    # -- DELETE --------------------------------------------------------------------------

    def DELETE(self, req: Request) -> WsgiResponse:
        """Write a tombstone; 204 if an object was there, 404 if not."""
        target = self._target(req)
        if is_replication(req.environ):
            return self.replication.receive(target.df, req, TOMBSTONE)
        df = target.df
        timestamp = valid_timestamp(req.headers.get("X-Timestamp"))
        if_delete_at = req.headers.get("X-If-Delete-At")
        if if_delete_at is not None and not if_delete_at.isdigit():
            raise HTTPBadRequest("Bad X-If-Delete-At header value")
        existed = False
        stored_metadata: dict[str, str] = {}
        try:
            # an object due to expire by the time of this DELETE counts as gone already
            with df.open(current_time=float(timestamp)):
                existed = True
                stored_metadata = df.metadata
        except DiskFileExpired as err:
            stored_metadata = err.metadata
        except DiskFileNotExist:
            pass  # deleted, never there, or quarantined: the tombstone is written anyway
        if if_delete_at is not None and \
                int(if_delete_at) != int(stored_metadata.get("X-Delete-At") or 0):
            raise HTTPPreconditionFailed("X-If-Delete-At mismatch")
        current = df.ondisk().data_or_ts_timestamp
        if current is not None and current >= timestamp.internal:
            raise HTTPConflict(headers={TIMESTAMP_HEADER: current})
        df.delete(timestamp)
        old_delete_at = stored_metadata.get("X-Delete-At")
        self._container_update(req, "DELETE", target, timestamp, {},
                               int(old_delete_at) if old_delete_at else None, None)
        headers = {TIMESTAMP_HEADER: timestamp.internal}
        if existed:
            return WsgiResponse(204, headers)
        raise HTTPNotFound(headers=headers)

    # -- REPLICATE -----------------------------------------------------------------------

    def REPLICATE(self, req: Request) -> WsgiResponse:
        """Suffix hashes or a suffix inventory for the replicator (replication_server), or
        one object's files pushed to replicas a proxy found behind (repair_push)."""
        if req.headers.get(REPLICATION_OP_HEADER) == REPLICATION_OP_PUSH:
            target = self._target(req)
            partition = request_path(req).split("/", 3)[2]
            return self.repair.push(target.df, partition, req)
        return self.replication.replicate(req)

    # -- container updates ------------------------------------------------------------

    def _container_update(self, req: Request, op: str, target: Target, timestamp: Timestamp,
                          extra: dict[str, str], old_delete_at: int | None = None,
                          new_delete_at: int | None = None) -> None:
        """Tell the container replicas named in the request (PUT/DELETE, and a POST that
        changes the content type), and keep the expiry queue in step when ``X-Delete-At``
        changed; an async pending on failure."""
        df = target.df
        headers = req.headers
        base_headers = {
            "X-Timestamp": timestamp.internal,
            POLICY_INDEX_HEADER: str(target.policy.idx),
            "X-Trans-Id": headers.get("X-Trans-Id", "-"),
            "User-Agent": self.user_agent,
        }
        jobs = []
        if op != "POST" or extra:  # a POST tells the container only of a new content type
            # a POST's update is a PUT of the row whose content type is newer
            update_op = "PUT" if op == "POST" else op
            try:
                targets = parse_update_targets(headers.get("X-Container-Host"),
                                               headers.get("X-Container-Device"),
                                               headers.get("X-Container-Partition"))
            except ValueError as err:
                self.logger.error("container update headers of %s: %s", df.name, err)
                targets = []
            if targets:
                update_headers = dict(base_headers)
                update_headers.update(extra)
                jobs.append(self._update_job(target, targets, update_op, target.account,
                                             target.container, target.obj, update_headers,
                                             df.name_hash, timestamp))
        if old_delete_at != new_delete_at:
            for row in self.expiring_queue.updates(
                    headers, target.policy.idx, target.account, target.container, target.obj,
                    base_headers, old_delete_at, new_delete_at):
                row_hash = hash_path(EXPIRING_ACCOUNT, row.container, row.obj)
                job = self._update_job(target, row.targets, row.op, EXPIRING_ACCOUNT,
                                       row.container, row.obj, row.headers, row_hash,
                                       timestamp)
                if row.targets:
                    jobs.append(job)
                else:
                    try:
                        job.save_pending()  # nobody to tell from here: the updater will
                    except (OSError, OiofsError):
                        self.logger.exception("cannot save async pending for %s %s/%s",
                                              row.op, row.container, row.obj)
        if jobs:
            self.update_sender.update_many(jobs)

    def _update_job(self, target: Target, targets, op: str, account: str, container: str,
                    obj: str, update_headers: dict[str, str], name_hash: str,
                    timestamp: Timestamp) -> UpdateJob:
        """An update and how to keep it as an async pending (named after ``name_hash``:
        the object's for its container row, the queue row's for a queue row)."""
        update = {"op": op, "account": account, "container": container, "obj": obj,
                  "headers": update_headers}

        def save_pending() -> str:
            return self.manager.write_async_pending(target.device, target.policy, name_hash,
                                                    timestamp.internal, update)

        return UpdateJob(targets, op, account, container, obj, update_headers, save_pending)


def app_factory(global_conf: dict, **local_conf) -> ObjectServer:
    """PasteDeploy entry point (``egg:oiofs#object``): the app from merged options."""
    conf = dict(global_conf)
    conf.update(local_conf)
    return ObjectServer(conf)

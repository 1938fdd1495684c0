"""``holdfast.fetch``: HTTP requests from an object or worker to URLs outside Holdfast."""

from componentize_py_types import Err
from wit_world.imports import outbound as _outbound
from wit_world.imports import types as _types

from ._http import HoldfastError, Response


class FetchError(HoldfastError):
    """``fetch`` produced no response. ``kind`` is ``"denied"`` (the host is not in the
    config's ``outbound`` allow-list; the message names the key), ``"invalid-url"``,
    ``"failed"``, ``"timeout"`` or ``"too-large"``."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def fetch(url, method="GET", headers=(), body=b""):
    """Sends a request to the absolute ``url`` and returns its ``Response``, whatever its
    status. ``headers`` are ``(name, value)`` pairs; ``body`` is ``bytes`` or ``str``."""
    if isinstance(body, str):
        body = body.encode()
    req = _types.Request(method, url, list(headers), bytes(body))
    try:
        r = _outbound.fetch(req)
    except Err as err:
        e = err.value
        raise FetchError(e.kind.name.lower().replace("_", "-"), e.message) from None
    return Response(r.body, status=r.status, headers=list(r.headers))

"""Who the running object is, its storage, WebSockets and the IDs of other objects."""

import json as _json

from componentize_py_types import Err
from wit_world.imports import context as _context
from wit_world.imports import objects as _objects
from wit_world.imports import types as _types
from wit_world.imports import websockets as _ws

from . import _values
from ._http import HoldfastError
from ._storage import Storage

__all__ = ["State", "WebSocket", "Objects"]


def _call(function, *args):
    try:
        return function(*args)
    except Err as err:
        raise HoldfastError(str(err.value)) from None


class WebSocket:
    """An accepted WebSocket of this object, by its socket ID (it survives hibernation)."""

    __slots__ = ("id",)

    def __init__(self, socket_id):
        self.id = socket_id

    def __repr__(self):
        return f"WebSocket({self.id})"

    def __eq__(self, other):
        return isinstance(other, WebSocket) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    @property
    def tags(self):
        return list(_ws.get_tags(self.id))

    def send(self, message):
        """Queues a ``str`` (text) or ``bytes`` (binary) message, sent after this event commits."""
        if isinstance(message, str):
            msg = _types.Message_Text(message)
        else:
            msg = _types.Message_Binary(bytes(message))
        _call(_ws.send, self.id, msg)

    def send_json(self, value):
        self.send(_json.dumps(value, separators=(",", ":"), ensure_ascii=False))

    def close(self, code=1000, reason=""):
        _call(_ws.close, self.id, code, reason)

    @property
    def attachment(self):
        """A JSON value kept with the socket (up to 16 KiB encoded), or ``None``."""
        raw = _ws.get_attachment(self.id)
        return None if raw is None else _values.loads(raw, "the attachment")

    @attachment.setter
    def attachment(self, value):
        raw = None if value is None else _values.dumps(value, "the attachment").encode()
        _call(_ws.set_attachment, self.id, raw)

    @property
    def auto_response_timestamp(self):
        return _ws.get_auto_response_timestamp(self.id)


class Objects:
    """Object IDs of any namespace of this host."""

    __slots__ = ()

    def namespaces(self):
        """The namespaces (configured bindings) of this host, sorted."""
        return list(_objects.namespaces())

    def id_from_name(self, namespace, name):
        return _call(_objects.id_from_name, namespace, name)

    def new_unique_id(self, namespace):
        return _call(_objects.new_unique_id, namespace)

    def id_from_string(self, namespace, id):
        return _call(_objects.id_from_string, namespace, id)


class State:
    """What a ``DurableObject`` is given: ``id``, ``name``, ``namespace``, ``storage``, sockets."""

    __slots__ = ("id", "name", "namespace", "storage", "objects")

    def __init__(self):
        #: This object's ID: 64 lowercase hexadecimal characters.
        self.id = _context.id()
        #: The name the ID was derived from, or ``None``.
        self.name = _context.name()
        #: The namespace (binding) of this object's class.
        self.namespace = _context.namespace()
        self.storage = Storage()
        self.objects = Objects()

    def __repr__(self):
        return f"State(namespace={self.namespace!r}, name={self.name!r}, id={self.id!r})"

    def accept_websocket(self, tags=(), hibernatable=True):
        """Accepts the WebSocket of the running upgrade request; return
        ``Response.websocket_upgrade()`` from ``fetch`` afterwards."""
        return WebSocket(_call(_ws.accept, list(tags), bool(hibernatable)))

    def get_websockets(self, tag=None):
        """The open sockets of this object, all of them or those with ``tag``."""
        return [WebSocket(socket) for socket in _ws.get_websockets(tag)]

    def set_websocket_auto_response(self, request=None, response=None):
        """Lets the host answer the text ``request`` with ``response`` by itself; no args removes it."""
        _ws.set_auto_response(None if request is None else (request, response))

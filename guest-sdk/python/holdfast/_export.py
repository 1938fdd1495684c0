"""Wires a ``DurableObject`` subclass into the component's exported ``handler`` interface."""

import sys
import traceback

from componentize_py_types import Err
from wit_world.exports import Handler as _WitHandler
from wit_world.exports import Hosting as _WitHosting
from wit_world.imports import hosting_context as _hosting_context
from wit_world.imports import types as _types

from ._calls import Env
from ._http import HoldfastError, Request, Response
from ._state import State, WebSocket

__all__ = ["DurableObject", "AlarmInfo", "export", "Hosting"]


class AlarmInfo:
    """The alarm that fired: ``scheduled_time`` (ms), ``retry_count``, ``is_retry``."""

    __slots__ = ("scheduled_time", "retry_count", "is_retry")

    def __init__(self, scheduled_time, retry_count=0, is_retry=False):
        self.scheduled_time = scheduled_time
        self.retry_count = retry_count
        self.is_retry = is_retry

    def __repr__(self):
        return f"AlarmInfo({self.scheduled_time}, retry_count={self.retry_count})"


class DurableObject:
    """Base class of a Durable Object class written in Python.

    One instance is created, lazily, per live object, with its ``State``; events are delivered
    to it one at a time. Raising an exception from a handler fails the event: its writes are
    discarded, and a ``fetch`` answers 500 with the exception's message.
    """

    def __init__(self, state):
        self.state = state
        #: The bindings and vars: ``self.env["counter"].get_by_name("a").increment(1)``.
        self.env = Env()

    @property
    def storage(self):
        """The object's storage: the same as ``self.state.storage``."""
        return self.state.storage

    def fetch(self, request):
        raise HoldfastError(f"{type(self).__name__} does not implement fetch")

    def alarm(self, info):
        raise HoldfastError(f"{type(self).__name__} does not implement alarm")

    def websocket_message(self, ws, message):
        raise HoldfastError(f"{type(self).__name__} does not implement websocket_message")

    def websocket_close(self, ws, code, reason, was_clean):
        """A socket closed. Does nothing unless overridden."""

    def websocket_error(self, ws, error):
        """A socket failed (a close event follows). Does nothing unless overridden."""


_class = None
#: The class instance of each object this component instance hosts, by the host's slot number
#: (``hosting-context.slot``: 0 unless the host shares the instance among objects).
_objects = {}


def _object():
    slot = _hosting_context.slot()
    obj = _objects.get(slot)
    if obj is None:
        if _class is None:
            raise HoldfastError("no Durable Object class: call holdfast.export(YourClass)")
        obj = _objects[slot] = _class(State())
    return obj


class Hosting(_WitHosting):
    """The WIT ``hosting`` export: the host tells which of the objects this instance hosts it
    must drop (``forget``: the object is made anew on its next event). Which object an event is
    for, the SDK asks at its start; objects never see each other's instances."""

    def forget(self, slot):
        _objects.pop(slot, None)


#: Handlers and attributes of the base class: never callable as methods by other objects.
_NOT_METHODS = frozenset(vars(DurableObject)) | {"state", "env"}


def _method(obj, name):
    """The public method ``name`` of ``obj``'s class, or None."""
    if name.startswith("_") or name in _NOT_METHODS:
        return None
    m = getattr(type(obj), name, None)
    return getattr(obj, name) if callable(m) else None


def _call_method(name, args):
    """Runs the public method ``name`` with the JSON-array ``args``; returns its JSON result."""
    from . import _values

    try:
        obj = _object()
        method = _method(obj, name)
        if method is None:
            message = f"{type(obj).__name__} has no public method {name!r}"
            raise Err(_types.MethodError_NoSuchMethod(message))
        result = method(*_values.loads(args, f"the arguments of {name}()"))
        return _values.dumps(result, f"the result of {name}()", "send").encode()
    except Err:
        raise
    except Exception as e:  # noqa: BLE001 - every failure must reach the host as `err`
        traceback.print_exc(file=sys.stderr)
        raise Err(_types.MethodError_Failed(str(e) or type(e).__name__)) from None


def _run(event, *args):
    """Runs one event; any exception becomes the WIT ``err(message)``."""
    try:
        return getattr(_object(), event)(*args)
    except Exception as e:  # noqa: BLE001 - every failure must reach the host as `err`
        traceback.print_exc(file=sys.stderr)
        raise Err(str(e) or type(e).__name__) from None


class Handler(_WitHandler):
    """The implementation componentize-py exports as the WIT ``handler`` interface."""

    def fetch(self, req):
        request = Request(req.method, req.url, req.headers, req.body)
        response = _run("fetch", request)
        if not isinstance(response, Response):
            raise Err(f"fetch must return a holdfast.Response, not {type(response).__name__}")
        return _types.Response(response.status, list(response.headers), response.body)

    def alarm(self, info):
        _run("alarm", AlarmInfo(info.scheduled_time, info.retry_count, info.is_retry))

    def websocket_message(self, socket, msg):
        _run("websocket_message", WebSocket(socket), msg.value)

    def websocket_close(self, socket, code, reason, was_clean):
        _run("websocket_close", WebSocket(socket), code, reason, was_clean)

    def websocket_error(self, socket, error):
        _run("websocket_error", WebSocket(socket), error)

    def call(self, method, args):
        return _call_method(method, args)


def export(cls):
    """Makes ``cls`` (a ``DurableObject`` subclass) the class this component serves.

    Usable as a decorator. It also sets ``Handler`` and ``Hosting`` in ``cls``'s module, the
    names componentize-py looks up in the app module for the exported interfaces.
    """
    global _class
    if not (isinstance(cls, type) and issubclass(cls, DurableObject)):
        raise TypeError("holdfast.export expects a subclass of holdfast.DurableObject")
    _class = cls
    _objects.clear()
    module = sys.modules.get(cls.__module__)
    if module is not None:
        module.Handler = Handler
        module.Hosting = Hosting
    return cls

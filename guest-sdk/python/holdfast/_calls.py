"""Calls to other objects: ``Env`` (the bindings and vars), ``Namespace``, ``Stub`` and
``CallError``.

A call is delivered to the callee as its own event and runs atomically there; the answer comes
once the callee's writes are durable. A call that would wait in a circle (A -> B -> A, or two
objects waiting for each other) raises ``CallError`` at once with ``kind`` ``"cycle"`` or
``"deadlock"``: an object waiting in a call cannot be entered again.
"""


from componentize_py_types import Err
from wit_world.imports import calls as _calls
from wit_world.imports import environment as _environment
from wit_world.imports import objects as _objects
from wit_world.imports import types as _types

from . import _values
from ._http import HoldfastError, Request, Response

__all__ = ["CallError", "Env", "Namespace", "Stub"]


class CallError(HoldfastError):
    """A call to another object produced no answer.

    ``kind`` is one of ``"bad-address"``, ``"no-such-method"``, ``"callee-failed"`` (the
    callee raised; the message is its own), ``"callee-trapped"``, ``"cycle"``, ``"deadlock"``,
    ``"too-deep"``, ``"timeout"``, ``"overloaded"``, ``"unavailable"``, ``"invalid-argument"``,
    ``"encoding"`` (the arguments are not JSON).
    """

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def _host_call(function, *args):
    try:
        return function(*args)
    except Err as err:
        e = err.value
        raise CallError(e.kind.name.lower().replace("_", "-"), e.message) from None


def _id_call(function, *args):
    try:
        return function(*args)
    except Err as err:
        raise HoldfastError(str(err.value)) from None


class Stub:
    """Another object. ``stub.fetch(...)`` sends it a request; any other attribute is one of its
    public methods: ``stub.increment(5)`` calls ``increment`` and returns its result."""

    __slots__ = ("_address",)

    def __init__(self, namespace, id, name=None):
        self._address = _types.Address(namespace, id, name)

    @property
    def id(self):
        return self._address.id

    def fetch(self, request, method="GET", headers=(), body=b""):
        """Sends ``request`` (a ``holdfast.Request``, or a path such as ``"/increment"`` with
        ``method``, ``headers`` and ``body``) to the object's ``fetch``; returns its Response."""
        if isinstance(request, str):
            request = Request(method, request, list(headers), body)
        if not isinstance(request, Request):
            raise TypeError("fetch() takes a holdfast.Request or a path")
        req = _types.Request(request.method, request.url, list(request.headers), request.body)
        r = _host_call(_calls.fetch, self._address, req)
        return Response(r.body, status=r.status, headers=list(r.headers))

    def call(self, method, *args):
        """Calls the public method ``method`` with ``args`` (JSON values); returns its result."""
        try:
            encoded = _values.dumps(list(args), f"the arguments of {method}()", "send").encode()
        except (TypeError, ValueError) as e:
            raise CallError("encoding", str(e)) from None
        return _values.loads(_host_call(_calls.call, self._address, method, encoded))

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)
        return lambda *args: self.call(method, *args)

    def __repr__(self):
        a = self._address
        return f"Stub({a.namespace!r}, {a.name or a.id!r})"


class Namespace:
    """The objects of one binding: ``id_from_name``, ``new_unique_id``, ``get``, ``get_by_name``."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def id_from_name(self, name):
        return _id_call(_objects.id_from_name, self.name, name)

    def new_unique_id(self):
        return _id_call(_objects.new_unique_id, self.name)

    def get(self, id):
        """The stub of the object with ``id`` (checked when it is called)."""
        return Stub(self.name, id)

    def get_by_name(self, name):
        return Stub(self.name, self.id_from_name(name), name)


class Env:
    """The bindings (``env["counter"]`` or ``env.binding("counter")``) and the configured vars
    (``env.vars``, a dict of strings)."""

    __slots__ = ("vars",)

    def __init__(self):
        self.vars = dict(_environment.vars())

    def binding(self, name):
        return Namespace(name)

    def __getitem__(self, name):
        return Namespace(name)

"""A durable counter per name, in Python: the same contract as examples/counter (Rust).

The host serves each object under ``/counter/{name}``; paths below are relative to it.

    GET  /                          {"value": n}  (0 if never written)
    POST /increment[?amount=k]      {"value": n}, the new value
    POST /decrement[?amount=k]      {"value": n}, the new value
    POST /reset                     {"value": 0}
    a non-integer amount, overflow  400 {"error": "..."}
    anything else                   404 {"error": "not found"}

It reads and writes the same storage key ("value", JSON) as the Rust counter.
"""

import re

import holdfast
from holdfast import DurableObject, Response

#: The only storage key: the current value, a signed 64-bit integer.
KEY = "value"

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)


class BadAmount(Exception):
    pass


def amount(request):
    """The ``amount`` query parameter (default 1), parsed as Rust's ``i64`` would parse it."""
    text = request.query("amount")
    if text is None:
        return 1
    if not _INTEGER.fullmatch(text) or not I64_MIN <= int(text) <= I64_MAX:
        raise BadAmount(f"amount must be an integer, got `{text}`")
    return int(text)


@holdfast.export
class PyCounter(DurableObject):
    def fetch(self, request):
        storage = self.state.storage
        current = storage.get(KEY, 0)

        route = (request.method, tuple(request.segments))
        try:
            if route == ("GET", ()):
                return Response.json({"value": current})
            elif route == ("POST", ("increment",)):
                new = current + amount(request)
            elif route == ("POST", ("decrement",)):
                new = current - amount(request)
            elif route == ("POST", ("reset",)):
                new = 0
            else:
                return Response.not_found()
        except BadAmount as e:
            return Response.error(400, e)

        if not I64_MIN <= new <= I64_MAX:
            return Response.error(400, "the counter would overflow")

        # Committed atomically with this request; the response is sent after the commit.
        storage.put(KEY, new)
        return Response.json({"value": new})

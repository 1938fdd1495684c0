"""Test guest (Python): public methods other objects call, and calls to other objects.

    GET /call/{ns}/{name}/{method}?args=[...]   {"ok": result} or {"error": {"kind", "message"}}
    GET /fetch/{ns}/{name}/{path}                {"status", "body"} of stub.fetch
    GET /value                                   the counter
"""

import datetime
import json

import holdfast
from holdfast import CallError, DurableObject, Response


@holdfast.export
class PyRpc(DurableObject):
    def increment(self, by):
        value = self.state.storage.get("value", 0) + by
        self.state.storage.put("value", value)
        return value

    def get(self):
        return self.state.storage.get("value", 0)

    def fail(self, message):
        self.state.storage.put("value", -1)
        raise ValueError(message)

    def clones(self):
        """Values JSON cannot hold, for the other languages to read."""
        return {
            "at": datetime.datetime(2026, 12, 1, tzinfo=datetime.timezone.utc),
            "big": 2**70,
            "names": {1: "one"},
            "tags": {"a"},
            "bytes": b"\x01\x02",
            "nan": float("nan"),
        }

    def describe(self, value):
        """How Python sees ``value`` (what another language passed)."""
        return " ".join(f"{k}={type(v).__name__}({v!r})" for k, v in sorted(value.items()))

    def http_get(self, url):
        """``holdfast.fetch`` of ``url``: its status and body, or the error's kind and message."""
        try:
            r = holdfast.fetch(url)
        except holdfast.FetchError as e:
            return {"error": {"kind": e.kind, "message": str(e)}}
        return {"status": r.status, "body": r.body.decode()}

    def _private(self):
        return "never reachable"

    def fetch(self, request):
        seg = request.segments
        if seg and seg[0] == "call" and len(seg) == 4:
            stub = self.env[seg[1]].get_by_name(seg[2])
            args = json.loads(request.query("args", "[]"))
            try:
                return Response.json({"ok": stub.call(seg[3], *args)})
            except CallError as e:
                return Response.json({"error": {"kind": e.kind, "message": str(e)}})
        if seg and seg[0] == "fetch" and len(seg) >= 4:
            stub = self.env[seg[1]].get_by_name(seg[2])
            r = stub.fetch("/" + "/".join(seg[3:]), headers=[("x-test", "py")])
            return Response.json({"status": r.status, "body": r.body.decode()})
        if seg == ["value"]:
            return Response.json(self.get())
        return Response.not_found()

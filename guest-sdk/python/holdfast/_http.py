"""HTTP requests and responses as an object sees them (pure Python, no bindings)."""

import json as _json
import re as _re

__all__ = ["Request", "Response", "HoldfastError"]


class HoldfastError(Exception):
    """Base class of the errors this SDK raises."""


def _form_decode(text):
    """Decodes `+` to a space and `%XX` to a byte, as HTML forms do (malformed escapes stay)."""
    out = bytearray()
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        byte = raw[i]
        if byte == 0x2B:  # '+'
            out.append(0x20)
        elif byte == 0x25 and _re.fullmatch(rb"[0-9A-Fa-f]{2}", raw[i + 1 : i + 3]):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 2
        else:
            out.append(byte)
        i += 1
    return out.decode("utf-8", errors="replace")


class Request:
    """An HTTP request delivered to the object.

    ``url`` is the path and query with the routing prefix removed: a request to
    ``/counter/alice/increment?amount=2`` arrives with ``url == "/increment?amount=2"``.
    """

    __slots__ = ("method", "url", "headers", "body")

    def __init__(self, method="GET", url="/", headers=(), body=b""):
        self.method = method.upper()
        self.url = url
        #: ``[(name, value), ...]`` with lower-case names, one entry per value, in order.
        self.headers = [(name.lower(), value) for name, value in headers]
        self.body = bytes(body)

    def __repr__(self):
        return f"Request({self.method!r}, {self.url!r})"

    @property
    def path(self):
        """The URL without its query and fragment, e.g. ``/increment``."""
        return _re.split(r"[?#]", self.url, maxsplit=1)[0]

    @property
    def segments(self):
        """The non-empty path segments: ``/increment`` gives ``["increment"]``, ``/`` gives ``[]``."""
        return [segment for segment in self.path.split("/") if segment]

    @property
    def query_string(self):
        without_fragment = self.url.split("#", 1)[0]
        return without_fragment.split("?", 1)[1] if "?" in without_fragment else ""

    def query_pairs(self):
        """Every query parameter, decoded, in URL order: ``[(name, value), ...]``."""
        pairs = []
        for pair in self.query_string.split("&"):
            if pair:
                name, _, value = pair.partition("=")
                pairs.append((_form_decode(name), _form_decode(value)))
        return pairs

    def query(self, name, default=None):
        """The decoded value of the first query parameter ``name`` (``?flag`` gives ``""``)."""
        for key, value in self.query_pairs():
            if key == name:
                return value
        return default

    def header(self, name, default=None):
        """The first value of header ``name``, compared without regard to case."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    @property
    def is_websocket_upgrade(self):
        return (self.header("upgrade") or "").lower() == "websocket"

    def text(self):
        """The body decoded as UTF-8 (``UnicodeDecodeError`` if it is not)."""
        return self.body.decode("utf-8")

    def json(self):
        """The body decoded from JSON (``ValueError`` if it is not JSON)."""
        return _json.loads(self.body)


class Response:
    """An HTTP response: ``status``, ``headers`` (list of pairs) and ``body`` (bytes)."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, body=b"", status=200, headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.status = int(status)
        self.headers = [(str(name).lower(), str(value)) for name, value in headers]
        self.body = bytes(body)

    def __repr__(self):
        return f"Response(status={self.status}, body={self.body[:60]!r})"

    @classmethod
    def json(cls, value, status=200, headers=()):
        """``value`` encoded as JSON, with ``content-type: application/json``."""
        body = _json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return cls(body, status, [("content-type", "application/json"), *headers])

    @classmethod
    def text(cls, text, status=200, headers=()):
        """``text`` as the body, with ``content-type: text/plain; charset=utf-8``."""
        return cls(str(text), status, [("content-type", "text/plain; charset=utf-8"), *headers])

    @classmethod
    def bytes(cls, body, status=200, headers=()):
        """``body`` as is, with ``content-type: application/octet-stream``."""
        return cls(bytes(body), status, [("content-type", "application/octet-stream"), *headers])

    @classmethod
    def error(cls, status, message):
        """``status`` with the JSON body ``{"error": message}``."""
        return cls.json({"error": str(message)}, status=status)

    @classmethod
    def not_found(cls):
        """``404 {"error": "not found"}``."""
        return cls.error(404, "not found")

    @classmethod
    def websocket_upgrade(cls):
        """``101``: what ``fetch`` returns after ``state.accept_websocket(...)``."""
        return cls(b"", 101)

    def with_header(self, name, value):
        """Replaces every ``name`` header with one ``name: value``; returns ``self``."""
        name = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k != name] + [(name, str(value))]
        return self

"""Values as every Holdfast SDK stores them: JSON, with a tagged form for what JSON cannot hold.

Plain data (``None``, bools, ints within 2**53, finite floats, strings, lists, dicts with string
keys) is plain JSON, so other languages and the admin tools read it. The rest is an object with
one ``$`` key, the same form the JavaScript SDK writes for Cloudflare's structured clones:

=====================  ==================================  ==============================
tag                    JavaScript                          Python
=====================  ==================================  ==============================
``$undefined``         ``undefined``                       ``None``
``$number``            ``NaN``, ``±Infinity``, ``-0``      ``float``
``$bigint``            ``BigInt``                          ``int`` (also ints past 2**53)
``$date``              ``Date``                            aware ``datetime`` (UTC)
``$map``               ``Map``                             ``dict`` (any hashable keys)
``$set``               ``Set``                             ``set`` / ``frozenset``
``$bytes``             ``Uint8Array``                      ``bytes``
``$arraybuffer``       ``ArrayBuffer``                     ``bytes`` (read only)
``$regexp``            ``RegExp``                          :class:`RegExp`
``$error``             ``Error`` (and subclasses)          :class:`StoredError`
``$object``            an object whose only key is ``$x``  a dict whose only key is ``$x``
=====================  ==================================  ==============================
"""

import base64 as _base64
import datetime as _dt
import json as _json
import math as _math

_SAFE = 2**53 - 1


class RegExp:
    """A JavaScript regular expression read from storage: its ``source`` and ``flags``."""

    __slots__ = ("source", "flags")

    def __init__(self, source, flags=""):
        self.source = source
        self.flags = flags

    def __eq__(self, other):
        return isinstance(other, RegExp) and (self.source, self.flags) == (other.source, other.flags)

    def __hash__(self):
        return hash((self.source, self.flags))

    def __repr__(self):
        return f"RegExp({self.source!r}, {self.flags!r})"


class StoredError(Exception):
    """An error value (a JavaScript ``Error``) read from storage, with its ``name``."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name = name
        self.message = message

    def __eq__(self, other):
        return isinstance(other, StoredError) and (self.name, self.message) == (
            other.name,
            other.message,
        )

    def __hash__(self):
        return hash((self.name, self.message))

    def __repr__(self):
        return f"StoredError({self.name!r}, {self.message!r})"


def _encode(value, path, seen):
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if -_SAFE <= value <= _SAFE else {"$bigint": str(value)}
    if isinstance(value, float):
        if _math.isnan(value):
            return {"$number": "NaN"}
        if _math.isinf(value):
            return {"$number": "Infinity" if value > 0 else "-Infinity"}
        if value == 0.0 and _math.copysign(1.0, value) < 0:
            return {"$number": "-0"}
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": _base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        utc = value.astimezone(_dt.timezone.utc)
        return {"$date": utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"}
    if isinstance(value, RegExp):
        return {"$regexp": [value.source, value.flags]}
    if isinstance(value, StoredError):
        return {"$error": {"name": value.name, "message": value.message}}
    if isinstance(value, BaseException):
        return {"$error": {"name": type(value).__name__, "message": str(value)}}
    marker = id(value)
    if marker in seen:
        raise TypeError(f"{path} refers back to itself (a cycle)")
    seen.add(marker)
    try:
        if isinstance(value, (list, tuple)):
            return [_encode(v, f"{path}[{i}]", seen) for i, v in enumerate(value)]
        if isinstance(value, (set, frozenset)):
            return {"$set": [_encode(v, f"{path} element {i}", seen) for i, v in enumerate(value)]}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value):
                out = {k: _encode(v, f"{path}.{k}", seen) for k, v in value.items()}
                if len(out) == 1 and next(iter(out)).startswith("$"):
                    return {"$object": out}
                return out
            return {
                "$map": [
                    [_encode(k, f"{path} key {i}", seen), _encode(v, f"{path}[{k!r}]", seen)]
                    for i, (k, v) in enumerate(value.items())
                ]
            }
    finally:
        seen.discard(marker)
    raise TypeError(f"{path} is a {type(value).__name__}, which cannot be serialized")


def _malformed(what, tag):
    return ValueError(f"{what} has a malformed {tag} value")


def _hashable(value, what, where):
    try:
        hash(value)
    except TypeError:
        raise ValueError(f"{what} has a {where} Python cannot hold: {value!r} is not hashable") from None
    return value


def _decode(data, what):
    if isinstance(data, list):
        return [_decode(v, what) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1:
        ((tag, x),) = data.items()
        if tag == "$undefined":
            return None
        if tag == "$number":
            if x == "-0":
                return -0.0
            if x in ("NaN", "Infinity", "-Infinity"):
                return float(x.replace("Infinity", "inf"))
            raise _malformed(what, tag)
        if tag == "$bigint":
            try:
                return int(x)
            except (TypeError, ValueError):
                raise _malformed(what, tag) from None
        if tag == "$date":
            if x is None:
                return None
            try:
                return _dt.datetime.fromisoformat(x.replace("Z", "+00:00"))
            except (AttributeError, ValueError):
                raise _malformed(what, tag) from None
        if tag == "$map":
            return {
                _hashable(_decode(k, what), what, "Map key"): _decode(v, what) for k, v in x
            }
        if tag == "$set":
            return {_hashable(_decode(v, what), what, "Set element") for v in x}
        if tag in ("$bytes", "$arraybuffer"):
            try:
                return _base64.b64decode(x, validate=True)
            except (TypeError, ValueError):
                raise _malformed(what, tag) from None
        if tag == "$regexp":
            return RegExp(x[0], x[1])
        if tag == "$error":
            return StoredError(x.get("name", "Error"), x.get("message", ""))
        if tag == "$object":
            return {k: _decode(v, what) for k, v in x.items()}
    return {k: _decode(v, what) for k, v in data.items()}


def dumps(value, what="the value", verb="store"):
    """The JSON text of ``value`` (tagged where needed). ``TypeError`` naming the part of it
    that cannot be stored."""
    if isinstance(value, (str, bool)) or value is None:
        return _json.dumps(value, ensure_ascii=False)
    try:
        data = _encode(value, "the value", set())
    except TypeError as e:
        raise TypeError(f"cannot {verb} {what}: {e}") from None
    return _json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads(raw, what="the value"):
    """The value of JSON ``raw`` (text or bytes), tags decoded."""
    return _decode(_json.loads(raw), what)

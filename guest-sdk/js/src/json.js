// Values in storage, RPC arguments and results, and WebSocket attachments are JSON, so that
// Rust, JavaScript and Python objects (and the admin tools) read each other's data. Cloudflare
// stores structured clones, and ported code relies on it; so plain data stays plain JSON and
// what JSON cannot hold is written in a tagged form that all three SDKs decode.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

// The tags, each the only key of its object. `$object` escapes a plain object whose only key
// starts with `$`, so that no stored object is ever mistaken for a tag.
//
//   undefined            {"$undefined": true}
//   NaN, ±Infinity, -0   {"$number": "NaN" | "Infinity" | "-Infinity" | "-0"}
//   BigInt               {"$bigint": "123"}             (decimal)
//   Date                 {"$date": "2026-12-01T10:00:00.000Z"}   (null for an invalid Date)
//   Map                  {"$map": [[key, value], ...]}  (insertion order)
//   Set                  {"$set": [value, ...]}
//   Uint8Array           {"$bytes": "base64"}
//   ArrayBuffer          {"$arraybuffer": "base64"}
//   RegExp               {"$regexp": ["source", "flags"]}
//   Error                {"$error": {"name": "RangeError", "message": "..."}}
//   {"$x": ...}          {"$object": {"$x": ...}}
//
// As with structured clone, an instance of a class is stored as a plain object of its own
// enumerable properties, symbol keys are left out, and functions and symbols are refused. Unlike
// it, a value that refers back to itself is refused (JSON holds trees), and an object reached
// twice is stored twice.

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function toBase64(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += B64[(n >> 18) & 63] + B64[(n >> 12) & 63];
    out += i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.length ? B64[n & 63] : '=';
  }
  return out;
}

function fromBase64(text, what) {
  if (typeof text !== 'string' || text.length % 4 !== 0) throw notTagged(what, '$bytes');
  const clean = text.replace(/=+$/, '');
  const out = new Uint8Array((clean.length * 3) >> 2);
  let bits = 0;
  let n = 0;
  let j = 0;
  for (const c of clean) {
    const v = B64.indexOf(c);
    if (v < 0) throw notTagged(what, '$bytes');
    n = (n << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (n >> bits) & 255;
    }
  }
  return out;
}

const notTagged = (what, tag) => new Error(`${what} has a malformed ${tag} value`);

/** `value` as plain JSON data, tagged where JSON cannot hold it; throws a TypeError naming
 * the path of a part that cannot be stored. */
function encode(value, path, seen) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (Number.isNaN(value)) return { $number: 'NaN' };
      if (value === Infinity) return { $number: 'Infinity' };
      if (value === -Infinity) return { $number: '-Infinity' };
      if (Object.is(value, -0)) return { $number: '-0' };
      return value;
    case 'undefined':
      return { $undefined: true };
    case 'bigint':
      return { $bigint: value.toString() };
    case 'function':
      throw new TypeError(`${path} is a function, which cannot be serialized`);
    case 'symbol':
      throw new TypeError(`${path} is a symbol, which cannot be serialized`);
  }
  if (value === null) return null;
  if (seen.has(value)) throw new TypeError(`${path} refers back to itself (a cycle)`);
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      const out = new Array(value.length);
      for (let i = 0; i < value.length; i++) out[i] = encode(value[i], `${path}[${i}]`, seen);
      return out;
    }
    if (value instanceof Date) {
      return { $date: Number.isNaN(value.getTime()) ? null : value.toISOString() };
    }
    if (value instanceof Map) {
      let i = 0;
      const out = [];
      for (const [k, v] of value) {
        out.push([encode(k, `${path} key ${i}`, seen), encode(v, `${path}.get(${describeKey(k)})`, seen)]);
        i++;
      }
      return { $map: out };
    }
    if (value instanceof Set) {
      let i = 0;
      const out = [];
      for (const v of value) out.push(encode(v, `${path} element ${i++}`, seen));
      return { $set: out };
    }
    if (value instanceof Uint8Array) return { $bytes: toBase64(value) };
    if (value instanceof ArrayBuffer) return { $arraybuffer: toBase64(new Uint8Array(value)) };
    if (ArrayBuffer.isView(value)) {
      throw new TypeError(
        `${path} is a typed array (${value.constructor.name}); of binary values, Uint8Array and ArrayBuffer are stored`,
      );
    }
    if (value instanceof RegExp) return { $regexp: [value.source, value.flags] };
    if (value instanceof Error) return { $error: { name: value.name, message: value.message } };
    if (value instanceof Promise) throw new TypeError(`${path} is a Promise, which cannot be serialized`);
    const out = {};
    const keys = Object.keys(value);
    for (const key of keys) out[key] = encode(value[key], `${path}.${key}`, seen);
    return keys.length === 1 && keys[0].startsWith('$') ? { $object: out } : out;
  } finally {
    seen.delete(value);
  }
}

function describeKey(k) {
  return typeof k === 'string' ? JSON.stringify(k) : typeof k === 'object' ? 'an object' : String(k);
}

/** The value JSON data `data` stands for (the inverse of `encode`). */
function decode(data, what) {
  if (data === null || typeof data !== 'object') return data;
  if (Array.isArray(data)) return data.map((v) => decode(v, what));
  const keys = Object.keys(data);
  if (keys.length === 1 && keys[0].startsWith('$')) {
    const tag = keys[0];
    const x = data[tag];
    switch (tag) {
      case '$undefined':
        return undefined;
      case '$number':
        if (x === '-0') return -0;
        if (x === 'NaN' || x === 'Infinity' || x === '-Infinity') return Number(x);
        throw notTagged(what, tag);
      case '$bigint':
        if (typeof x !== 'string' || !/^-?[0-9]+$/.test(x)) throw notTagged(what, tag);
        return BigInt(x);
      case '$date':
        return new Date(x === null ? NaN : x);
      case '$map':
        if (!Array.isArray(x)) throw notTagged(what, tag);
        return new Map(x.map((pair) => [decode(pair[0], what), decode(pair[1], what)]));
      case '$set':
        if (!Array.isArray(x)) throw notTagged(what, tag);
        return new Set(x.map((v) => decode(v, what)));
      case '$bytes':
        return fromBase64(x, what);
      case '$arraybuffer':
        return fromBase64(x, what).buffer;
      case '$regexp':
        if (!Array.isArray(x)) throw notTagged(what, tag);
        return new RegExp(x[0], x[1]);
      case '$error': {
        const Kind = globalThis[x?.name];
        const e =
          typeof Kind === 'function' && (Kind === Error || Kind.prototype instanceof Error)
            ? new Kind(x.message)
            : new Error(x?.message);
        if (typeof x?.name === 'string') e.name = x.name;
        return e;
      }
      case '$object': {
        const out = {};
        for (const k of Object.keys(x ?? {})) out[k] = decode(x[k], what);
        return out;
      }
    }
  }
  const out = {};
  for (const k of keys) out[k] = decode(data[k], what);
  return out;
}

/** The JSON text of `value` (tagged where JSON cannot hold it); throws a TypeError naming
 * `what` if part of it cannot be stored. */
export function jsonText(value, what, verb = 'store') {
  // Plain numbers, strings and booleans need no walk.
  if (typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0)) {
    return JSON.stringify(value);
  }
  let data;
  try {
    data = encode(value, 'the value', new Set());
  } catch (e) {
    if (e instanceof TypeError) throw new TypeError(`cannot ${verb} ${what}: ${e.message}`);
    throw e;
  }
  return JSON.stringify(data);
}

/** The UTF-8 bytes of `text`. */
export function utf8(text) {
  return encoder.encode(text);
}

const notJson = (what, e) =>
  new Error(`${what} is not JSON (was it written as raw bytes by another SDK?): ${e.message}`);

/** The text in `bytes`; throws an Error naming `what` if they are not UTF-8. */
export function textOf(bytes, what) {
  try {
    return decoder.decode(bytes);
  } catch (e) {
    throw notJson(what, e);
  }
}

/** The value in JSON `text` (tags decoded); throws an Error naming `what` if it is not JSON. */
export function parseJson(text, what) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw notJson(what, e);
  }
  return decode(data, what);
}

/** The JSON bytes of `value` (tagged where needed); throws a TypeError naming `what` if part of
 * it cannot be stored. */
export function encodeJson(value, what, verb = 'store') {
  return utf8(jsonText(value, what, verb));
}

/** The value in `bytes`; throws an Error naming `what` if they are not JSON. */
export function decodeJson(bytes, what) {
  return parseJson(textOf(bytes, what), what);
}

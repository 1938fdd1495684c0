// Values in storage and WebSocket attachments are JSON, so that Rust, JavaScript and Python
// objects (and the admin tools) read each other's data. Cloudflare stores structured clones;
// JSON holds less. A value that JSON would silently change is refused with a TypeError instead.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Why `value` cannot be stored as JSON unchanged, or null if it can. */
function refusal(value, path, seen) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return null;
    case 'number':
      if (!Number.isFinite(value)) return `${path} is ${value}, which JSON cannot hold`;
      if (Object.is(value, -0)) return `${path} is -0, which JSON would turn into 0`;
      return null;
    case 'undefined':
      return `${path} is undefined, which JSON cannot hold (use null)`;
    case 'bigint':
      return `${path} is a BigInt, which JSON cannot hold (store it as a string)`;
    case 'function':
      return `${path} is a function`;
    case 'symbol':
      return `${path} is a symbol`;
  }
  if (value === null) return null;
  if (seen.has(value)) return `${path} refers back to itself (a cycle)`;
  seen.add(value);
  try {
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        if (!(i in value)) return `${path}[${i}] is a hole in a sparse array`;
        const why = refusal(value[i], `${path}[${i}]`, seen);
        if (why) return why;
      }
      return null;
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) {
      const kind = value.constructor?.name || 'object with a custom prototype';
      return `${path} is a ${kind}; only plain objects, arrays, strings, finite numbers, booleans and null are stored`;
    }
    if (Object.getOwnPropertySymbols(value).length > 0) {
      return `${path} has symbol keys, which JSON would drop`;
    }
    for (const key of Object.keys(value)) {
      const why = refusal(value[key], `${path}.${key}`, seen);
      if (why) return why;
    }
    return null;
  } finally {
    seen.delete(value);
  }
}

/** The JSON text of `value`; throws a TypeError naming `what` if JSON cannot hold it. */
export function jsonText(value, what) {
  const why = refusal(value, 'the value', new Set());
  if (why) throw new TypeError(`cannot store ${what}: ${why}`);
  return JSON.stringify(value);
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

/** The value in JSON `text`; throws an Error naming `what` if it is not JSON. */
export function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw notJson(what, e);
  }
}

/** The JSON bytes of `value`; throws a TypeError naming `what` if JSON cannot hold it. */
export function encodeJson(value, what) {
  return utf8(jsonText(value, what));
}

/** The value in `bytes`; throws an Error naming `what` if they are not JSON. */
export function decodeJson(bytes, what) {
  return parseJson(textOf(bytes, what), what);
}

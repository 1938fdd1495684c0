// `this.env`: one DurableObjectNamespace per binding of the host's config, with Cloudflare's
// ID methods and stubs (stub.fetch and RPC), and the configured vars as strings.

import * as calls from 'holdfast:object/calls@0.1.0';
import * as environment from 'holdfast:object/environment@0.1.0';
import * as objects from 'holdfast:object/objects@0.1.0';
import { recordOf, responseOf } from './http.js';
import { decodeJson, encodeJson } from './json.js';

/** The `webSocket` of a 101 a stub's fetch returned: the socket lives in the object. */
const FORWARDED_SOCKET = Object.freeze({
  _accepted: true,
  accept() {
    throw new TypeError(
      'this WebSocket was accepted by the Durable Object the request was forwarded to: return the response from fetch() to connect the client',
    );
  },
});

function hostCall(call) {
  try {
    return call();
  } catch (e) {
    throw new TypeError(typeof e?.payload === 'string' ? e.payload : String(e?.message ?? e));
  }
}

/** An object's ID: 64 lowercase hex digits; `name` is set when it was derived from a name. */
export class DurableObjectId {
  constructor(hex, name) {
    this._hex = hex;
    if (name !== undefined && name !== null) this.name = name;
  }
  toString() {
    return this._hex;
  }
  equals(other) {
    return other instanceof DurableObjectId && other._hex === this._hex;
  }
}

/** Standard error types a callee's exception keeps across a call, by name. */
const ERROR_TYPES = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };

/** The Error a failed call rejects with: the callee's own type and message when it threw. */
function callError(e) {
  const payload = e?.payload;
  if (payload === undefined || typeof payload.message !== 'string') {
    return new Error(String(e?.message ?? e));
  }
  let error;
  const thrown = payload.message.match(/^([A-Za-z]*Error): ([\s\S]*)$/);
  if (payload.kind === 'callee-failed' && thrown && ERROR_TYPES[thrown[1]]) {
    error = new ERROR_TYPES[thrown[1]](thrown[2]);
  } else {
    error = new Error(payload.message);
  }
  /** Why the call failed: `callee-failed`, `cycle`, `deadlock`, `timeout`, ... */
  error.kind = payload.kind;
  return error;
}

/** The host's request record for `stub.fetch(input, init)`'s Request. */
async function requestRecord(input, init) {
  const request = input instanceof Request && init === undefined ? input : new Request(input, init);
  const record = await recordOf(request);
  const url = new URL(record.url);
  return { ...record, url: url.pathname + url.search };
}

/**
 * A stub for another object: `stub.fetch(request)` sends it a request, and any other property
 * is one of its public methods (RPC): `await stub.increment(5)`. Each call runs as its own
 * event of the callee and resolves once the callee's writes are durable. A call that would wait
 * in a circle (A -> B -> A, or two objects waiting for each other) rejects at once with
 * `kind` `cycle` or `deadlock`: an object waiting in a call cannot be entered again.
 */
export class DurableObjectStub {
  constructor(namespace, id) {
    this._address = { namespace, id: id.toString(), name: id.name };
    this.id = id;
    if (id.name !== undefined) this.name = id.name;
    return new Proxy(this, {
      get(target, prop, receiver) {
        if (typeof prop === 'symbol' || prop in target) return Reflect.get(target, prop, receiver);
        // Not a thenable: `await stub` gives the stub.
        if (prop === 'then') return undefined;
        return (...args) => target._call(prop, args);
      },
    });
  }
  async fetch(input, init) {
    const record = await requestRecord(input, init);
    let r;
    try {
      r = calls.fetch(this._address, record);
    } catch (e) {
      throw callError(e);
    }
    if (r.status === 101) {
      // The object accepted the client's WebSocket (a worker forwarding an upgrade): return
      // this response from the worker's fetch and the host connects the client to it.
      return new Response(null, { status: 101, headers: r.headers, webSocket: FORWARDED_SOCKET });
    }
    return responseOf(r);
  }
  async _call(method, args) {
    const encoded = encodeJson(args, `the arguments of ${method}()`, 'send');
    let result;
    try {
      result = calls.call(this._address, method, encoded);
    } catch (e) {
      throw callError(e);
    }
    return decodeJson(result, `the result of ${method}()`);
  }
}

/** A binding's namespace: IDs and stubs. */
export class DurableObjectNamespace {
  constructor(name) {
    this._name = name;
  }
  idFromName(name) {
    if (typeof name !== 'string') throw new TypeError('idFromName() takes a string');
    return new DurableObjectId(hostCall(() => objects.idFromName(this._name, name)), name);
  }
  newUniqueId() {
    return new DurableObjectId(hostCall(() => objects.newUniqueId(this._name)));
  }
  idFromString(id) {
    if (typeof id !== 'string') throw new TypeError('idFromString() takes a string');
    return new DurableObjectId(hostCall(() => objects.idFromString(this._name, id)));
  }
  get(id) {
    if (!(id instanceof DurableObjectId)) throw new TypeError('get() takes a DurableObjectId');
    return new DurableObjectStub(this._name, id);
  }
  getByName(name) {
    return this.get(this.idFromName(name));
  }
}

/** The env object: `env[binding]` for each binding of the host's config. */
export function makeEnv() {
  const env = {};
  for (const [name, value] of environment.vars()) env[name] = value;
  for (const name of objects.namespaces()) env[name] = new DurableObjectNamespace(name);
  return Object.freeze(env);
}

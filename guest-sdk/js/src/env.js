// `this.env`: one DurableObjectNamespace per binding of the host's config, with Cloudflare's
// ID methods. Calls from one object to another (stub.fetch) are not available yet; they fail
// with an error saying so, never hang.

import * as objects from 'holdfast:object/objects@0.1.0';

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

/** A stub for another object. */
export class DurableObjectStub {
  constructor(namespace, id) {
    this._namespace = namespace;
    this.id = id;
    if (id.name !== undefined) this.name = id.name;
  }
  async fetch() {
    throw new Error(
      `stub.fetch() to ${this._namespace}/${this.id.name ?? this.id} is not supported yet: ` +
        'Holdfast has no calls from one object to another (call it over HTTP instead)',
    );
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
  for (const name of objects.namespaces()) env[name] = new DurableObjectNamespace(name);
  return Object.freeze(env);
}

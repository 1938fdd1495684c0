// Server-side WebSockets, both of Cloudflare's styles:
// - hibernation: `ctx.acceptWebSocket(server, tags)`; events go to the class's
//   `webSocketMessage / webSocketClose / webSocketError` methods, also after the object was
//   evicted and re-created (the host owns the connection);
// - standard: `server.accept()` plus `addEventListener(...)`; the socket pins the object in
//   memory so that its listeners stay alive.
// Either way each event runs through the object's mailbox, one at a time, atomically.

import * as wit from 'holdfast:object/websockets@0.1.0';
import { decodeJson, encodeJson } from './json.js';

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

// The activation's WebSocket objects by host socket ID, so that every event and
// `getWebSockets()` hands out the same object for the same connection. One map per object: an
// instance hosting many objects switches to the running one's (`useSockets`).
let sockets = new Map();

/** Makes `map` the running object's WebSocket objects (hosting.js, as an event starts). */
export function useSockets(map) {
  sockets = map;
}

// Text sent to several sockets in a row (a broadcast: the same string to each member) goes to
// the host in one `send-many` call, when something else needs the host's order of frames (a
// close, an accept, another message) or when the event ends: one import call, not one per
// member. The host stages sends until the event commits either way, so nothing can tell the
// difference, except that a send to a connection that has just ended is dropped (its close
// event follows) rather than thrown.
let pending = null;

/** Hands the pending broadcast to the host (before another frame, and when the event ends). */
export function flushSends() {
  if (pending === null) return;
  const { ids, msg } = pending;
  pending = null;
  // The sockets it returns are connections that just ended: their close events follow.
  wit.sendMany(BigUint64Array.from(ids, BigInt), msg);
}

/** Drops the pending broadcast (the event failed: the host discards its sends anyway). */
export function dropSends() {
  pending = null;
}

function hostError(e) {
  return new Error(typeof e?.payload === 'string' ? e.payload : String(e?.message ?? e));
}

function frame(data) {
  if (typeof data === 'string') return { tag: 'text', val: data };
  if (data instanceof ArrayBuffer) return { tag: 'binary', val: new Uint8Array(data) };
  if (ArrayBuffer.isView(data)) {
    return { tag: 'binary', val: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  }
  throw new TypeError('WebSocket.send() takes a string, an ArrayBuffer or a typed array');
}

/** The server end of a connection (or the client end of a `WebSocketPair`, until upgraded). */
export class WebSocket {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSING = CLOSING;
  static CLOSED = CLOSED;

  constructor(id = null, hibernatable = false) {
    /** Listeners by event type ('message', 'close', 'error'), standard API only. */
    this._listeners = new Map();
    this._id = id;
    this._hibernatable = hibernatable;
    this.readyState = id === null ? CONNECTING : OPEN;
    /** The other end, for the pair's client (returned in the 101 response). */
    this._peer = null;
  }

  /**
   * Adds a listener for 'message' ({data}), 'close' ({code, reason, wasClean}) or 'error'
   * ({error, message}) events. Listeners run in order within the event; one that throws (or
   * returns a rejected promise) fails the event, rolling back its storage writes.
   */
  addEventListener(type, listener, options) {
    if (typeof listener !== 'function' && typeof listener?.handleEvent !== 'function') return;
    const list = this._listeners.get(type) ?? [];
    if (list.some((l) => l.listener === listener)) return;
    list.push({ listener, once: Boolean(options?.once) });
    this._listeners.set(type, list);
  }

  removeEventListener(type, listener) {
    const list = this._listeners.get(type);
    if (list) this._listeners.set(type, list.filter((l) => l.listener !== listener));
  }

  /** Accepts this end with the standard API: events go to its listeners. */
  accept() {
    acceptSocket(this, [], false);
  }

  send(data) {
    const msg = frame(data);
    requireOpen(this, 'send');
    if (typeof data === 'string') {
      if (pending !== null && pending.msg.val === data) {
        pending.ids.push(this._id);
        return;
      }
      flushSends();
      pending = { ids: [this._id], msg };
      return;
    }
    flushSends();
    try {
      wit.send(this._id, msg);
    } catch (e) {
      throw hostError(e);
    }
  }

  close(code = 1000, reason = '') {
    requireOpen(this, 'close');
    // As in browsers, closing a socket that is already closing or closed does nothing:
    // Cloudflare's examples close the socket again in webSocketClose / the 'close' listener.
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    flushSends();
    try {
      wit.close(this._id, code, String(reason));
    } catch (e) {
      throw hostError(e);
    }
    this.readyState = CLOSING;
  }

  /** Keeps `value` (JSON, up to 16 KiB) with the connection; it survives hibernation. */
  serializeAttachment(value) {
    requireOpen(this, 'serializeAttachment');
    const bytes = value === undefined || value === null ? undefined : encodeJson(value, 'the attachment');
    try {
      wit.setAttachment(this._id, bytes);
    } catch (e) {
      throw hostError(e);
    }
  }

  /** The value given to `serializeAttachment`, or null. */
  deserializeAttachment() {
    if (this._id === null) return null;
    const bytes = wit.getAttachment(this._id);
    return bytes === undefined ? null : decodeJson(bytes, 'the WebSocket attachment');
  }
}

function requireOpen(ws, what) {
  if (ws._id === null) {
    throw new TypeError(
      `WebSocket.${what}() before the socket was accepted: call ctx.acceptWebSocket(server) or server.accept() first`,
    );
  }
}

// The socket accepted by the running fetch, whose response must then be the 101.
let acceptedInFetch = null;

/** The socket the running fetch accepted, if any, forgotten from then on. */
export function takeAccepted() {
  const ws = acceptedInFetch;
  acceptedInFetch = null;
  return ws;
}

/** Accepts the server end with the host; the upgrade happens when fetch returns status 101. */
export function acceptSocket(ws, tags, hibernatable) {
  if (!(ws instanceof WebSocket) || ws._peer === null || ws._pairServer !== true) {
    throw new TypeError('only the server end of a new WebSocketPair() can be accepted');
  }
  if (ws._id !== null) throw new TypeError('this WebSocket was already accepted');
  if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) {
    throw new TypeError('WebSocket tags must be an array of strings');
  }
  flushSends();
  try {
    ws._id = wit.accept(tags, hibernatable);
  } catch (e) {
    throw hostError(e);
  }
  ws._hibernatable = hibernatable;
  ws.readyState = OPEN;
  ws._peer._accepted = true;
  sockets.set(ws._id, ws);
  acceptedInFetch = ws;
}

/** `new WebSocketPair()`: `{0: client, 1: server}`; return `client` in a 101 response. */
export class WebSocketPair {
  constructor() {
    const client = new WebSocket();
    const server = new WebSocket();
    client._peer = server;
    server._peer = client;
    server._pairServer = true;
    this[0] = client;
    this[1] = server;
  }
}

/** An automatic reply the host gives without waking the object. */
export class WebSocketRequestResponsePair {
  constructor(request, response) {
    if (typeof request !== 'string' || typeof response !== 'string') {
      throw new TypeError('WebSocketRequestResponsePair takes two strings');
    }
    this.request = request;
    this.response = response;
  }
}

/** The WebSocket object for host socket `id` (created after hibernation). */
export function socketFor(id) {
  let ws = sockets.get(id);
  if (!ws) {
    ws = new WebSocket(id, true);
    sockets.set(id, ws);
  }
  return ws;
}

export function forgetSocket(id) {
  sockets.delete(id);
}

/** Whether the socket's events go to its own listeners (standard API). */
export function usesListeners(ws) {
  return !ws._hibernatable;
}

/** Runs a standard-API socket's listeners (and its `on<type>` property) for `event`. */
export async function dispatch(ws, event) {
  event.target = ws;
  const list = ws._listeners.get(event.type) ?? [];
  ws._listeners.set(event.type, list.filter((l) => !l.once));
  const handlers = list.map((l) => l.listener);
  const property = ws[`on${event.type}`];
  if (typeof property === 'function') handlers.push(property);
  for (const h of handlers) {
    await (typeof h === 'function' ? h.call(ws, event) : h.handleEvent(event));
  }
}

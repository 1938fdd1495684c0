// `this.ctx` (Cloudflare's DurableObjectState): the object's ID, storage, WebSockets and the
// concurrency helpers. Holdfast delivers one event at a time and drives each event's promises
// to completion before the event ends, so `blockConcurrencyWhile` and `waitUntil` work becomes
// part of the event that started it: its writes commit (or roll back) with that event.

import * as context from 'holdfast:object/context@0.1.0';
import { DurableObjectId } from './env.js';
import * as storageHost from 'holdfast:object/storage@0.1.0';
import { DurableObjectStorage, host } from './storage.js';
import * as websocketHost from 'holdfast:object/websockets@0.1.0';
import { WebSocketRequestResponsePair, acceptSocket, socketFor } from './websocket.js';

export class DurableObjectState {
  constructor() {
    this.id = new DurableObjectId(context.id(), context.name());
    this.storage = new DurableObjectStorage();
    /** Promises the running event must settle before it ends. */
    this._gates = [];
    this._background = [];
  }

  /** Runs `fn` before any other event is delivered; a throw fails the event and resets the object. */
  blockConcurrencyWhile(fn) {
    const p = Promise.resolve().then(fn);
    p.catch((e) => {
      this._aborted = true;
      this._abortError = e;
    });
    this._gates.push(p);
    return p;
  }

  /** Lets `promise` finish within the running event (its failure is logged, not fatal). */
  waitUntil(promise) {
    this._background.push(Promise.resolve(promise));
  }

  /** Accepts `ws` (a WebSocketPair's server end) for hibernation, with up to 10 tags. */
  acceptWebSocket(ws, tags = []) {
    acceptSocket(ws, tags, true);
  }

  /** The hibernatable WebSockets of this object, all or those with `tag`. */
  getWebSockets(tag) {
    // The host's list<u64> arrives as a BigUint64Array, whose map() could only hold BigInts.
    return Array.from(websocketHost.getWebsockets(tag ?? undefined), socketFor);
  }

  getTags(ws) {
    return ws._id === null ? [] : Array.from(websocketHost.getTags(ws._id));
  }

  /** A reply the host sends to an exact request message without waking the object. */
  setWebSocketAutoResponse(pair) {
    if (pair === undefined || pair === null) {
      websocketHost.setAutoResponse(undefined);
      this._autoResponse = null;
      return;
    }
    if (!(pair instanceof WebSocketRequestResponsePair)) {
      throw new TypeError('setWebSocketAutoResponse() takes a WebSocketRequestResponsePair');
    }
    websocketHost.setAutoResponse([pair.request, pair.response]);
    this._autoResponse = pair;
  }

  getWebSocketAutoResponse() {
    return this._autoResponse ?? null;
  }

  /** When the host last answered `ws` automatically, or null. */
  getWebSocketAutoResponseTimestamp(ws) {
    const ms = ws._id === null ? undefined : websocketHost.getAutoResponseTimestamp(ws._id);
    return ms === undefined ? null : new Date(Number(ms));
  }

  /**
   * Makes this object a copy of `snapshot` (from `ctx.storage.snapshot()` of an object of the
   * same class) when it next starts, e.g. after `ctx.abort()`; resolves to the undo bookmark.
   */
  async onNextSessionRestore(snapshot) {
    return host(() => storageHost.onNextSessionRestore(String(snapshot)));
  }

  /** Ends the running event with `reason` as its error and starts the object afresh. */
  abort(reason) {
    this._aborted = true;
    this._abortError = new Error(reason === undefined ? 'the object was aborted' : String(reason));
    throw new Error(reason === undefined ? 'the object was aborted' : String(reason));
  }

  /** Whether the running event started promises that must settle before it ends. */
  _pending() {
    return this._gates.length > 0 || this._background.length > 0;
  }

  /** Awaits what the running event started; rejects if a blockConcurrencyWhile callback failed. */
  async _settle() {
    while (this._gates.length || this._background.length) {
      const gates = this._gates.splice(0);
      const background = this._background.splice(0);
      for (const r of await Promise.allSettled(background)) {
        if (r.status === 'rejected') console.error('waitUntil promise rejected:', String(r.reason));
      }
      await Promise.all(gates);
    }
  }
}

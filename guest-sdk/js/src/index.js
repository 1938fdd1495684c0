// The Holdfast JavaScript SDK: Cloudflare's Durable Object API. Import it as
// `cloudflare:workers` (the build step maps that name here) or as `holdfast`.

import './globals.js';

/** Base class of a Durable Object: keeps `this.ctx` (the state) and `this.env`. */
export class DurableObject {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
  }
}

export { Response } from './http.js';
export { StorageError } from './storage.js';
export { SqlError, SqlStorage, SqlStorageCursor } from './sql.js';
export { WebSocket, WebSocketPair, WebSocketRequestResponsePair } from './websocket.js';
export { DurableObjectId, DurableObjectNamespace, DurableObjectStub } from './env.js';

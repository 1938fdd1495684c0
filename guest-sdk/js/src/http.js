// Requests and responses: the host's records to and from the platform's `Request` and
// `Response` (StarlingMonkey's fetch classes), plus WebSocket upgrades (status 101).

import { takeAccepted } from './websocket.js';

const NativeResponse = globalThis.Response;
const encoder = new TextEncoder();

/**
 * `Response`, extended as on Cloudflare: `new Response(null, {status: 101, webSocket: client})`
 * answers a WebSocket upgrade with the client end of a `WebSocketPair`.
 */
export class Response extends NativeResponse {
  constructor(body, init) {
    if (init && init.webSocket !== undefined && init.webSocket !== null) {
      const status = init.status ?? 101;
      if (status !== 101) {
        throw new RangeError(`a Response with a webSocket must have status 101, not ${status}`);
      }
      super(null, { headers: init.headers });
      this._webSocket = init.webSocket;
    } else {
      super(body, init);
      // Kept so that the host's response need not be read back through the body stream.
      if (typeof body === 'string' || body instanceof Uint8Array) this._raw = body;
    }
  }
  /** `Response.json(data, init)`: `data` as JSON with `content-type: application/json`. */
  static json(data, init = {}) {
    const headers = new Headers(init.headers);
    if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    return new Response(JSON.stringify(data), { ...init, headers });
  }
  get status() {
    return this._webSocket ? 101 : super.status;
  }
  get ok() {
    return this._webSocket ? false : super.ok;
  }
  /** Responses made by the platform (`Response.json`, ...) count as Responses too. */
  static [Symbol.hasInstance](value) {
    return value instanceof NativeResponse;
  }
  /** The client end of the accepted WebSocketPair, for a 101 response. */
  get webSocket() {
    return this._webSocket ?? null;
  }
}

/** The platform Request for the host's request record. */
export function toRequest(req) {
  takeAccepted(); // a new fetch: forget a socket accepted by an earlier one that failed
  const headers = new Headers(req.headers);
  const host = headers.get('host') || 'localhost';
  const init = { method: req.method };
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.body.length > 0) {
    // With a body, the platform's own copy of the headers matters (content-type for formData()).
    init.body = req.body;
    init.headers = headers;
  }
  const request = new Request(`http://${host}${req.url}`, init);
  // The platform's Request drops the headers a browser may not set (`upgrade`, `connection`,
  // `host`, ...). The object sees every header the client sent, as on Cloudflare, where
  // `request.headers.get('Upgrade') === 'websocket'` is how a fetch tells a WebSocket upgrade.
  Object.defineProperty(request, 'headers', { value: headers, configurable: true });
  return request;
}

function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return typeof value;
}

/** The host's response record for what `fetch` returned. */
export function fromResponse(resp) {
  if (!(resp instanceof NativeResponse)) {
    throw new TypeError(`fetch() must return a Response, got ${describe(resp)}`);
  }
  const headers = [];
  resp.headers.forEach((value, name) => headers.push([name, value]));
  const accepted = takeAccepted();
  if (resp.status === 101) {
    const client = resp.webSocket;
    if (!client || !client._accepted) {
      throw new TypeError(
        'a 101 response needs the client end of a WebSocketPair whose server end was accepted ' +
          '(ctx.acceptWebSocket(server) or server.accept())',
      );
    }
    return { status: 101, headers, body: new Uint8Array() };
  }
  if (accepted !== null) {
    // The host would upgrade anyway: refuse the event instead of ignoring the response.
    throw new TypeError(
      `fetch() accepted a WebSocket but returned status ${resp.status}: return ` +
        'new Response(null, {status: 101, webSocket: client}), or answer before accepting',
    );
  }
  if (resp._raw !== undefined && !resp.bodyUsed) {
    const raw = resp._raw;
    return { status: resp.status, headers, body: typeof raw === 'string' ? encoder.encode(raw) : raw };
  }
  return resp.arrayBuffer().then((buffer) => ({ status: resp.status, headers, body: new Uint8Array(buffer) }));
}

/** The host's request record of the platform Request `request` (its whole URL). */
export async function recordOf(request) {
  const headers = [];
  request.headers.forEach((value, name) => headers.push([name, value]));
  const body =
    request.method === 'GET' || request.method === 'HEAD'
      ? new Uint8Array()
      : new Uint8Array(await request.arrayBuffer());
  return { method: request.method, url: request.url, headers, body };
}

/** The platform Response of a response record another party answered; `head` for a HEAD
 * request's (which has no body). */
export function responseOf(r, head = false) {
  const empty = r.status === 204 || r.status === 304 || head;
  return new Response(empty ? null : r.body, { status: r.status, headers: r.headers });
}

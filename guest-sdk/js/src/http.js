// Requests and responses: the host's records to and from the platform's `Request` and
// `Response` (StarlingMonkey's fetch classes), plus WebSocket upgrades (status 101).

const NativeResponse = globalThis.Response;

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
    }
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
  const headers = new Headers(req.headers);
  const host = headers.get('host') || 'localhost';
  const init = { method: req.method, headers };
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.body.length > 0) init.body = req.body;
  return new Request(`http://${host}${req.url}`, init);
}

function describe(value) {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'an object';
  return typeof value;
}

/** The host's response record for what `fetch` returned. */
export async function fromResponse(resp) {
  if (!(resp instanceof NativeResponse)) {
    throw new TypeError(`fetch() must return a Response, got ${describe(resp)}`);
  }
  const headers = [];
  resp.headers.forEach((value, name) => headers.push([name, value]));
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
  return { status: resp.status, headers, body: new Uint8Array(await resp.arrayBuffer()) };
}

// `fetch()` to the world outside Holdfast, as on Cloudflare: the global `fetch(input, init)`
// resolves to a `Response` whatever its status. The host allows only the hosts of the class's (or
// worker's) `outbound` list; anything else rejects with a TypeError naming that config key, with
// a `kind` (`denied`, `invalid-url`, `failed`, `timeout`, `too-large`).

import * as outbound from 'holdfast:object/outbound@0.1.0';
import { recordOf, responseOf } from './http.js';

export async function fetch(input, init) {
  let request;
  try {
    request = input instanceof Request && init === undefined ? input : new Request(input, init);
  } catch (e) {
    const error = new TypeError(`fetch() needs an absolute http: or https: URL: ${e.message}`);
    error.kind = 'invalid-url';
    throw error;
  }
  const record = await recordOf(request);
  let r;
  try {
    r = outbound.fetch(record);
  } catch (e) {
    const payload = e?.payload;
    const error = new TypeError(typeof payload?.message === 'string' ? payload.message : String(e));
    error.kind = payload?.kind;
    throw error;
  }
  return responseOf(r, request.method === 'HEAD');
}

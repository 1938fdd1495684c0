// A durable counter per name, in JavaScript with Cloudflare's Durable Object API: the same
// contract as examples/counter (Rust). Written as for Cloudflare; only the build differs.
//
// The host serves each object under /js-counter/{name}; paths below are relative to it.
//
//   GET  /                          {"value": n}  (0 if never written)
//   POST /increment[?amount=k]      {"value": n}, the new value
//   POST /decrement[?amount=k]      {"value": n}, the new value
//   POST /reset                     {"value": 0}
//   a non-integer amount, overflow  400 {"error": "..."}
//   anything else                   404 {"error": "not found"}
//
// Numbers are JavaScript numbers: exact up to 2^53 - 1 (Number.MAX_SAFE_INTEGER), so that is
// where this counter overflows (the Rust one goes to 2^63 - 1).

import { DurableObject } from 'cloudflare:workers';

/** The only storage key: the current value (JSON, readable by the Rust and Python counters). */
const KEY = 'value';

const error = (status, message) => Response.json({ error: message }, { status });

/** The `amount` query parameter (default 1), or a 400 response saying what is wrong. */
function amount(url) {
  const text = url.searchParams.get('amount');
  if (text === null) return 1;
  if (!/^[+-]?[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw error(400, `amount must be an integer, got \`${text}\``);
  }
  return Number(text);
}

export class Counter extends DurableObject {
  async fetch(request) {
    const url = new URL(request.url);
    const path = url.pathname.replace(/\/+$/, '');
    const current = (await this.ctx.storage.get(KEY)) ?? 0;

    let next;
    try {
      if (request.method === 'GET' && path === '') return Response.json({ value: current });
      if (request.method !== 'POST') return error(404, 'not found');
      if (path === '/increment') next = current + amount(url);
      else if (path === '/decrement') next = current - amount(url);
      else if (path === '/reset') next = 0;
      else return error(404, 'not found');
    } catch (response) {
      if (response instanceof Response) return response;
      throw response;
    }
    if (!Number.isSafeInteger(next)) return error(400, 'the counter would overflow');

    // Committed atomically with this request; the response is sent after the commit.
    await this.ctx.storage.put(KEY, next);
    return Response.json({ value: next });
  }
}

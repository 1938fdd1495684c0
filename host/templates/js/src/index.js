// The Worker routes /counter/{name} to the Counter object of that name, by RPC.
//
//   GET  /counter/{name}   {"value": n}
//   POST /counter/{name}   {"value": n}, after adding one

import { DurableObject } from 'cloudflare:workers';

export class Counter extends DurableObject {
  async increment() {
    const value = ((await this.ctx.storage.get('value')) ?? 0) + 1;
    await this.ctx.storage.put('value', value);
    return value;
  }

  async get() {
    return (await this.ctx.storage.get('value')) ?? 0;
  }
}

export default {
  async fetch(request, env) {
    const match = /^\/counter\/([^/]+)$/.exec(new URL(request.url).pathname);
    if (!match) return Response.json({ error: 'not found' }, { status: 404 });
    const counter = env.COUNTER.getByName(decodeURIComponent(match[1]));
    const value = request.method === 'POST' ? await counter.increment() : await counter.get();
    return Response.json({ value });
  },
};

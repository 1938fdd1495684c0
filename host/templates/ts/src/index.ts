// The Worker routes /counter/{name} to the Counter object of that name, by RPC.
//
//   GET  /counter/{name}   {"value": n}
//   POST /counter/{name}   {"value": n}, after adding one

import { DurableObject } from 'cloudflare:workers';

export interface Env {
  COUNTER: DurableObjectNamespace<Counter>;
}

export class Counter extends DurableObject<Env> {
  async increment(): Promise<number> {
    const value = ((await this.ctx.storage.get<number>('value')) ?? 0) + 1;
    await this.ctx.storage.put('value', value);
    return value;
  }

  async get(): Promise<number> {
    return (await this.ctx.storage.get<number>('value')) ?? 0;
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const match = /^\/counter\/([^/]+)$/.exec(new URL(request.url).pathname);
    if (!match) return Response.json({ error: 'not found' }, { status: 404 });
    const counter = env.COUNTER.getByName(decodeURIComponent(match[1]));
    const value = request.method === 'POST' ? await counter.increment() : await counter.get();
    return Response.json({ value });
  },
} satisfies ExportedHandler<Env>;

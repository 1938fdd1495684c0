// Test guest (JavaScript): a whole application in one component, as a Cloudflare project has
// it — a worker (`export default { fetch }`) that asks a Limiter object per client address
// before serving /api/*, and forwards /counter/{name}[/increment] to a Counter object.

import { DurableObject } from 'cloudflare:workers';

export class Counter extends DurableObject {
  async increment(by = 1) {
    const value = ((await this.ctx.storage.get('value')) ?? 0) + by;
    await this.ctx.storage.put('value', value);
    return value;
  }

  async fetch(request) {
    const value = (await this.ctx.storage.get('value')) ?? 0;
    return Response.json({ value, seen: new URL(request.url).pathname });
  }
}

export class Limiter extends DurableObject {
  async allow(limit) {
    const used = ((await this.ctx.storage.get('used')) ?? 0) + 1;
    await this.ctx.storage.put('used', used);
    return used <= limit;
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    let path = url.pathname;
    if (path.startsWith('/api/')) {
      const ip = request.headers.get('cf-connecting-ip');
      if (!(await env.LIMITER.getByName(ip).allow(Number(env.LIMIT)))) {
        return new Response('rate limited', { status: 429 });
      }
      path = path.slice(4);
    }
    const counter = path.match(/^\/counter\/([^/]+)(\/increment)?$/);
    if (counter) {
      const stub = env.COUNTER.getByName(counter[1]);
      if (counter[2]) return Response.json({ value: await stub.increment(1) });
      return stub.fetch(request);
    }
    if (path === '/throw') throw new TypeError('the worker threw');
    if (path === '/later') {
      ctx.waitUntil(env.COUNTER.getByName('later').increment(1));
      return new Response('accepted');
    }
    if (path === '/env') {
      return Response.json({ LIMIT: env.LIMIT, bindings: Object.keys(env).sort() });
    }
    return new Response('not found', { status: 404 });
  },
};

// The Worker: a Hono router in front of three Durable Object classes, written for Cloudflare.
//
//   GET  /                          the GREETING var, as text
//   GET  /api/counter/:name         {"name", "value"}               (rate limited)
//   POST /api/counter/:name         {"name", "value"} after +1,      (rate limited)
//                                   or +by with a JSON body {"by": n}
//   GET  /api/whoami                {"ip"}: the client address the Worker sees (CF-Connecting-IP)
//   *    /room/:room/*              forwarded to the ChatRoom named :room (WebSocket upgrades too)
//
// /api/* asks the RateLimiter object of the client's IP first: past RATE_LIMIT requests a
// minute the answer is 429.

import { Hono } from 'hono';
import { ChatRoom } from './chat-room';
import { Counter } from './counter';
import { RateLimiter } from './rate-limiter';

export { ChatRoom, Counter, RateLimiter };

export interface Env {
  COUNTER: DurableObjectNamespace<Counter>;
  CHAT_ROOM: DurableObjectNamespace<ChatRoom>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  GREETING: string;
  RATE_LIMIT: string;
}

const app = new Hono<{ Bindings: Env }>();

app.get('/', (c) => c.text(c.env.GREETING));

app.use('/api/*', async (c, next) => {
  const ip = c.req.header('cf-connecting-ip') ?? 'unknown';
  const limiter = c.env.RATE_LIMITER.getByName(ip);
  const verdict = await limiter.take(Number(c.env.RATE_LIMIT));
  if (!verdict.allowed) {
    return c.json({ error: 'too many requests', retryAfterMs: verdict.retryAfterMs }, 429);
  }
  await next();
});

app.get('/api/whoami', (c) => c.json({ ip: c.req.header('cf-connecting-ip') ?? null }));

app.get('/api/counter/:name', async (c) => {
  const name = c.req.param('name');
  const value = await c.env.COUNTER.getByName(name).get();
  return c.json({ name, value });
});

app.post('/api/counter/:name', async (c) => {
  const name = c.req.param('name');
  const body = await c.req.text();
  const by = body === '' ? 1 : (JSON.parse(body) as { by: number }).by;
  try {
    const value = await c.env.COUNTER.getByName(name).increment(by);
    return c.json({ name, value });
  } catch (e) {
    // The object's error (a RangeError for a bad `by`) reaches the Worker as on Cloudflare.
    return c.json({ error: (e as Error).message }, 400);
  }
});

app.all('/room/:room/*', (c) => {
  const room = c.env.CHAT_ROOM.getByName(c.req.param('room'));
  return room.fetch(c.req.raw);
});

app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));

export default app;

// One rate limiter per client IP: a fixed window of one minute, kept in storage so that a
// restart does not reset it.

import { DurableObject } from 'cloudflare:workers';

const WINDOW_MS = 60_000;

interface Window {
  start: number;
  count: number;
}

export class RateLimiter extends DurableObject {
  /** Counts one request; `allowed` is false past `limit` requests in the current window. */
  async take(limit: number): Promise<{ allowed: boolean; retryAfterMs: number }> {
    const now = Date.now();
    let w = (await this.ctx.storage.get<Window>('window')) ?? { start: now, count: 0 };
    if (now - w.start >= WINDOW_MS) w = { start: now, count: 0 };
    if (w.count >= limit) {
      return { allowed: false, retryAfterMs: w.start + WINDOW_MS - now };
    }
    w.count += 1;
    await this.ctx.storage.put('window', w);
    return { allowed: true, retryAfterMs: 0 };
  }
}

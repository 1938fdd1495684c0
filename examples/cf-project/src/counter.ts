// A named counter, reached from the Worker by RPC: `env.COUNTER.getByName(name).increment(by)`.

import { DurableObject } from 'cloudflare:workers';

export class Counter extends DurableObject {
  /** Adds `by` (an integer, 1 by default) and returns the new value. */
  async increment(by: number = 1): Promise<number> {
    if (!Number.isSafeInteger(by)) {
      throw new RangeError(`increment needs an integer, got ${JSON.stringify(by)}`);
    }
    const value = ((await this.ctx.storage.get<number>('value')) ?? 0) + by;
    await this.ctx.storage.put('value', value);
    return value;
  }

  async get(): Promise<number> {
    return (await this.ctx.storage.get<number>('value')) ?? 0;
  }
}

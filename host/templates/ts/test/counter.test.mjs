// Runs the project on the real host (`holdfast` on PATH, or HOLDFAST_BIN) with a fresh data
// directory: `npm test`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHost } from '@holdfast/sdk/testing.mjs';

test('a counter counts, durably', async (t) => {
  const host = await startHost({ config: 'wrangler.toml' });
  t.after(() => host.stop());
  let r = await host.fetch('/counter/alice', { method: 'POST' });
  assert.deepEqual(await r.json(), { value: 1 });
  // The test controls read and write the object's storage, as events in its mailbox.
  const alice = host.object('COUNTER', 'alice');
  assert.equal(await alice.get('value'), 1);
  await alice.put('value', 41);
  r = await host.fetch('/counter/alice', { method: 'POST' });
  assert.deepEqual(await r.json(), { value: 42 });
});

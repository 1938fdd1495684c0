// Test guest for the JavaScript SDK's standard (non-hibernation) WebSocket API, written as on
// Cloudflare: `server.accept()` and event listeners. Such a socket keeps its object in memory,
// so the listeners (closures over this instance) live as long as the connection.
//
//   GET /ws                   upgrade: every text message is stored and echoed as
//                             `echo {count}: {text}`; a binary one comes back reversed; the text
//                             `fail` fails its event; `close` makes the object close the socket
//   GET /state                {"received": n in memory, "count", "last", "closed"} (stored)
//   GET /no-accept            a 101 response whose server end was never accepted
//   GET /accept-then-refuse   accepts the socket, then answers 400 instead of 101
//   GET /send-before-accept   server.send() before accepting

import { DurableObject } from 'cloudflare:workers';

export class Echo extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    /** Messages this instance received: memory only, gone when the object leaves memory. */
    this.received = 0;
  }

  async fetch(request) {
    const url = new URL(request.url);
    const storage = this.ctx.storage;
    switch (url.pathname) {
      case '/ws': {
        if (request.headers.get('Upgrade') !== 'websocket') {
          return new Response('Expected Upgrade: websocket', { status: 426 });
        }
        const [client, server] = Object.values(new WebSocketPair());
        server.accept();
        server.addEventListener('message', async (event) => {
          this.received += 1;
          const count = ((await storage.get('count')) ?? 0) + 1;
          await storage.put('count', count);
          if (!(typeof event.data === 'string')) {
            if (!(event.data instanceof ArrayBuffer)) {
              server.send(`not an ArrayBuffer: ${Object.prototype.toString.call(event.data)}`);
              return;
            }
            server.send(new Uint8Array(event.data).reverse());
            return;
          }
          await storage.put('last', event.data);
          if (event.data === 'fail') throw new Error('the listener failed on purpose');
          if (event.data === 'close') {
            server.close(4000, 'closed by the object');
            return;
          }
          server.send(`echo ${count}: ${event.data}`);
        });
        server.addEventListener('close', async (event) => {
          const { code, reason, wasClean } = event;
          await storage.put('closed', { code, reason, wasClean });
          // As in Cloudflare's examples: answer the close (the connection has already ended).
          server.close(code, 'Durable Object is closing WebSocket');
        });
        return new Response(null, { status: 101, webSocket: client });
      }
      case '/state':
        return Response.json({
          received: this.received,
          count: (await storage.get('count')) ?? 0,
          last: (await storage.get('last')) ?? null,
          closed: (await storage.get('closed')) ?? null,
        });
      case '/no-accept': {
        const [client] = Object.values(new WebSocketPair());
        return new Response(null, { status: 101, webSocket: client });
      }
      case '/accept-then-refuse': {
        const [, server] = Object.values(new WebSocketPair());
        server.accept();
        return new Response('changed my mind', { status: 400 });
      }
      case '/send-before-accept': {
        const [, server] = Object.values(new WebSocketPair());
        server.send('too early');
        return Response.json({ unreachable: true });
      }
      default:
        return Response.json({ error: 'not found' }, { status: 404 });
    }
  }
}

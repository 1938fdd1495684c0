// Test guest for code updates (tests/tests/code_updates.rs): version 2 of class Versioned.
// versioned-v1.js and versioned-v2.js differ only in VERSION, so a test can swap one for the
// other under a running server and see which code answers.
//
//   GET /version        {"version": 2, "count": n}: n counts this instance's fetches (memory)
//   GET /hibernate      upgrade, accepted with ctx.acceptWebSocket (survives code updates)
//   GET /pinned         upgrade, accepted with server.accept() (closed with 1012 by an update)
//   GET /oom            grows until the instance's memory limit traps it (the instance is lost)
//   a socket message    answered with {"version": 2, "echo": text}

import { DurableObject } from 'cloudflare:workers';

const VERSION = 2;

export class Versioned extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.count = 0;
  }

  fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === '/version') {
      this.count += 1;
      return Response.json({ version: VERSION, count: this.count });
    }
    if (path === '/oom') {
      const hoard = [];
      for (;;) hoard.push(new Array(1 << 20).fill(hoard.length));
    }
    if (path === '/hibernate' || path === '/pinned') {
      const [client, server] = Object.values(new WebSocketPair());
      if (path === '/hibernate') this.ctx.acceptWebSocket(server);
      else {
        server.accept();
        server.addEventListener('message', (event) => {
          server.send(JSON.stringify({ version: VERSION, echo: event.data }));
        });
      }
      return new Response(null, { status: 101, webSocket: client });
    }
    return new Response('not found', { status: 404 });
  }

  webSocketMessage(ws, message) {
    ws.send(JSON.stringify({ version: VERSION, echo: message }));
  }
}

// A leaderboard per name on SQL storage, in JavaScript with Cloudflare's Durable Object API
// (`ctx.storage.sql`): the same contract as examples/leaderboard (Rust). Every score is an event
// in a log; players' totals are a projection of it, kept in the same transaction; ranks come
// from SQL.
//
// The host serves each object under /js-leaderboard/{name}; paths below are relative to it.
//
//   POST   /scores {"player", "points"}   {"player", "total", "rank"}
//   GET    /top?limit=n                   {"top": [{"rank", "player", "total"}]} (default 10, at most 100)
//   GET    /players/{player}              {"player", "total", "rank", "recent": [points, newest first]}
//   DELETE /players/{player}              {"deleted": true} (its events go with it)
//   GET    /stats                         {"players", "events", "database_bytes"}
//   bad input                             400 {"error": "..."}; an unknown player 404

import { DurableObject } from 'cloudflare:workers';

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS players(
    name TEXT PRIMARY KEY,
    total INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX IF NOT EXISTS players_by_total ON players(total DESC);
  CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    player TEXT NOT NULL REFERENCES players(name) ON DELETE CASCADE,
    points INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS events_by_player ON events(player, id);
`;

const MAX_POINTS = 1_000_000;

const error = (status, message) => Response.json({ error: message }, { status });

export class Leaderboard extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Runs in the object's first event: the schema commits with it.
    this.sql.exec(SCHEMA);
  }

  rankOf(player) {
    return (
      this.sql
        .exec(
          `SELECT (SELECT count(*) FROM players AS p WHERE p.total > players.total) + 1 AS rank,
                  name AS player, total
           FROM players WHERE name = ?`,
          player,
        )
        .toArray()[0] ?? null
    );
  }

  async fetch(request) {
    const url = new URL(request.url);
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const route = `${request.method} /${parts[0] ?? ''}`;
    if (route === 'POST /scores' && parts.length === 1) return this.score(request);
    if (route === 'GET /top' && parts.length === 1) return this.top(url);
    if (route === 'GET /players' && parts.length === 2) {
      const ranked = this.rankOf(parts[1]);
      if (ranked === null) return error(404, `no player \`${parts[1]}\``);
      const recent = this.sql
        .exec('SELECT points FROM events WHERE player = ? ORDER BY id DESC LIMIT 5', parts[1])
        .raw()
        .toArray()
        .map(([points]) => points);
      return Response.json({ ...ranked, recent });
    }
    if (route === 'DELETE /players' && parts.length === 2) {
      const { rowsWritten } = this.sql.exec('DELETE FROM players WHERE name = ?', parts[1]);
      if (rowsWritten === 0) return error(404, `no player \`${parts[1]}\``);
      return Response.json({ deleted: true });
    }
    if (route === 'GET /stats' && parts.length === 1) {
      const counts = this.sql
        .exec('SELECT (SELECT count(*) FROM players) AS players, (SELECT count(*) FROM events) AS events')
        .one();
      return Response.json({ ...counts, database_bytes: this.sql.databaseSize });
    }
    return error(404, 'not found');
  }

  async score(request) {
    let body;
    try {
      body = await request.json();
    } catch (e) {
      return error(400, `expected {"player": string, "points": integer}: ${e.message}`);
    }
    const { player, points } = body ?? {};
    if (typeof player !== 'string' || typeof points !== 'number' || !Number.isInteger(points)) {
      return error(400, 'expected {"player": string, "points": integer}');
    }
    if (player.length === 0 || [...player].length > 64) {
      return error(400, 'player must be 1 to 64 characters');
    }
    if (Math.abs(points) > MAX_POINTS) {
      return error(400, `points must be between -${MAX_POINTS} and ${MAX_POINTS}`);
    }
    this.sql.exec(
      `INSERT INTO players(name, total) VALUES (?1, ?2)
       ON CONFLICT(name) DO UPDATE SET total = total + excluded.total`,
      player,
      points,
    );
    this.sql.exec('INSERT INTO events(player, points) VALUES (?, ?)', player, points);
    return Response.json(this.rankOf(player));
  }

  top(url) {
    const text = url.searchParams.get('limit');
    let limit = 10;
    if (text !== null) {
      limit = Number(text);
      if (!/^[0-9]+$/.test(text) || limit < 1 || limit > 100) {
        return error(400, `limit must be an integer from 1 to 100, got \`${text}\``);
      }
    }
    const top = this.sql
      .exec(
        `SELECT rank() OVER (ORDER BY total DESC) AS rank, name AS player, total
         FROM players ORDER BY total DESC, name LIMIT ?`,
        limit,
      )
      .toArray();
    return Response.json({ top });
  }
}

//! A leaderboard per name on SQL storage: every score is an event in a log, players' totals
//! are a projection of it kept in the same transaction, and ranks come from SQL.
//! `examples/js-leaderboard` is the same contract in JavaScript.
//!
//! Served under `/leaderboard/{name}`; paths below are relative to it.
//!
//! - `POST /scores` `{"player": "ada", "points": 10}` → `{"player", "total", "rank"}`
//! - `GET /top?limit=n` (default 10, at most 100) → `{"top": [{"rank", "player", "total"}]}`
//!   (equal totals share a rank)
//! - `GET /players/{player}` → `{"player", "total", "rank", "recent": [points, newest first]}`
//! - `DELETE /players/{player}` → `{"deleted": true}` (its events go with it)
//! - `GET /stats` → `{"players", "events", "database_bytes"}`
//! - bad input → 400 `{"error": "..."}`; an unknown player → 404

use holdfast_sdk::{DurableObject, Method, Request, Response, Result, Sql, State, durable_object};
use serde::{Deserialize, Serialize};
use serde_json::json;

const SCHEMA: &str = "
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
";

/// Points one score may add (or take away).
const MAX_POINTS: i64 = 1_000_000;

#[durable_object]
struct Leaderboard {
    sql: Sql,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Score {
    player: String,
    points: i64,
}

#[derive(Serialize, Deserialize)]
struct Ranked {
    rank: i64,
    player: String,
    total: i64,
}

impl Leaderboard {
    fn rank_of(&self, player: &str) -> Result<Option<Ranked>> {
        let mut rows = self
            .sql
            .exec(
                "SELECT (SELECT count(*) FROM players AS p WHERE p.total > players.total) + 1 AS rank,
                        name AS player, total
                 FROM players WHERE name = ?",
                &[player.into()],
            )?
            .to_vec::<Ranked>()?;
        Ok(rows.pop())
    }

    fn score(&self, req: &Request) -> Result<Response> {
        let score: Score = match req.json() {
            Ok(s) => s,
            Err(e) => {
                return Ok(Response::error(
                    400,
                    &format!("expected {{\"player\": string, \"points\": integer}}: {e}"),
                ));
            }
        };
        if score.player.is_empty() || score.player.chars().count() > 64 {
            return Ok(Response::error(400, "player must be 1 to 64 characters"));
        }
        if !(-MAX_POINTS..=MAX_POINTS).contains(&score.points) {
            return Ok(Response::error(
                400,
                &format!("points must be between -{MAX_POINTS} and {MAX_POINTS}"),
            ));
        }
        self.sql.exec(
            "INSERT INTO players(name, total) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET total = total + excluded.total",
            &[score.player.as_str().into(), score.points.into()],
        )?;
        self.sql.exec(
            "INSERT INTO events(player, points) VALUES (?, ?)",
            &[score.player.as_str().into(), score.points.into()],
        )?;
        let ranked = self.rank_of(&score.player)?.expect("just written");
        Ok(Response::json(&ranked))
    }

    fn top(&self, req: &Request) -> Result<Response> {
        let limit = match req.query("limit") {
            None => 10,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    return Ok(Response::error(
                        400,
                        &format!("limit must be an integer from 1 to 100, got `{text}`"),
                    ));
                }
            },
        };
        let top: Vec<Ranked> = self
            .sql
            .exec(
                "SELECT rank() OVER (ORDER BY total DESC) AS rank, name AS player, total
                 FROM players ORDER BY total DESC, name LIMIT ?",
                &[limit.into()],
            )?
            .to_vec()?;
        Ok(Response::json(&json!({ "top": top })))
    }

    fn player(&self, player: &str) -> Result<Response> {
        let Some(ranked) = self.rank_of(player)? else {
            return Ok(Response::error(404, &format!("no player `{player}`")));
        };
        let recent: Vec<i64> = self
            .sql
            .exec(
                "SELECT points FROM events WHERE player = ? ORDER BY id DESC LIMIT 5",
                &[player.into()],
            )?
            .filter_map(|row| row.get(0).and_then(|v| v.as_i64()))
            .collect();
        Ok(Response::json(&json!({
            "player": ranked.player, "total": ranked.total, "rank": ranked.rank, "recent": recent,
        })))
    }
}

impl DurableObject for Leaderboard {
    fn new(state: State) -> Self {
        let sql = state.sql();
        // Runs in the object's first event: the schema commits with it.
        sql.exec(SCHEMA, &[]).expect("the schema is valid SQL");
        Leaderboard { sql }
    }

    fn fetch(&mut self, req: Request) -> Result<Response> {
        match (req.method(), req.segments().as_slice()) {
            (Method::Post, ["scores"]) => self.score(&req),
            (Method::Get, ["top"]) => self.top(&req),
            (Method::Get, ["players", player]) => self.player(player),
            (Method::Delete, ["players", player]) => {
                let gone = self
                    .sql
                    .exec("DELETE FROM players WHERE name = ?", &[(*player).into()])?
                    .rows_written();
                if gone == 0 {
                    return Ok(Response::error(404, &format!("no player `{player}`")));
                }
                Ok(Response::json(&json!({ "deleted": true })))
            }
            (Method::Get, ["stats"]) => {
                #[derive(Deserialize)]
                struct Counts {
                    players: i64,
                    events: i64,
                }
                let counts: Counts = self
                    .sql
                    .exec(
                        "SELECT (SELECT count(*) FROM players) AS players, (SELECT count(*) FROM events) AS events",
                        &[],
                    )?
                    .one()?;
                Ok(Response::json(&json!({
                    "players": counts.players,
                    "events": counts.events,
                    "database_bytes": self.sql.database_size()?,
                })))
            }
            _ => Ok(Response::not_found()),
        }
    }
}

//! Cloudflare projects as they are: examples/cf-project (wrangler.toml, a TypeScript worker
//! with a Hono router from npm, ChatRoom, RateLimiter and Counter) served unchanged, WebSocket
//! upgrades forwarded by the worker included; and a project's migrations (renamed bindings lose
//! nothing, renamed classes keep their objects, deleted classes lose their storage, each tag
//! applied once), warnings for settings Holdfast lacks, and the errors of a broken project.

use std::path::{Path, PathBuf};

use anyhow::Result;
use holdfast_tests::{
    Server, call, client, root, run_cli, ws_connect, ws_json, ws_refused, ws_send,
};
use reqwest::Method;
use serde_json::{Value, json};

/// A holdfast.toml serving the wrangler project at `wrangler`, with the server's own data dir.
fn project(wrangler: &Path) -> String {
    format!("[project]\nwrangler = \"{}\"\n", wrangler.display())
}

#[tokio::test]
async fn the_cloudflare_project_runs_unchanged() -> Result<()> {
    let s = Server::start(&project(&root().join("examples/cf-project/wrangler.toml")))?;
    let c = client();
    let r = c.get(s.url("/")).send().await?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await?,
        "Hello from a Worker on Holdfast",
        "the GREETING var"
    );
    let mut api_requests = 0;
    // Counter, by RPC from the Hono worker.
    for (body, expected) in [("", 1), ("{\"by\": 41}", 42)] {
        let r = c
            .post(s.url("/api/counter/visits"))
            .body(body)
            .send()
            .await?;
        api_requests += 1;
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.json::<Value>().await?,
            json!({ "name": "visits", "value": expected })
        );
    }
    // The object's exception reaches the worker with its message, and nothing of it is kept.
    let (status, body) = call_with(&c, s.url("/api/counter/visits"), "{\"by\": 0.5}").await?;
    api_requests += 1;
    assert_eq!(
        (status, body),
        (
            400,
            json!({ "error": "increment needs an integer, got 0.5" })
        )
    );
    let (_, body) = call(&c, Method::GET, s.url("/api/counter/visits")).await?;
    api_requests += 1;
    assert_eq!(body["value"], 42);
    // The worker sees the client's address as CF-Connecting-IP, whatever the client sends.
    let r = c
        .get(s.url("/api/whoami"))
        .header("cf-connecting-ip", "203.0.113.9")
        .send()
        .await?;
    api_requests += 1;
    assert_eq!(r.json::<Value>().await?, json!({ "ip": "127.0.0.1" }));
    assert_eq!(
        call(&c, Method::GET, s.url("/nowhere")).await?,
        (404, json!({ "error": "no route for GET /nowhere" }))
    );

    // The chat room: WebSocket upgrades forwarded by the worker (`return room.fetch(req)`).
    let mut ann = ws_connect(&s, "/room/lobby/websocket?name=ann").await?;
    let mut bob = ws_connect(&s, "/room/lobby/websocket?name=bob").await?;
    ws_send(&mut ann, "hello, bob").await?;
    for ws in [&mut ann, &mut bob] {
        let m = ws_json(ws).await?;
        assert_eq!(
            (&m["name"], &m["text"]),
            (&json!("ann"), &json!("hello, bob"))
        );
    }
    ws_send(&mut bob, "hi ann").await?;
    assert_eq!(ws_json(&mut ann).await?["text"], "hi ann");
    let (_, history) = call(&c, Method::GET, s.url("/room/lobby/messages")).await?;
    let texts: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["hello, bob", "hi ann"]);
    // Another room is another object; a plain request to the socket path gets the room's 426.
    let (_, other) = call(&c, Method::GET, s.url("/room/kitchen/messages")).await?;
    assert_eq!(other, json!([]));
    assert_eq!(
        call(&c, Method::GET, s.url("/room/lobby/websocket")).await?,
        (426, json!({ "error": "expected a WebSocket upgrade" }))
    );
    // An upgrade the worker does not forward is answered by the worker's response.
    assert_eq!(
        ws_refused(&s, "/api/whoami").await?.1,
        json!({ "ip": "127.0.0.1" })
    );
    api_requests += 1;

    // The rate limiter: RATE_LIMIT = 20 requests a minute per client IP under /api/.
    while api_requests < 20 {
        let (status, _) = call(&c, Method::GET, s.url("/api/whoami")).await?;
        assert_eq!(status, 200, "request {} of 20", api_requests + 1);
        api_requests += 1;
    }
    let (status, body) = call(&c, Method::GET, s.url("/api/counter/visits")).await?;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "too many requests");
    assert!(body["retryAfterMs"].as_u64().unwrap() <= 60_000);
    assert_eq!(
        c.get(s.url("/")).send().await?.status(),
        200,
        "only /api/* is limited"
    );

    // Everything was durable: after kill -9 the counter, the room and the limit are as left.
    let s = s.kill9_and_restart()?;
    let (_, history) = call(&c, Method::GET, s.url("/room/lobby/messages")).await?;
    assert_eq!(history.as_array().unwrap().len(), 2);
    let (status, _) = call(&c, Method::GET, s.url("/api/counter/visits")).await?;
    assert_eq!(status, 429, "the window survived the restart");
    // The host's routes stay the host's.
    assert_eq!(c.get(s.url("/_/health")).send().await?.text().await?, "ok");
    Ok(())
}

async fn call_with(c: &reqwest::Client, url: String, body: &str) -> Result<(u16, Value)> {
    let r = c.post(url).body(body.to_owned()).send().await?;
    Ok((r.status().as_u16(), r.json().await?))
}

/// A project of its own in a temporary directory: `src/index.js` from
/// tests/projects/migrations.js and the given wrangler.toml.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(wrangler: &str) -> Result<Project> {
        let dir = tempfile::tempdir()?;
        std::fs::create_dir_all(dir.path().join("src"))?;
        std::fs::copy(
            root().join("tests/projects/migrations.js"),
            dir.path().join("src/index.js"),
        )?;
        let p = Project { dir };
        p.write(wrangler)?;
        Ok(p)
    }
    fn wrangler(&self) -> PathBuf {
        self.dir.path().join("wrangler.toml")
    }
    fn write(&self, wrangler: &str) -> Result<()> {
        Ok(std::fs::write(
            self.wrangler(),
            format!("name = \"migrations\"\nmain = \"src/index.js\"\n{wrangler}"),
        )?)
    }
}

fn binding(name: &str, class: &str) -> String {
    format!("[[durable_objects.bindings]]\nname = \"{name}\"\nclass_name = \"{class}\"\n")
}

fn migration(tag: &str, body: &str) -> String {
    format!("[[migrations]]\ntag = \"{tag}\"\n{body}\n")
}

async fn add(c: &reqwest::Client, s: &Server, path: &str) -> Result<Value> {
    let (status, body) = call(c, Method::POST, s.url(path)).await?;
    anyhow::ensure!(status == 200, "{path}: {status} {body}\n{}", s.log());
    Ok(body)
}

#[tokio::test]
async fn migrations_rename_and_delete_classes_once_and_bindings_are_only_names() -> Result<()> {
    let v1 = migration("v1", "new_sqlite_classes = [\"Counter\", \"Other\"]");
    let p = Project::new(&format!(
        "{}{}{v1}\n[vars]\nMODE = \"test\"\n\n[[kv_namespaces]]\nbinding = \"KV\"\nid = \"x\"\n",
        binding("COUNTER", "Counter"),
        binding("OTHER", "Other"),
    ))?;
    let s = Server::start(&project(&p.wrangler()))?;
    let c = client();
    let first = add(&c, &s, "/COUNTER/x/inc").await?;
    assert_eq!(add(&c, &s, "/COUNTER/x/inc").await?["value"], 2);
    assert_eq!(add(&c, &s, "/OTHER/y/inc").await?["value"], 1);
    assert_eq!(first["mode"], "test", "vars reach the worker");
    let log = s.log();
    assert!(
        log.contains("kv_namespaces: not supported by Holdfast; ignored"),
        "unsupported settings are named: {log}"
    );

    // A renamed binding is only a new name: the objects are the class's.
    p.write(&format!(
        "{}{}{v1}",
        binding("TOTAL", "Counter"),
        binding("OTHER", "Other")
    ))?;
    let s = s.restart()?;
    let now = add(&c, &s, "/TOTAL/x/get").await?;
    assert_eq!((&now["value"], &now["id"]), (&json!(2), &first["id"]));
    let (status, body) = call(&c, Method::POST, s.url("/COUNTER/x/get")).await?;
    assert_eq!(
        (status, &body["error"]),
        (404, &json!("no binding COUNTER"))
    );

    // A renamed class keeps its objects (their IDs too), once the migration says so.
    let v2 = migration(
        "v2",
        "renamed_classes = [{ from = \"Counter\", to = \"Tally\" }]",
    );
    p.write(&format!(
        "{}{}{v1}{v2}",
        binding("TOTAL", "Tally"),
        binding("OTHER", "Other")
    ))?;
    let s = s.restart()?;
    let now = add(&c, &s, "/TOTAL/x/inc").await?;
    assert_eq!((&now["value"], &now["id"]), (&json!(3), &first["id"]));
    assert!(s.log().contains("migration applied"), "{}", s.log());

    // Deleting a class that is still bound is refused, naming both.
    let v3 = migration("v3", "deleted_classes = [\"Other\"]");
    p.write(&format!(
        "{}{}{v1}{v2}{v3}",
        binding("TOTAL", "Tally"),
        binding("OTHER", "Other")
    ))?;
    let (ok, err) = serve_once(&p, &p.dir.path().join("refused-data"))?;
    assert!(!ok);
    assert!(
        err.contains(
            "migration `v3` deletes class `Other`, but binding `OTHER` still uses it: remove the binding first"
        ),
        "{err}"
    );
    // Unbound, it is deleted; bound again later, its objects start empty; v3 runs only once.
    p.write(&format!("{}{v1}{v2}{v3}", binding("TOTAL", "Tally")))?;
    let s = s.restart()?;
    assert_eq!(add(&c, &s, "/TOTAL/x/get").await?["value"], 3);
    let v4 = migration("v4", "new_classes = [\"Other\"]");
    p.write(&format!(
        "{}{}{v1}{v2}{v3}{v4}",
        binding("TOTAL", "Tally"),
        binding("OTHER", "Other")
    ))?;
    let s = s.restart()?;
    assert_eq!(add(&c, &s, "/OTHER/y/inc").await?["value"], 1, "deleted");
    let s = s.restart()?;
    assert_eq!(
        add(&c, &s, "/OTHER/y/get").await?["value"],
        1,
        "v3 is not applied again"
    );

    // A rename onto a class that has objects is refused, and nothing moves.
    let v5 = migration(
        "v5",
        "renamed_classes = [{ from = \"Tally\", to = \"Other\" }]",
    );
    p.write(&format!(
        "{}{v1}{v2}{v3}{v4}{v5}",
        binding("TOTAL", "Other")
    ))?;
    let restore = format!(
        "{}{}{v1}{v2}{v3}{v4}",
        binding("TOTAL", "Tally"),
        binding("OTHER", "Other")
    );
    let (s, refused) = s.while_stopped(|data| {
        let refused = serve_once(&p, data);
        p.write(&restore).map(|()| refused)
    })?;
    let (ok, err) = refused??;
    assert!(!ok);
    assert!(
        err.contains("migration `v5` renames class `Tally` to `Other`, but `Other` already has stored objects"),
        "{err}"
    );
    assert_eq!(add(&c, &s, "/TOTAL/x/get").await?["value"], 3);
    assert_eq!(add(&c, &s, "/OTHER/y/get").await?["value"], 1);
    Ok(())
}

/// `holdfast serve` of the project on `data`, expected to exit (an error).
fn serve_once(p: &Project, data: &Path) -> Result<(bool, String)> {
    run_cli(&[
        "serve",
        "--config",
        p.wrangler().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
    ])
}

#[test]
fn a_broken_project_is_refused_with_the_reason() -> Result<()> {
    // No main.
    let p = Project::new(&binding("COUNTER", "Counter"))?;
    std::fs::write(p.wrangler(), binding("COUNTER", "Counter"))?;
    let (ok, err) = serve_once(&p, &p.dir.path().join("refused-data"))?;
    assert!(!ok);
    assert!(
        err.contains("wrangler.toml`: main: is missing: name the Worker's module (e.g. main = \"src/index.ts\")"),
        "{err}"
    );
    // A main that is not there.
    std::fs::write(p.wrangler(), "main = \"src/nope.ts\"\n")?;
    let (_, err) = serve_once(&p, &p.dir.path().join("refused-data"))?;
    assert!(err.contains("main: `src/nope.ts` not found"), "{err}");
    // A class the module does not export.
    p.write(&binding("COUNTER", "Countr"))?;
    let (ok, err) = serve_once(&p, &p.dir.path().join("refused-data"))?;
    assert!(!ok);
    assert!(
        err.contains(
            "binding `COUNTER` names class `Countr`, but `src/index.js` exports no `Countr` (it exports: Counter, Other, Tally)"
        ),
        "{err}"
    );
    // A binding that is not an identifier, a class bound twice, another script's class.
    p.write(&binding("my-counter", "Counter"))?;
    let (_, err) = serve_once(&p, &p.dir.path().join("refused-data"))?;
    assert!(
        err.contains(
            "durable_objects.bindings[0].name: `my-counter` is not a JavaScript identifier"
        ),
        "{err}"
    );
    p.write(&format!(
        "{}{}",
        binding("A", "Counter"),
        binding("B", "Counter")
    ))?;
    let (_, err) = serve_once(&p, &p.dir.path().join("refused-data"))?;
    assert!(
        err.contains("class `Counter` is bound twice: Holdfast takes one binding per class"),
        "{err}"
    );
    p.write(&format!(
        "{}script_name = \"elsewhere\"\n",
        binding("A", "Counter")
    ))?;
    let (_, err) = serve_once(&p, &p.dir.path().join("refused-data"))?;
    assert!(
        err.contains("durable_objects.bindings[0].script_name: classes of another Worker script are not supported"),
        "{err}"
    );
    // A module that does not build: the bundler's message, with the file and line.
    std::fs::write(
        p.dir.path().join("src/index.js"),
        "export default {\n  fetch( {\n};\n",
    )?;
    p.write(&binding("A", "Counter"))?;
    let (ok, err) = serve_once(&p, &p.dir.path().join("refused-data"))?;
    assert!(!ok);
    assert!(
        err.contains(
            "building `src/index.js` failed:\nsrc/index.js:3:1: Expected \")\" but found \";\""
        ),
        "{err}"
    );
    Ok(())
}

//! Test harness: starts the real `holdfast` binary on 127.0.0.1 with port 0 and a temporary data
//! directory, and talks to it with real HTTP clients.
//!
//! The binary and the guest components must be built first (`scripts/test.sh` does; or
//! `scripts/setup.sh`). `HOLDFAST_BIN` overrides the binary's path.

pub mod cdp;
pub mod cluster;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the repository")
        .to_owned()
}

/// The `holdfast` binary under test.
pub fn holdfast_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HOLDFAST_BIN") {
        return PathBuf::from(p);
    }
    let p = root().join("target/release/holdfast");
    assert!(
        p.exists(),
        "{} is missing: run scripts/test.sh (or scripts/setup.sh) to build it",
        p.display()
    );
    p
}

/// A Rust guest component built by scripts/build-guests.sh.
pub fn guest(name: &str) -> PathBuf {
    built(&format!("target/wasm32-wasip2/release/{name}.wasm"))
}

/// A file the build scripts produce, by its path relative to the repository root.
pub fn built(relative: &str) -> PathBuf {
    let p = root().join(relative);
    assert!(
        p.exists(),
        "{} is missing: run scripts/test.sh (or scripts/setup.sh) to build it",
        p.display()
    );
    p
}

/// One `[[class]]` entry. Its namespace is the binding (not the class name, the default), so
/// that a test may serve one class under several bindings as separate sets of objects.
pub fn class(binding: &str, class: &str, component: &Path) -> String {
    format!(
        "[[class]]\nbinding = \"{binding}\"\nclass = \"{class}\"\nnamespace = \"{binding}\"\ncomponent = \"{}\"\n",
        component.display()
    )
}

/// A `[[class]]` like [`class`], key-value backed (`storage = "kv"`: Cloudflare's limits of
/// KV-backed classes, 2 KiB keys and 128 KiB values, and no SQL).
pub fn kv_class(binding: &str, class_name: &str, component: &Path) -> String {
    format!(
        "{}storage = \"kv\"\n",
        class(binding, class_name, component)
    )
}

/// The config serving the counter example as `counter` and the test guest as `trap`.
pub fn default_config() -> String {
    format!(
        "{}{}",
        class("counter", "Counter", &guest("counter")),
        class("trap", "Trapper", &guest("trapper"))
    )
}

/// A running server process.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The admin listener's address, when the config gives the admin API one (`[admin] listen`).
    pub admin_addr: Option<SocketAddr>,
    /// Keeps the config, data and log directory alive.
    dir: tempfile::TempDir,
    pub data: PathBuf,
    config: PathBuf,
    /// Extra environment of the process (kept across restarts).
    env: Vec<(String, String)>,
    /// The subcommand it runs (`serve` or `dev`; kept across restarts).
    command: &'static str,
}

impl Server {
    /// Starts a server with `config` (TOML) and a fresh data directory.
    pub fn start(config: &str) -> Result<Server> {
        Self::start_with_env(config, Vec::new())
    }

    /// Starts a server with the test seams on (`HOLDFAST_FAULT_INJECTION=1`): the storage fault
    /// switch and actor panics under `/_/admin/faults` and `/_/admin/.../panic`.
    pub fn start_with_faults(config: &str) -> Result<Server> {
        Self::start_with_env(
            config,
            vec![("HOLDFAST_FAULT_INJECTION".into(), "1".into())],
        )
    }

    /// Starts `holdfast dev` with `config` (TOML) and a fresh data directory: it builds every
    /// class first, and waits up to 120 s for that.
    pub fn start_dev(config: &str) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        Self::start_in(dir, data, config, Vec::new(), "dev")
    }

    /// Starts a server with `config` (TOML) on the data directory `data` (e.g. a restored one).
    pub fn start_on(config: &str, data: &Path) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        Self::start_in(dir, data.to_owned(), config, Vec::new(), "serve")
    }

    /// Stops the process with SIGKILL and waits for it; its data directory, which lives as long
    /// as the returned directory.
    pub fn kill9(mut self) -> Result<(tempfile::TempDir, PathBuf)> {
        self.child.kill()?;
        self.child.wait()?;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir()?);
        Ok((dir, self.data.clone()))
    }

    fn start_with_env(config: &str, env: Vec<(String, String)>) -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        Self::start_in(dir, data, config, env, "serve")
    }

    fn start_in(
        dir: tempfile::TempDir,
        data: PathBuf,
        config: &str,
        env: Vec<(String, String)>,
        command: &'static str,
    ) -> Result<Server> {
        let config_path = dir.path().join("holdfast.toml");
        std::fs::write(&config_path, config)?;
        let log = dir.path().join("server.log");
        let (child, addr, admin_addr) = spawn(command, &config_path, &data, &log, &env)?;
        Ok(Server {
            child,
            addr,
            admin_addr,
            dir,
            data,
            config: config_path,
            env,
            command,
        })
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set size in KiB (from /proc).
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .context("no VmRSS in /proc status")?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("VmRSS value")?
            .parse()?)
    }

    /// What the server has logged so far (stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Kills the process with SIGKILL and starts it again on the same data.
    pub fn kill9_and_restart(self) -> Result<Server> {
        self.kill9_and_restart_after(Duration::ZERO)
    }

    /// Kills the process with SIGKILL, waits `downtime`, and starts it again on the same data.
    pub fn kill9_and_restart_after(mut self, downtime: Duration) -> Result<Server> {
        self.child.kill()?;
        self.child.wait()?;
        std::thread::sleep(downtime);
        let config = std::fs::read_to_string(&self.config)?;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir()?);
        Self::start_in(
            dir,
            self.data.clone(),
            &config,
            self.env.clone(),
            self.command,
        )
    }

    /// Stops the process with SIGTERM (a clean shutdown), waits for it, and starts it again on
    /// the same data.
    pub fn restart(self) -> Result<Server> {
        let config = std::fs::read_to_string(&self.config)?;
        self.restart_with(&config)
    }

    /// Stops the process with SIGTERM, runs `f` with the data directory (while no server has
    /// it open: e.g. a `holdfast serve` that must be refused on this data), and starts it again.
    pub fn while_stopped<T>(mut self, f: impl FnOnce(&Path) -> T) -> Result<(Server, T)> {
        self.stop()?;
        let out = f(&self.data);
        let config = std::fs::read_to_string(&self.config)?;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir()?);
        Ok((
            Self::start_in(
                dir,
                self.data.clone(),
                &config,
                self.env.clone(),
                self.command,
            )?,
            out,
        ))
    }

    /// Replaces the config file the server was started with (a code update reads it).
    pub fn write_config(&self, config: &str) -> Result<()> {
        std::fs::write(&self.config, config)?;
        Ok(())
    }

    /// Sends the server SIGHUP (a code update).
    pub fn sighup(&self) -> Result<()> {
        let status = Command::new("kill")
            .arg("-HUP")
            .arg(self.child.id().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -HUP failed");
        Ok(())
    }

    /// Stops the process with SIGTERM and waits for its clean exit.
    fn stop(&mut self) -> Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -TERM failed");
        let exit = self.child.wait()?;
        anyhow::ensure!(
            exit.success(),
            "holdfast exited with {exit} on SIGTERM: {}",
            self.log()
        );
        Ok(())
    }

    /// Like [`Server::restart`], serving `config` (TOML) from then on: e.g. another build of a
    /// class on the data the first one wrote.
    pub fn restart_with(mut self, config: &str) -> Result<Server> {
        self.stop()?;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir()?);
        Self::start_in(
            dir,
            self.data.clone(),
            config,
            self.env.clone(),
            self.command,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    command: &str,
    config: &Path,
    data: &Path,
    log: &Path,
    env: &[(String, String)],
) -> Result<(Child, SocketAddr, Option<SocketAddr>)> {
    let log_file = std::fs::File::create(log)?;
    let child = Command::new(holdfast_bin())
        .arg(command)
        .arg("--config")
        .arg(config)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data")
        .arg(data)
        .env("HOLDFAST_LOG", "info")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .context("starting holdfast")?;
    wait_listening(child, log)
}

/// Waits up to 120 s for a just-spawned holdfast (stdout piped, stderr to `log`) to print its
/// listening line; returns it with its address and its admin listener's. Kills it on failure.
fn wait_listening(mut child: Child, log: &Path) -> Result<(Child, SocketAddr, Option<SocketAddr>)> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("holdfast listening on http://")
                || line.starts_with("holdfast admin API listening on http://")
            {
                let _ = tx.send(line);
            }
        }
    });
    let mut admin = None;
    loop {
        let Ok(line) = rx.recv_timeout(Duration::from_secs(120)) else {
            break;
        };
        if let Some(addr) = line.strip_prefix("holdfast admin API listening on http://") {
            admin = Some(addr.parse()?);
        } else if let Some(addr) = line.strip_prefix("holdfast listening on http://") {
            return Ok((child, addr.parse()?, admin));
        }
    }
    let _ = child.kill();
    let status = child.wait()?;
    bail!(
        "holdfast did not start ({status}): {}",
        std::fs::read_to_string(log).unwrap_or_default()
    )
}

/// Runs `holdfast serve` with `config` and returns its exit status and stderr; for configs that
/// must be refused.
pub fn run_expecting_failure(config: &str) -> Result<(bool, String)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("holdfast.toml");
    std::fs::write(&path, config)?;
    run_cli(&[
        "serve",
        "--config",
        path.to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--data",
        dir.path().join("data").to_str().expect("utf-8 path"),
    ])
}

/// Runs the binary with `args`, expecting it to exit within a minute; returns (success, stderr).
pub fn run_cli(args: &[&str]) -> Result<(bool, String)> {
    let mut child = Command::new(holdfast_bin())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().expect("piped stderr");
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    for _ in 0..600 {
        if let Some(status) = child.try_wait()? {
            return Ok((status.success(), reader.join().unwrap_or_default()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    bail!("holdfast {args:?} did not exit")
}

/// Runs the binary with `args` and the admin token in `HOLDFAST_ADMIN_TOKEN`, waiting for it to
/// exit; returns (success, stdout, stderr).
pub fn run_admin_cli(args: &[&str]) -> Result<(bool, String, String)> {
    let out = Command::new(holdfast_bin())
        .args(args)
        .env("HOLDFAST_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdin(Stdio::null())
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

/// Writes `entries` (a JSON object) into the JavaScript probe object `name` through its own
/// code (`/probe/{name}/put-many`), failing unless it answers 200.
pub async fn probe_put_many(
    c: &reqwest::Client,
    s: &Server,
    name: &str,
    entries: serde_json::Value,
) -> Result<()> {
    let r = c
        .post(s.url(&format!("/probe/{name}/put-many")))
        .body(entries.to_string())
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "put-many: {}", r.text().await?);
    Ok(())
}

/// The value of `key` in the probe object `name`, read through its own code (null if none).
pub async fn probe_get(
    c: &reqwest::Client,
    s: &Server,
    name: &str,
    key: &str,
) -> Result<serde_json::Value> {
    let r: serde_json::Value = c
        .get(s.url(&format!("/probe/{name}/get?key={key}")))
        .send()
        .await?
        .json()
        .await?;
    Ok(r["value"].clone())
}

/// A shared HTTP client.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client")
}

/// Milliseconds since the Unix epoch, as alarms and guests count time.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as i64
}

/// Sends a request and returns (status, JSON body).
pub async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
) -> Result<(u16, serde_json::Value)> {
    let url = url.into_url()?;
    let r = c.request(method, url.clone()).send().await?;
    let status = r.status().as_u16();
    let text = r.text().await?;
    let json = serde_json::from_str(&text)
        .with_context(|| format!("response of {url} is not JSON: {text}"))?;
    Ok((status, json))
}

/// The admin token the tests configure.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// An `[admin]` section enabling the admin API with [`ADMIN_TOKEN`].
pub fn admin_config() -> String {
    format!("[admin]\ntoken = \"{ADMIN_TOKEN}\"\n")
}

/// Sets the storage fault plan of a server started with [`Server::start_with_faults`]
/// (`{"fail": "full" | "write" | "sync" | null, "count": n, "sync_delay_ms": n}`).
pub async fn set_faults(
    c: &reqwest::Client,
    server: &Server,
    plan: serde_json::Value,
) -> Result<()> {
    let r = c
        .put(server.url("/_/admin/faults"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&plan)
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "setting faults: {}", r.text().await?);
    Ok(())
}

/// Calls the admin API of `server` at `/_/admin{path}` with the test token.
pub async fn admin(
    c: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
) -> Result<(u16, serde_json::Value)> {
    let r = c
        .request(method, server.url(&format!("/_/admin{path}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await?;
    let status = r.status().as_u16();
    Ok((status, r.json().await?))
}

/// A metric's value from `/_/metrics`.
pub async fn metric(c: &reqwest::Client, server: &Server, name: &str) -> Result<f64> {
    let text = c.get(server.url("/_/metrics")).send().await?.text().await?;
    let prefix = format!("{name} ");
    let line = text
        .lines()
        .find(|l| l.starts_with(&prefix))
        .with_context(|| format!("no metric {name} in {text}"))?;
    Ok(line[prefix.len()..].trim().parse()?)
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if std::time::Instant::now() > deadline {
            bail!("condition not met within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A WebSocket test client.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The HTTP status and JSON body of a WebSocket upgrade to `path` that the object turned down.
pub async fn ws_refused(server: &Server, path: &str) -> Result<(u16, serde_json::Value)> {
    match tokio_tungstenite::connect_async(format!("ws://{}{path}", server.addr)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp.into_body().unwrap_or_default();
            Ok((status, serde_json::from_slice(&body)?))
        }
        other => bail!("expected a refused upgrade, got {other:?}"),
    }
}

/// Opens a WebSocket to `path` on `server`.
pub async fn ws_connect(server: &Server, path: &str) -> Result<Ws> {
    let (ws, resp) =
        tokio_tungstenite::connect_async(format!("ws://{}{path}", server.addr)).await?;
    anyhow::ensure!(resp.status() == 101, "upgrade answered {}", resp.status());
    Ok(ws)
}

/// The next text frame as JSON (skipping pings), within 5 s.
pub async fn ws_json(ws: &mut Ws) -> Result<serde_json::Value> {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .context("no WebSocket message within 5 s")?
            .context("WebSocket ended")??;
        match msg {
            Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => bail!("expected a text frame, got {other:?}"),
        }
    }
}

/// Sends a text frame.
pub async fn ws_send(ws: &mut Ws, text: &str) -> Result<()> {
    use futures_util::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(text.into()))
        .await?;
    Ok(())
}

//! Starting and stopping the host process.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::error::Error;

/// How to start a [`TestHost`].
#[derive(Debug, Clone)]
pub struct Builder {
    config: PathBuf,
    bin: PathBuf,
    build: bool,
    env: Vec<(String, String)>,
    timeout: Duration,
}

/// A running host: a `holdfast serve` child process on `127.0.0.1:<free port>` with a
/// temporary data directory, killed on drop.
#[derive(Debug)]
pub struct TestHost {
    child: Child,
    addr: SocketAddr,
    pub(crate) token: String,
    pub(crate) client: reqwest::Client,
    /// Holds the data directory and the host's log until the host is dropped.
    dir: tempfile::TempDir,
}

impl TestHost {
    /// Starts a host serving `config` (a holdfast.toml or a wrangler project file).
    pub fn start(config: impl AsRef<Path>) -> Result<TestHost, Error> {
        Self::builder(config).start()
    }

    /// Options before starting: see [`Builder`].
    pub fn builder(config: impl AsRef<Path>) -> Builder {
        Builder {
            config: config.as_ref().to_owned(),
            bin: std::env::var_os("HOLDFAST_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| "holdfast".into()),
            build: false,
            env: Vec::new(),
            timeout: Duration::from_secs(120),
        }
    }

    /// `http://127.0.0.1:<port>` followed by `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// An HTTP client for requests to the host.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// What the host has logged so far (its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host.log")).unwrap_or_default()
    }

    /// The host's data directory (its database).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Builder {
    /// The `holdfast` binary to run (default: `HOLDFAST_BIN`, else `holdfast` on `PATH`).
    pub fn bin(mut self, bin: impl AsRef<Path>) -> Builder {
        self.bin = bin.as_ref().to_owned();
        self
    }

    /// Runs every class's `build` command first (`holdfast build`), as `holdfast dev` does.
    pub fn build_classes(mut self, build: bool) -> Builder {
        self.build = build;
        self
    }

    /// An environment variable of the host process.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Builder {
        self.env.push((key.into(), value.into()));
        self
    }

    /// How long the host may take to listen (default 120 s: a first start compiles classes).
    pub fn timeout(mut self, timeout: Duration) -> Builder {
        self.timeout = timeout;
        self
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    fn spawn_error(&self, source: std::io::Error) -> Error {
        Error::Spawn {
            bin: self.bin.display().to_string(),
            source,
        }
    }

    /// Starts the host and waits until it listens.
    pub fn start(self) -> Result<TestHost, Error> {
        if self.build {
            let out = self
                .command()
                .arg("build")
                .arg("--config")
                .arg(&self.config)
                .output()
                .map_err(|e| self.spawn_error(e))?;
            if !out.status.success() {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                return Err(Error::Build(text));
            }
        }
        let dir = tempfile::tempdir()?;
        let token = hex::encode(rand::random::<[u8; 16]>());
        let log = std::fs::File::create(dir.path().join("host.log"))?;
        let mut child = self
            .command()
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data")
            .arg(dir.path().join("data"))
            .env("HOLDFAST_ADMIN_TOKEN", &token)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout);
            let mut line = String::new();
            while lines.read_line(&mut line).unwrap_or(0) > 0 {
                if let Some(a) = line.trim().strip_prefix("holdfast listening on http://") {
                    let _ = tx.send(a.to_owned());
                    break;
                }
                line.clear();
            }
            // Keep reading so that the host never blocks on a full pipe.
            let _ = std::io::copy(&mut lines, &mut std::io::sink());
        });
        let addr = match rx.recv_timeout(self.timeout) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                let log = std::fs::read_to_string(dir.path().join("host.log")).unwrap_or_default();
                return Err(Error::Start(format!("{status}: {log}")));
            }
        };
        let addr = addr.parse().map_err(|_| {
            Error::Start(format!(
                "it printed an address `{addr}` that does not parse"
            ))
        })?;
        Ok(TestHost {
            child,
            addr,
            token,
            client: reqwest::Client::new(),
            dir,
        })
    }
}

//! A minimal Chrome DevTools Protocol client for browser tests: starts headless Chromium
//! (Debian's `chromium` package), opens pages, and evaluates JavaScript in them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::Ws;

/// A headless Chromium with one DevTools connection.
pub struct Browser {
    child: Child,
    ws: Ws,
    next_id: u64,
    _profile: tempfile::TempDir,
}

/// A page (tab) of the browser.
#[derive(Debug, Clone)]
pub struct Page {
    session: String,
}

impl Browser {
    /// Starts Chromium (`CHROMIUM` overrides the path, default /usr/bin/chromium).
    pub async fn start() -> Result<Browser> {
        let bin = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let profile = tempfile::tempdir()?;
        let mut child = Command::new(&bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {bin} (install Debian's chromium package)"))?;
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .context("Chromium did not print its DevTools address")?;
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Browser {
            child,
            ws,
            next_id: 0,
            _profile: profile,
        })
    }

    /// Sends a command (on a page's session, or the browser's) and returns its result.
    async fn command(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws.send(Message::Text(msg.to_string().into())).await?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .context("DevTools did not answer")?
                .context("DevTools connection ended")??;
            let Message::Text(text) = frame else { continue };
            let v: Value = serde_json::from_str(text.as_str())?;
            if v["id"] == json!(id) {
                if let Some(e) = v.get("error") {
                    bail!("{method} failed: {e}");
                }
                return Ok(v["result"].clone());
            }
        }
    }

    /// Opens `url` in a new tab.
    pub async fn open(&mut self, url: &str) -> Result<Page> {
        let target = self
            .command(None, "Target.createTarget", json!({ "url": url }))
            .await?;
        let attached = self
            .command(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target["targetId"], "flatten": true }),
            )
            .await?;
        let session = attached["sessionId"]
            .as_str()
            .context("no session id")?
            .to_owned();
        Ok(Page { session })
    }

    /// Evaluates `expression` in `page` and returns its value (promises are awaited).
    pub async fn eval(&mut self, page: &Page, expression: &str) -> Result<Value> {
        let r = self
            .command(
                Some(&page.session),
                "Runtime.evaluate",
                json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
            )
            .await?;
        if let Some(e) = r.get("exceptionDetails") {
            bail!("{expression} threw: {e}");
        }
        Ok(r["result"]["value"].clone())
    }

    /// Sets the page's viewport to `width` × `height` CSS pixels.
    pub async fn set_viewport(&mut self, page: &Page, width: u32, height: u32) -> Result<()> {
        self.command(
            Some(&page.session),
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await?;
        Ok(())
    }

    /// Takes a PNG screenshot of the page's viewport into `path`.
    pub async fn screenshot(&mut self, page: &Page, path: &std::path::Path) -> Result<()> {
        use base64::Engine as _;
        let r = self
            .command(
                Some(&page.session),
                "Page.captureScreenshot",
                json!({ "format": "png" }),
            )
            .await?;
        let data = r["data"].as_str().context("no screenshot data")?;
        let png = base64::engine::general_purpose::STANDARD.decode(data)?;
        anyhow::ensure!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Evaluates `expression` every 50 ms until it is `true`, for at most `within`.
    pub async fn wait_for(
        &mut self,
        page: &Page,
        expression: &str,
        within: Duration,
    ) -> Result<()> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if self.eval(page, expression).await.ok() == Some(json!(true)) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                bail!("`{expression}` did not become true within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

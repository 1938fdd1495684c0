//! `holdfast tail`: follows a running server's log feed (`GET /_/admin/tail`) and prints each
//! line, as `wrangler tail` does for a deployed Worker.

use std::io::Write;

use serde::Deserialize;

/// What to follow, and where.
#[derive(Debug, Clone)]
pub struct TailOptions {
    /// The server, e.g. `http://127.0.0.1:8787`.
    pub url: String,
    /// The admin token (sent in the `Authorization` header).
    pub token: String,
    /// `BINDING` (a namespace) or `BINDING/NAME` (one object); `None`: everything.
    pub object: Option<String>,
    /// One object by ID (with `object` naming only its binding).
    pub id: Option<String>,
    /// Print the feed's JSON lines as they come instead of text.
    pub json: bool,
}

/// Why following the feed stopped.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("`--id` needs the object's binding as well (holdfast tail BINDING --id ID)")]
    IdWithoutBinding,
    #[error("`--id` names the object already: give only its binding before it, not `{0}`")]
    IdAndName(String),
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server refused to tail ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("the server's feed ended: {0}")]
    Ended(String),
    #[error("cannot write the lines: {0}")]
    Output(#[from] std::io::Error),
}

#[derive(Deserialize)]
struct Line {
    time_ms: Option<i64>,
    label: Option<String>,
    stream: Option<String>,
    text: Option<String>,
    skipped: Option<u64>,
}

/// The feed's address for `opts`.
fn feed_url(opts: &TailOptions) -> Result<reqwest::Url, TailError> {
    let base = opts.url.trim_end_matches('/');
    let mut url = reqwest::Url::parse(&format!("{base}/_/admin/tail")).map_err(|e| {
        TailError::Unreachable {
            url: opts.url.clone(),
            reason: format!("not a URL: {e}"),
        }
    })?;
    {
        let mut q = url.query_pairs_mut();
        match (&opts.object, &opts.id) {
            (None, Some(_)) => return Err(TailError::IdWithoutBinding),
            (None, None) => {}
            (Some(o), id) => match (o.split_once('/'), id) {
                (Some(_), Some(_)) => return Err(TailError::IdAndName(o.clone())),
                (Some((binding, name)), None) => {
                    q.append_pair("binding", binding).append_pair("name", name);
                }
                (None, Some(id)) => {
                    q.append_pair("binding", o).append_pair("id", id);
                }
                (None, None) => {
                    q.append_pair("binding", o);
                }
            },
        }
    }
    Ok(url)
}

/// `HH:MM:SS.mmm` (UTC) of a time in ms since the epoch.
fn clock(ms: i64) -> String {
    let day_ms = ms.rem_euclid(86_400_000);
    let (h, m, s, milli) = (
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000,
    );
    format!("{h:02}:{m:02}:{s:02}.{milli:03}")
}

fn print_line(raw: &str, json: bool, out: &mut impl Write) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{raw}");
    }
    match serde_json::from_str::<Line>(raw) {
        Ok(Line {
            skipped: Some(n), ..
        }) => writeln!(out, "[tail] {n} lines skipped: this reader fell behind"),
        Ok(l) => writeln!(
            out,
            "{} {} [{}] {}",
            clock(l.time_ms.unwrap_or(0)),
            l.label.unwrap_or_default(),
            l.stream.unwrap_or_default(),
            l.text.unwrap_or_default()
        ),
        Err(_) => writeln!(out, "{raw}"),
    }?;
    out.flush()
}

/// Follows the feed until the server ends it (or `out` fails). Calls `connected` once the
/// server has accepted the request.
pub async fn tail(
    opts: &TailOptions,
    out: &mut impl Write,
    connected: impl FnOnce(),
) -> Result<(), TailError> {
    let url = feed_url(opts)?;
    let unreachable = |e: reqwest::Error| TailError::Unreachable {
        url: opts.url.clone(),
        reason: e.to_string(),
    };
    let mut resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(&opts.token)
        .send()
        .await
        .map_err(unreachable)?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(body);
        return Err(TailError::Refused {
            status: status.as_u16(),
            message,
        });
    }
    connected();
    let mut pending = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                pending.extend_from_slice(&bytes);
                while let Some(i) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=i).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]);
                    print_line(&text, opts.json, out)?;
                }
            }
            Ok(None) => return Err(TailError::Ended("the server closed it".into())),
            Err(e) => return Err(TailError::Ended(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(object: Option<&str>, id: Option<&str>) -> TailOptions {
        TailOptions {
            url: "http://127.0.0.1:8787/".into(),
            token: "t".into(),
            object: object.map(str::to_owned),
            id: id.map(str::to_owned),
            json: false,
        }
    }

    #[test]
    fn the_feed_url_names_what_is_followed() {
        let u = |o, i| feed_url(&opts(o, i)).map(|u| u.to_string());
        assert_eq!(
            u(None, None).unwrap(),
            "http://127.0.0.1:8787/_/admin/tail?"
        );
        assert_eq!(
            u(Some("Counter/a b"), None).unwrap(),
            "http://127.0.0.1:8787/_/admin/tail?binding=Counter&name=a+b"
        );
        assert_eq!(
            u(Some("Counter"), Some("ab")).unwrap(),
            "http://127.0.0.1:8787/_/admin/tail?binding=Counter&id=ab"
        );
        assert!(matches!(
            feed_url(&opts(None, Some("ab"))),
            Err(TailError::IdWithoutBinding)
        ));
        assert!(matches!(
            feed_url(&opts(Some("C/x"), Some("ab"))),
            Err(TailError::IdAndName(_))
        ));
    }

    #[test]
    fn lines_print_as_text() {
        let mut out = Vec::new();
        let raw = r#"{"seq":1,"time_ms":3723004,"label":"Counter/a","namespace":"Counter","id":"ff","stream":"stdout","text":"hello"}"#;
        print_line(raw, false, &mut out).unwrap();
        print_line(r#"{"skipped":5}"#, false, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "01:02:03.004 Counter/a [stdout] hello\n[tail] 5 lines skipped: this reader fell behind\n"
        );
    }
}

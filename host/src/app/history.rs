//! `holdfast bookmarks`, `holdfast restore-object` and `holdfast fork`: an object's history, a
//! point-in-time restore and a fork, asked of a running server's admin API (`--url`, the admin
//! token from `HOLDFAST_ADMIN_TOKEN`), as the inspector's History section does.
//!
//! Times are milliseconds since the Unix epoch, or relative to now: `-90s`, `-15m`, `-2h`, `-3d`.

use std::io::Write;

use serde_json::{Value, json};

/// Why a history command did nothing.
#[derive(Debug, thiserror::Error)]
pub enum HistoryCliError {
    #[error("`{0}` is not an object: write BINDING/NAME (or BINDING/NAME with --id for an ID)")]
    BadObject(String),
    #[error(
        "`{0}` is not a time: give milliseconds since the Unix epoch, or a time before now as -90s, -15m, -2h or -3d"
    )]
    BadTime(String),
    #[error("cannot reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the server refused ({status}): {message}")]
    Refused { status: u16, message: String },
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Which object, on which server.
#[derive(Debug, Clone)]
pub struct ObjectAt {
    /// The server's admin address (e.g. `http://127.0.0.1:8787`).
    pub url: String,
    pub token: String,
    /// `BINDING/NAME`, or with `id` set `BINDING/ID`.
    pub object: String,
    /// Whether `object` names an ID rather than a name.
    pub id: bool,
}

/// A state of an object: a bookmark, or a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    Bookmark(String),
    TimeMs(i64),
}

impl At {
    /// `text` as a time (see the module doc), else as a bookmark.
    pub fn parse(text: &str, now_ms: i64) -> Result<At, HistoryCliError> {
        if let Ok(ms) = text.parse::<i64>() {
            return Ok(At::TimeMs(ms));
        }
        if let Some(rest) = text.strip_prefix('-') {
            let bad = || HistoryCliError::BadTime(text.to_owned());
            let (n, unit) = rest.split_at(rest.len().saturating_sub(1));
            let n: i64 = n.parse().map_err(|_| bad())?;
            let ms = match unit {
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => return Err(bad()),
            };
            return Ok(At::TimeMs(now_ms - n * ms));
        }
        Ok(At::Bookmark(text.to_owned()))
    }

    fn into_body(self) -> Value {
        match self {
            At::Bookmark(b) => json!({ "bookmark": b }),
            At::TimeMs(t) => json!({ "time": t }),
        }
    }
}

impl ObjectAt {
    fn path(&self, suffix: &str) -> Result<String, HistoryCliError> {
        let (binding, object) = self
            .object
            .split_once('/')
            .filter(|(b, o)| !b.is_empty() && !o.is_empty())
            .ok_or_else(|| HistoryCliError::BadObject(self.object.clone()))?;
        let kind = if self.id { "ids" } else { "objects" };
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        Ok(format!(
            "{}/_/admin/{kind}/{}/{}{suffix}",
            self.url.trim_end_matches('/'),
            enc(binding),
            enc(object)
        ))
    }

    async fn send(&self, suffix: &str, body: Option<Value>) -> Result<Value, HistoryCliError> {
        let url = self.path(suffix)?;
        let client = reqwest::Client::new();
        let req = match body {
            Some(b) => client.post(&url).json(&b),
            None => client.get(&url),
        };
        let unreachable = |e: reqwest::Error| HistoryCliError::Unreachable {
            url: self.url.clone(),
            reason: e.to_string(),
        };
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if !status.is_success() {
            let message = v["error"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            return Err(HistoryCliError::Refused {
                status: status.as_u16(),
                message,
            });
        }
        Ok(v)
    }
}

/// Prints the object's commits, newest first (at most `limit`): time, what changed, and the
/// bookmark of the state before each.
pub async fn bookmarks(
    at: &ObjectAt,
    limit: usize,
    out: &mut impl Write,
) -> Result<(), HistoryCliError> {
    let v = at.send(&format!("/bookmarks?limit={limit}"), None).await?;
    writeln!(
        out,
        "now      {}",
        v["current"].as_str().unwrap_or_default()
    )?;
    for p in v["history"].as_array().into_iter().flatten() {
        let mut changed = Vec::new();
        if let Some(n) = p["keys"].as_u64().filter(|n| *n > 0) {
            changed.push(format!("{n} keys"));
        }
        if let Some(n) = p["sql_rows"].as_u64().filter(|n| *n > 0) {
            changed.push(format!("{n} SQL pieces"));
        }
        if p["alarm"].as_bool() == Some(true) {
            changed.push("alarm".into());
        }
        writeln!(
            out,
            "{}  before: {}  changed {}",
            p["time_ms"],
            p["before"].as_str().unwrap_or_default(),
            changed.join(", ")
        )?;
    }
    Ok(())
}

/// Restores the object to `to`; the bookmark that undoes it.
pub async fn restore_object(at: &ObjectAt, to: At) -> Result<String, HistoryCliError> {
    let v = at.send("/restore", Some(to.into_body())).await?;
    Ok(v["undo"].as_str().unwrap_or_default().to_owned())
}

/// Makes `dest` (`[BINDING/]NAME`) a copy of the object as of `from` (now if `None`); the
/// bookmark that undoes it in the destination.
pub async fn fork(at: &ObjectAt, dest: &str, from: Option<At>) -> Result<String, HistoryCliError> {
    let to = match dest.split_once('/') {
        Some((b, n)) if !b.is_empty() && !n.is_empty() => json!({ "binding": b, "name": n }),
        None if !dest.is_empty() => json!({ "name": dest }),
        _ => return Err(HistoryCliError::BadObject(dest.to_owned())),
    };
    let mut body = from.map_or_else(|| json!({}), At::into_body);
    body["to"] = to;
    let v = at.send("/fork", Some(body)).await?;
    Ok(v["undo"].as_str().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_milliseconds_or_relative_and_anything_else_is_a_bookmark() {
        let now = 1_000_000_000;
        assert_eq!(At::parse("123", now).unwrap(), At::TimeMs(123));
        assert_eq!(At::parse("-90s", now).unwrap(), At::TimeMs(now - 90_000));
        assert_eq!(At::parse("-2h", now).unwrap(), At::TimeMs(now - 7_200_000));
        assert_eq!(
            At::parse("-3d", now).unwrap(),
            At::TimeMs(now - 259_200_000)
        );
        assert_eq!(
            At::parse("0000-00-00", now).unwrap(),
            At::Bookmark("0000-00-00".into())
        );
        assert_eq!(
            At::parse("-2w", now).unwrap_err().to_string(),
            "`-2w` is not a time: give milliseconds since the Unix epoch, or a time before now as -90s, -15m, -2h or -3d"
        );
    }
}

//! The test controls: the admin API of the host, as methods.

use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::Error;
use crate::host::TestHost;

/// One object of a [`TestHost`], by name or by ID.
#[derive(Debug, Clone, Copy)]
pub struct ObjectRef<'h> {
    host: &'h TestHost,
    binding: &'h str,
    /// `objects` (then `object` is a name) or `ids` (a hex ID).
    kind: &'static str,
    object: &'h str,
}

/// An object that has something stored.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct StoredObject {
    /// Its ID (64 hex characters).
    pub id: String,
    /// The name it was addressed by, if it was.
    pub name: Option<String>,
    /// Whether it is in memory now.
    pub live: bool,
    pub kv_keys: u64,
    pub alarm: Option<i64>,
}

/// A line an object printed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct LogLine {
    pub time_ms: i64,
    /// `stdout` or `stderr`.
    pub stream: String,
    pub text: String,
}

/// Every byte but RFC 3986's unreserved ones is escaped (a path segment or a query value).
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, ESCAPED).to_string()
}

impl TestHost {
    /// Calls `/_/admin{path}`; `what` names the control in an error.
    pub(crate) async fn control(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, Error> {
        let mut req = self
            .client
            .request(method, self.url(&format!("/_/admin{path}")))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        let v: Value = r.json().await?;
        if status >= 400 {
            return Err(Error::Refused {
                what: what.to_owned(),
                status,
                message: v["error"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(v)
    }

    /// The object of `binding` named `name` (Cloudflare's `idFromName`).
    pub fn object<'h>(&'h self, binding: &'h str, name: &'h str) -> ObjectRef<'h> {
        ObjectRef {
            host: self,
            binding,
            kind: "objects",
            object: name,
        }
    }

    /// The object of `binding` with this hex ID.
    pub fn object_by_id<'h>(&'h self, binding: &'h str, id: &'h str) -> ObjectRef<'h> {
        ObjectRef {
            host: self,
            binding,
            kind: "ids",
            object: id,
        }
    }

    /// Every object of `binding` with anything stored, in ID order (Cloudflare's
    /// `listDurableObjectIds`, with names).
    pub async fn objects(&self, binding: &str) -> Result<Vec<StoredObject>, Error> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let v = self
                .control(
                    Method::GET,
                    &format!(
                        "/namespaces/{}/objects?limit=1000&after={after}",
                        enc(binding)
                    ),
                    None,
                    "listing objects",
                )
                .await?;
            let page: Vec<StoredObject> = serde_json::from_value(v["objects"].clone())
                .map_err(|e| Error::Unexpected(format!("an object list: {e}")))?;
            out.extend(page);
            match v["next"].as_str() {
                Some(n) => after = n.to_owned(),
                None => return Ok(out),
            }
        }
    }

    /// Deletes everything every object of every namespace stored (keys, SQL, alarms): a clean
    /// slate between the steps of a test, without restarting.
    pub async fn reset(&self) -> Result<(), Error> {
        let v = self
            .control(Method::GET, "/namespaces", None, "listing namespaces")
            .await?;
        let bindings: Vec<String> = v["namespaces"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["binding"].as_str().map(str::to_owned))
            .collect();
        for binding in &bindings {
            for o in self.objects(binding).await? {
                self.object_by_id(binding, &o.id).reset().await?;
            }
        }
        Ok(())
    }
}

impl ObjectRef<'_> {
    fn path(&self, rest: &str) -> String {
        format!(
            "/{}/{}/{}{rest}",
            self.kind,
            enc(self.binding),
            enc(self.object)
        )
    }

    /// The URL of `path` (starting with `/`) of this object's own routes:
    /// `/{binding}/{name}{path}`, or `/_/id/{binding}/{id}{path}`.
    pub fn url(&self, path: &str) -> String {
        match self.kind {
            "objects" => self.host.url(&format!(
                "/{}/{}{path}",
                enc(self.binding),
                enc(self.object)
            )),
            _ => self.host.url(&format!(
                "/_/id/{}/{}{path}",
                enc(self.binding),
                self.object
            )),
        }
    }

    /// The committed value of `key` (JSON), if any.
    pub async fn get(&self, key: &str) -> Result<Option<Value>, Error> {
        let v = self
            .host
            .control(
                Method::GET,
                &self.path(&format!("/keys?prefix={}&limit=1", enc(key))),
                None,
                "reading a key",
            )
            .await?;
        Ok(v["keys"]
            .as_array()
            .and_then(|k| k.first())
            .filter(|e| e["key"] == key)
            .map(|e| e["value"].clone()))
    }

    /// Every key and value with `prefix`, in key order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, Value)>, Error> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let v = self
                .host
                .control(
                    Method::GET,
                    &self.path(&format!(
                        "/keys?prefix={}&after={}&limit=1000",
                        enc(prefix),
                        enc(&after)
                    )),
                    None,
                    "listing keys",
                )
                .await?;
            for e in v["keys"].as_array().into_iter().flatten() {
                let key = e["key"].as_str().unwrap_or_default().to_owned();
                out.push((key, e["value"].clone()));
            }
            match v["next"].as_str() {
                Some(n) => after = n.to_owned(),
                None => return Ok(out),
            }
        }
    }

    /// Stores `value` under `key`, as an event in the object's mailbox (its instance restarts,
    /// so its next event reads the new value).
    pub async fn put(&self, key: &str, value: Value) -> Result<(), Error> {
        self.host
            .control(
                Method::POST,
                &self.path("/storage"),
                Some(json!({ "put": { key: value } })),
                "writing a key",
            )
            .await
            .map(drop)
    }

    /// Deletes `key`; whether it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, Error> {
        let v = self
            .host
            .control(
                Method::POST,
                &self.path("/storage"),
                Some(json!({ "delete": [key] })),
                "deleting a key",
            )
            .await?;
        Ok(v["deleted"] == 1)
    }

    /// The object's alarm (ms since the epoch), if set.
    pub async fn alarm(&self) -> Result<Option<i64>, Error> {
        let v = self
            .host
            .control(Method::GET, &self.path("/alarm"), None, "reading the alarm")
            .await?;
        Ok(v["alarm"].as_i64())
    }

    /// Sets the object's alarm.
    pub async fn set_alarm(&self, at_ms: i64) -> Result<(), Error> {
        self.host
            .control(
                Method::PUT,
                &self.path("/alarm"),
                Some(json!({ "alarm": at_ms })),
                "setting the alarm",
            )
            .await
            .map(drop)
    }

    /// Runs the object's alarm now (Cloudflare's `runDurableObjectAlarm`); false if no alarm
    /// was set. Returns once the handler's writes are durable.
    pub async fn run_alarm(&self) -> Result<bool, Error> {
        match self
            .host
            .control(
                Method::POST,
                &self.path("/alarm/run"),
                Some(json!({})),
                "running the alarm",
            )
            .await
        {
            Ok(v) => Ok(v["ran"] == true),
            Err(Error::Refused { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Makes the object leave memory now (its next event constructs it again); whether it did.
    pub async fn evict(&self) -> Result<bool, Error> {
        let v = self
            .host
            .control(
                Method::POST,
                &self.path("/evict"),
                Some(json!({})),
                "evicting",
            )
            .await?;
        Ok(v["evicted"] == true)
    }

    /// Runs SQL on the object's database as an event: `{"columns", "rows", ...}`.
    pub async fn sql(&self, query: &str, params: Vec<Value>) -> Result<Value, Error> {
        self.host
            .control(
                Method::POST,
                &self.path("/sql"),
                Some(json!({ "query": query, "params": params })),
                "running SQL",
            )
            .await
    }

    /// Deletes everything the object stored: keys, SQL database, alarm.
    pub async fn reset(&self) -> Result<(), Error> {
        self.host
            .control(
                Method::POST,
                &self.path("/reset"),
                Some(json!({})),
                "resetting",
            )
            .await
            .map(drop)
    }

    /// The object's recent log lines (what it printed), oldest first.
    pub async fn logs(&self) -> Result<Vec<LogLine>, Error> {
        let q = match self.kind {
            "objects" => format!("name={}", enc(self.object)),
            _ => format!("id={}", self.object),
        };
        let v = self
            .host
            .control(
                Method::GET,
                &format!("/logs?binding={}&{q}", enc(self.binding)),
                None,
                "reading logs",
            )
            .await?;
        serde_json::from_value(v["lines"].clone())
            .map_err(|e| Error::Unexpected(format!("log lines: {e}")))
    }
}

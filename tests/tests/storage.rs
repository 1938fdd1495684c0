//! Storage semantics through the test guest: atomic events (a trap or an error keeps nothing),
//! limits (refused calls write nothing), and `list` checked against an in-memory model.

use std::collections::BTreeMap;

use anyhow::Result;
use holdfast_tests::{Server, call, class, client, default_config, guest};
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test]
async fn a_trap_keeps_nothing_and_the_next_request_works() -> Result<()> {
    let s = Server::start(&default_config())?;
    let c = client();
    let (status, _) = call(&c, Method::POST, &s.url("/trap/t/put?key=before&len=3")).await?;
    assert_eq!(status, 200);

    let (status, body) = call(&c, Method::POST, &s.url("/trap/t/write-then-trap?key=lost")).await?;
    assert_eq!(status, 500);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.starts_with("object trapped: "), "{msg}");
    assert!(msg.contains("deliberate trap after writing lost"), "{msg}");

    // Nothing of the trapped event is stored; the earlier write is; a fresh instance answers.
    assert_eq!(
        call(&c, Method::GET, &s.url("/trap/t/get?key=lost")).await?,
        (200, json!({"value": null}))
    );
    assert_eq!(
        call(&c, Method::GET, &s.url("/trap/t/get?key=before")).await?,
        (200, json!({"value": "aaa"}))
    );

    let (status, body) = call(&c, Method::POST, &s.url("/trap/t/write-then-err?key=lost2")).await?;
    assert_eq!(status, 500);
    assert_eq!(body["error"], "deliberate error after writing");
    assert_eq!(
        call(&c, Method::GET, &s.url("/trap/t/get?key=lost2"))
            .await?
            .1,
        json!({"value": null})
    );

    // Still nothing after a restart.
    let s = s.restart()?;
    assert_eq!(
        call(&c, Method::GET, &s.url("/trap/t/get?key=lost"))
            .await?
            .1,
        json!({"value": null})
    );
    assert_eq!(
        call(&c, Method::GET, &s.url("/trap/t/get?key=before"))
            .await?
            .1,
        json!({"value": "aaa"})
    );
    Ok(())
}

#[tokio::test]
async fn storage_limits_refuse_the_call_and_write_nothing() -> Result<()> {
    // A key-value backed class: Cloudflare's limits of KV-backed classes.
    let s = Server::start(&holdfast_tests::kv_class(
        "trap",
        "Trapper",
        &guest("trapper"),
    ))?;
    let c = client();
    let post = |p: &str| call(&c, Method::POST, s.url(p));

    assert_eq!(post("/trap/l/put-key-len?len=2048").await?.0, 200);
    let (status, body) = post("/trap/l/put-key-len?len=2049").await?;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("key-too-large")),
        "{body}"
    );
    assert_eq!(
        body["error"],
        "key is 2049 bytes, over the limit of 2048 bytes"
    );

    assert_eq!(post("/trap/l/put?key=v&len=131072").await?.0, 200);
    let (status, body) = post("/trap/l/put?key=big&len=131073").await?;
    assert_eq!(
        (status, body["kind"].as_str()),
        (400, Some("value-too-large")),
        "{body}"
    );
    assert_eq!(
        body["error"],
        "value of key `big` is 131073 bytes, over the limit of 131072 bytes"
    );
    assert_eq!(
        call(&c, Method::GET, &s.url("/trap/l/get?key=big"))
            .await?
            .1,
        json!({"value": null})
    );

    assert_eq!(post("/trap/l/put-many?count=128").await?.0, 200);
    for op in ["put-many", "get-many", "delete-many"] {
        let (status, body) = post(&format!("/trap/m/{op}?count=129")).await?;
        assert_eq!(
            (status, body["kind"].as_str()),
            (400, Some("too-many-keys")),
            "{op}: {body}"
        );
        assert_eq!(body["error"], "129 keys in one call, over the limit of 128");
    }
    // The refused put-many wrote none of its 129 keys.
    let list = c
        .post(s.url("/trap/m/ops"))
        .json(&json!([{"op": "list"}]))
        .send()
        .await?;
    let list: Value = list.json().await?;
    assert_eq!(list["results"][0], json!([]));

    let bad = json!([{"op": "list", "start": "a", "start_after": "b"}]);
    let r = c.post(s.url("/trap/m/ops")).json(&bad).send().await?;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await?;
    assert_eq!(body["kind"], "invalid-argument");
    assert_eq!(
        body["error"],
        "invalid argument: `start` and `start-after` cannot both be set"
    );
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Put(String, String),
    Delete(String),
    DeleteAll,
    List {
        start: Option<String>,
        start_after: Option<String>,
        end: Option<String>,
        prefix: Option<String>,
        reverse: bool,
        limit: Option<u32>,
    },
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "", "a", "ab", "abc", "b", "ba", "bb", "c", "é", "a\u{7f}", "zz",
    ])
    .prop_map(str::to_owned)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (key(), "[a-z]{0,3}").prop_map(|(k, v)| Op::Put(k, v)),
        2 => key().prop_map(Op::Delete),
        1 => Just(Op::DeleteAll),
        3 => (
            prop::option::of(key()),
            prop::option::of(key()),
            prop::option::of(key()),
            prop::option::of(prop::sample::select(vec!["", "a", "b", "ab", "é"]).prop_map(str::to_owned)),
            any::<bool>(),
            prop::option::of(0u32..5),
        )
            .prop_map(|(start, start_after, end, prefix, reverse, limit)| Op::List {
                // Both bounds at once is an error, tested separately.
                start_after: if start.is_some() { None } else { start_after },
                start,
                end,
                prefix,
                reverse,
                limit,
            }),
    ]
}

fn to_json(op: &Op) -> Value {
    match op {
        Op::Put(k, v) => json!({"op": "put", "key": k, "value": v}),
        Op::Delete(k) => json!({"op": "delete", "key": k}),
        Op::DeleteAll => json!({"op": "delete_all"}),
        Op::List {
            start,
            start_after,
            end,
            prefix,
            reverse,
            limit,
        } => json!({
            "op": "list", "start": start, "start_after": start_after, "end": end,
            "prefix": prefix, "reverse": reverse, "limit": limit,
        }),
    }
}

fn model_apply(m: &mut BTreeMap<String, String>, op: &Op) -> Value {
    match op {
        Op::Put(k, v) => {
            m.insert(k.clone(), v.clone());
            Value::Null
        }
        Op::Delete(k) => json!(m.remove(k).is_some()),
        Op::DeleteAll => {
            m.clear();
            Value::Null
        }
        Op::List {
            start,
            start_after,
            end,
            prefix,
            reverse,
            limit,
        } => {
            let mut v: Vec<(&String, &String)> = m
                .iter()
                .filter(|(k, _)| start.as_ref().is_none_or(|s| k.as_str() >= s.as_str()))
                .filter(|(k, _)| start_after.as_ref().is_none_or(|s| k.as_str() > s.as_str()))
                .filter(|(k, _)| end.as_ref().is_none_or(|e| k.as_str() < e.as_str()))
                .filter(|(k, _)| prefix.as_ref().is_none_or(|p| k.starts_with(p.as_str())))
                .collect();
            if *reverse {
                v.reverse();
            }
            v.truncate(limit.map_or(usize::MAX, |l| l as usize));
            json!(
                v.into_iter()
                    .map(|(k, v)| json!([k, v]))
                    .collect::<Vec<_>>()
            )
        }
    }
}

/// Random operation sequences, split over several events, against both a resident object (its
/// cache serves reads) and one evicted after every event (reads come from the database).
#[test]
fn list_matches_an_in_memory_model() -> Result<()> {
    let config = format!(
        "{}{}[class.limits]\nidle_timeout_ms = 1\n",
        default_config(),
        class("evicting", "Trapper", &guest("trapper"))
    );
    let s = Server::start(&config)?;
    let rt = tokio::runtime::Runtime::new()?;
    let c = client();
    let case = std::sync::atomic::AtomicU32::new(0);
    let cfg = ProptestConfig {
        cases: 48,
        ..ProptestConfig::default()
    };
    proptest!(cfg, |(batches in prop::collection::vec(prop::collection::vec(op(), 1..8), 1..5))| {
        let case = case.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for binding in ["trap", "evicting"] {
            let mut model = BTreeMap::new();
            for (i, batch) in batches.iter().enumerate() {
                let expected: Vec<Value> = batch.iter().map(|o| model_apply(&mut model, o)).collect();
                let body = json!(batch.iter().map(to_json).collect::<Vec<_>>());
                let url = s.url(&format!("/{binding}/case{case}/ops"));
                let got: Value = rt.block_on(async {
                    let r = c.post(&url).json(&body).send().await?;
                    anyhow::ensure!(r.status() == 200, "status {}", r.status());
                    Ok(r.json::<Value>().await?)
                }).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(&got["results"], &json!(expected), "{} batch {}: {:?}", binding, i, batch);
                if binding == "evicting" {
                    std::thread::sleep(std::time::Duration::from_millis(15));
                }
            }
        }
    });
    Ok(())
}

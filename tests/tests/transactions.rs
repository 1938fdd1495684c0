//! Nested transactions through the Rust SDK's `Storage::transaction`, driven by the transactor
//! test guest's scripts (`{"tx": [...]}` runs its ops in a transaction, `{"fail": m}` returns
//! `Err`, `{"catch": [...]}` records an error instead of failing the event).

use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{Server, call, class, client, eventually, guest, now_ms};
use reqwest::Method;
use serde_json::{Value, json};

const DEPTH_ERROR: &str = "invalid argument: transactions are nested more than 64 deep";

fn start() -> Result<Server> {
    Server::start(&class("tx", "Transactor", &guest("transactor")))
}

/// Runs the script `ops` on object `object`: (status, body).
async fn ops(c: &reqwest::Client, s: &Server, object: &str, ops: Value) -> Result<(u16, Value)> {
    let r = c
        .post(s.url(&format!("/tx/{object}/ops")))
        .json(&ops)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await?))
}

/// The script's results, after checking that it succeeded.
async fn results(c: &reqwest::Client, s: &Server, object: &str, script: Value) -> Result<Value> {
    let (status, body) = ops(c, s, object, script).await?;
    assert_eq!(status, 200, "{body}");
    Ok(body["results"].clone())
}

/// Every stored entry of `object`.
async fn all(c: &reqwest::Client, s: &Server, object: &str) -> Result<Value> {
    let url = s.url(&format!("/tx/{object}/all"));
    Ok(call(c, Method::GET, url).await?.1["entries"].clone())
}

async fn alarm(c: &reqwest::Client, s: &Server, object: &str) -> Result<Value> {
    let url = s.url(&format!("/tx/{object}/alarm"));
    Ok(call(c, Method::GET, url).await?.1["alarm"].clone())
}

#[tokio::test]
async fn an_err_rolls_back_only_its_transaction_and_ok_keeps_it() -> Result<()> {
    let s = start()?;
    let c = client();
    results(&c, &s, "o", json!([{"put": ["base", 0]}])).await?;
    let got = results(
        &c,
        &s,
        "o",
        json!([
            {"put": ["event", 1]},
            {"catch": [{"tx": [
                {"put": ["rolled", 1]}, {"delete": "event"}, {"delete": "base"},
                {"get": "rolled"}, {"get": "event"},
                {"fail": "inner failure"},
                {"put": ["never", 1]},
            ]}]},
            {"get": "rolled"}, {"get": "event"}, {"get": "base"},
            {"catch": [{"tx": [{"delete_all": null}, {"get": "base"}, {"fail": "undo delete_all"}]}]},
            {"get": "base"},
            {"tx": [{"put": ["kept", 2]}, {"delete": "base"}]},
            {"get": "kept"}, {"get": "base"},
        ]),
    )
    .await?;
    assert_eq!(
        got,
        json!([
            1, null,
            {"caught": "inner failure", "kind": null},
            null, 1, 0,
            null,
            {"caught": "undo delete_all", "kind": null},
            0,
            2, null,
        ])
    );
    let expected = json!({"event": 1, "kept": 2});
    assert_eq!(all(&c, &s, "o").await?, expected);
    // The same after a restart: the committed form is what the event saw.
    let s = s.restart()?;
    assert_eq!(all(&c, &s, "o").await?, expected);
    Ok(())
}

#[tokio::test]
async fn a_failed_event_keeps_nothing_of_a_committed_nested_transaction() -> Result<()> {
    let s = start()?;
    let c = client();
    let at = now_ms() + 3_600_000;
    let (status, body) = ops(
        &c,
        &s,
        "f",
        json!([
            {"put": ["outside", 1]},
            {"tx": [{"put": ["committed", 1]}, {"alarm": at}]},
            {"get": "committed"},
            {"fail": "event failure"},
        ]),
    )
    .await?;
    assert_eq!((status, body), (500, json!({"error": "event failure"})));
    assert_eq!(all(&c, &s, "f").await?, json!({}));
    assert_eq!(alarm(&c, &s, "f").await?, Value::Null);

    // A panic inside an open transaction traps the event: nothing kept either, and the next
    // event starts with no transaction open (64 levels are available again).
    let (status, body) = ops(
        &c,
        &s,
        "f",
        json!([{"tx": [{"put": ["x", 1]}, {"panic": "deliberate panic in a transaction"}]}]),
    )
    .await?;
    assert_eq!(status, 500);
    let error = body["error"].as_str().unwrap();
    assert!(error.starts_with("object trapped: "), "{error}");
    assert!(
        error.contains("deliberate panic in a transaction"),
        "{error}"
    );
    assert_eq!(all(&c, &s, "f").await?, json!({}));
    results(&c, &s, "f", json!([{"nest": 64}])).await?;
    assert_eq!(all(&c, &s, "f").await?.as_object().unwrap().len(), 64);
    Ok(())
}

#[tokio::test]
async fn an_alarm_set_in_a_rolled_back_transaction_is_not_set() -> Result<()> {
    let s = start()?;
    let c = client();
    let far = now_ms() + 3_600_000;
    let now = now_ms();
    let got = results(
        &c,
        &s,
        "a",
        json!([
            {"alarm": far},
            {"catch": [{"tx": [{"alarm": now}, {"get_alarm": null}, {"fail": "no"}]}]},
            {"get_alarm": null},
            {"catch": [{"tx": [{"delete_alarm": null}, {"get_alarm": null}, {"fail": "keep it"}]}]},
            {"get_alarm": null},
        ]),
    )
    .await?;
    assert_eq!(
        got,
        json!([
            now, {"caught": "no", "kind": null}, far,
            null, {"caught": "keep it", "kind": null}, far,
        ])
    );
    assert_eq!(alarm(&c, &s, "a").await?, json!(far));

    // On an object without an alarm: a due alarm set in a rolled-back transaction never fires,
    // while the same in a committed one (the control) fires at once.
    let rolled_back = json!([{"catch": [{"tx": [{"alarm": now}, {"fail": "no"}]}]}]);
    results(&c, &s, "none", rolled_back).await?;
    results(&c, &s, "fires", json!([{"tx": [{"alarm": now}]}])).await?;
    assert_eq!(alarm(&c, &s, "none").await?, Value::Null);
    eventually(Duration::from_secs(5), || async {
        Ok((all(&c, &s, "fires").await?["alarms_seen"] == 1).then_some(()))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(all(&c, &s, "none").await?, json!({}));
    Ok(())
}

#[tokio::test]
async fn transactions_nest_and_each_level_rolls_back_alone() -> Result<()> {
    let s = start()?;
    let c = client();
    let got = results(
        &c,
        &s,
        "n",
        json!([{"tx": [
            {"put": ["l1", 1]},
            {"tx": [
                {"put": ["l2", 1]},
                {"catch": [{"tx": [{"put": ["l3", 1]}, {"fail": "level 3 fails"}]}]},
                {"put": ["l2-after", 1]},
            ]},
            {"catch": [{"tx": [
                {"put": ["l2-doomed", 1]},
                {"tx": [{"put": ["l3-committed", 1]}]},
                {"get": "l3-committed"},
                {"fail": "level 2 fails after its child committed"},
            ]}]},
            {"get": "l3-committed"},
        ]}]),
    )
    .await?;
    assert_eq!(
        got,
        json!([
            {"caught": "level 3 fails", "kind": null},
            1,
            {"caught": "level 2 fails after its child committed", "kind": null},
            null,
        ])
    );
    assert_eq!(
        all(&c, &s, "n").await?,
        json!({"l1": 1, "l2": 1, "l2-after": 1})
    );
    Ok(())
}

#[tokio::test]
async fn nesting_deeper_than_64_is_an_invalid_argument() -> Result<()> {
    let s = start()?;
    let c = client();
    results(&c, &s, "deep", json!([{"nest": 64}])).await?;
    let entries = all(&c, &s, "deep").await?;
    assert_eq!(entries.as_object().unwrap().len(), 64);
    assert_eq!(
        (&entries["depth1"], &entries["depth64"]),
        (&json!(1), &json!(64))
    );

    // The 65th begin is refused; the error unwinds through the 64 open ones, rolling them back.
    let got = results(
        &c,
        &s,
        "deeper",
        json!([{"put": ["before", 1]}, {"catch": [{"nest": 65}]}]),
    )
    .await?;
    assert_eq!(
        got,
        json!([{"caught": DEPTH_ERROR, "kind": "invalid-argument"}])
    );
    assert_eq!(all(&c, &s, "deeper").await?, json!({"before": 1}));

    // Uncaught, it fails the event with that message.
    let (status, body) = ops(&c, &s, "deeper", json!([{"nest": 65}])).await?;
    assert_eq!((status, body), (500, json!({"error": DEPTH_ERROR})));
    Ok(())
}

/// Point-in-time recovery from the Rust SDK: a bookmark taken, later writes, a restore asked
/// for, and the failed event that restarts the object brings it back; a snapshot makes another
/// object a copy; a bad bookmark is a storage error with the host's message.
#[tokio::test]
async fn the_rust_sdk_restores_an_object_to_a_bookmark_and_forks_a_snapshot() -> Result<()> {
    let s = start()?;
    let c = client();
    results(&c, &s, "o", json!([{"put": ["k", 1]}])).await?;
    let bookmark = results(&c, &s, "o", json!([{"bookmark": null}])).await?[0].clone();
    results(
        &c,
        &s,
        "o",
        json!([{"put": ["k", 2]}, {"put": ["later", true]}]),
    )
    .await?;
    let before = now_ms();
    let at = results(&c, &s, "o", json!([{"bookmark_at": before}])).await?[0].clone();
    assert!(
        bookmark.as_str() < at.as_str(),
        "in time order: {bookmark} {at}"
    );
    let (status, body) = ops(
        &c,
        &s,
        "o",
        json!([{"restore_to": bookmark}, {"put": ["doomed", 1]}, {"fail": "restart"}]),
    )
    .await?;
    assert_eq!(status, 500, "{body}");
    assert_eq!(all(&c, &s, "o").await?, json!({"k": 1}));

    let snapshot = results(&c, &s, "o", json!([{"snapshot": null}])).await?[0].clone();
    results(&c, &s, "copy", json!([{"put": ["own", 1]}])).await?;
    let (status, _) = ops(
        &c,
        &s,
        "copy",
        json!([{"restore_snapshot": snapshot}, {"fail": "restart"}]),
    )
    .await?;
    assert_eq!(status, 500);
    assert_eq!(all(&c, &s, "copy").await?, json!({"k": 1}));

    let got = results(&c, &s, "o", json!([{"catch": [{"restore_to": "nope"}]}])).await?;
    assert_eq!(
        got,
        json!([{
            "caught": "`nope` is not a bookmark (a bookmark is three groups of hex digits, as getCurrentBookmark() returns)",
            "kind": "invalid-argument",
        }])
    );
    Ok(())
}

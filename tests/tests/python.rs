//! The Python SDK's events beyond `fetch`, through tests/py-guests/events: alarms (with retry
//! info), WebSockets (tags, echo, broadcast, attachments, close) and nested transactions
//! (`with storage.transaction():`).

use std::time::Duration;

use anyhow::{Result, bail};
use futures_util::{SinkExt, StreamExt};
use holdfast_tests::{
    Server, Ws, admin, admin_config, built, call, class, client, eventually, now_ms, ws_connect,
    ws_json, ws_send,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// The events guest as `py`, the admin API, and fast alarm retries.
fn start() -> Result<Server> {
    let wasm = built("target/py-guests/events.wasm");
    Server::start(&format!(
        "{}[alarms]\nretry_base_ms = 100\nmax_retries = 3\n{}",
        admin_config(),
        class("py", "Events", &wasm)
    ))
}

async fn get(c: &reqwest::Client, s: &Server, path: &str) -> Result<Value> {
    let (status, body) = call(c, Method::GET, s.url(&format!("/py/{path}"))).await?;
    assert_eq!(status, 200, "{path}: {body}");
    Ok(body)
}

/// The JSON value `object` stored under `key` (null if none).
async fn stored(c: &reqwest::Client, s: &Server, object: &str, key: &str) -> Result<Value> {
    Ok(get(c, s, &format!("{object}/get?key={key}")).await?["value"].clone())
}

async fn post(c: &reqwest::Client, s: &Server, path: &str) -> Result<(u16, Value)> {
    call(c, Method::POST, s.url(&format!("/py/{path}"))).await
}

/// Runs the script `ops` on `object` (see the guest's docstring): (status, body).
async fn ops(c: &reqwest::Client, s: &Server, object: &str, ops: Value) -> Result<(u16, Value)> {
    let r = c
        .post(s.url(&format!("/py/{object}/ops")))
        .json(&ops)
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await?))
}

#[tokio::test]
async fn python_alarms_run_and_failures_are_retried_with_retry_info() -> Result<()> {
    let s = start()?;
    let c = client();
    // Run now through the admin API: the handler's writes are kept and the alarm is consumed.
    let far = now_ms() + 3_600_000;
    assert_eq!(
        post(&c, &s, &format!("a/alarm?at={far}")).await?,
        (200, json!({"alarm": far}))
    );
    let (status, body) = admin(&c, &s, Method::POST, "/objects/py/a/alarm/run").await?;
    assert_eq!(
        (status, body),
        (200, json!({"ran": true, "scheduled_time": far}))
    );
    assert_eq!(stored(&c, &s, "a", "alarms_seen").await?, json!(1));
    assert_eq!(
        stored(&c, &s, "a", "last_alarm").await?,
        json!({"scheduled_time": far, "retry_count": 0, "is_retry": false})
    );
    assert_eq!(get(&c, &s, "a/alarm").await?, json!({"alarm": null}));

    // A handler that raises: its message comes back, nothing of it is kept, the alarm stays.
    post(&c, &s, &format!("b/alarm?at={far}&fail=1")).await?;
    let (status, body) = admin(&c, &s, Method::POST, "/objects/py/b/alarm/run").await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (
            500,
            Some("the alarm handler failed: deliberate alarm failure at retry 0")
        )
    );
    assert_eq!(stored(&c, &s, "b", "alarms_seen").await?, Value::Null);
    assert_eq!(get(&c, &s, "b/alarm").await?, json!({"alarm": far}));

    // Due now and raising on its first two deliveries: the second retry succeeds and the guest
    // sees that it is one.
    let at = now_ms();
    post(&c, &s, &format!("c/alarm?at={at}&fail=2")).await?;
    eventually(Duration::from_secs(5), || async {
        Ok((stored(&c, &s, "c", "alarms_seen").await? == json!(1)).then_some(()))
    })
    .await?;
    assert_eq!(
        stored(&c, &s, "c", "last_alarm").await?,
        json!({"scheduled_time": at, "retry_count": 2, "is_retry": true})
    );
    assert_eq!(get(&c, &s, "c/alarm").await?, json!({"alarm": null}));
    let log = s.log();
    assert_eq!(log.matches("alarm failed; will retry").count(), 2, "{log}");
    assert!(log.contains("deliberate alarm failure at retry 1"), "{log}");
    Ok(())
}

/// The next data frame (skipping pings), within 5 s.
async fn next_frame(ws: &mut Ws) -> Result<Message> {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("WebSocket ended"))??;
        if !matches!(msg, Message::Ping(_) | Message::Pong(_)) {
            return Ok(msg);
        }
    }
}

#[tokio::test]
async fn python_websockets_echo_broadcast_keep_attachments_and_record_closes() -> Result<()> {
    let s = start()?;
    let c = client();
    let mut ann = ws_connect(&s, "/py/room/ws?name=ann&tags=room,red").await?;
    let mut bob = ws_connect(&s, "/py/room/ws?name=bob&tags=room").await?;
    let mut cy = ws_connect(&s, "/py/room/ws?name=cy&tags=lobby").await?;
    let room = get(&c, &s, "room/sockets?tag=room").await?["sockets"].clone();
    let mut room: Vec<Value> = room.as_array().unwrap().clone();
    room.sort_by_key(|socket| socket["attachment"]["name"].to_string());
    assert_eq!(
        room,
        [
            json!({"tags": ["room", "red"], "attachment": {"name": "ann"}}),
            json!({"tags": ["room"], "attachment": {"name": "bob"}}),
        ]
    );
    assert_eq!(
        get(&c, &s, "room/sockets").await?["sockets"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    ws_send(&mut ann, r#"{"echo": "hi"}"#).await?;
    assert_eq!(
        ws_json(&mut ann).await?,
        json!({"echo": "hi", "name": "ann", "tags": ["room", "red"]})
    );
    ws_send(&mut bob, r#"{"broadcast": "hello room", "tag": "room"}"#).await?;
    for ws in [&mut ann, &mut bob] {
        assert_eq!(
            ws_json(ws).await?,
            json!({"from": "bob", "text": "hello room"})
        );
    }
    ann.send(Message::Binary(vec![1u8, 2, 3].into())).await?;
    assert_eq!(
        next_frame(&mut ann).await?,
        Message::Binary(vec![3u8, 2, 1].into())
    );

    // An attachment survives hibernation.
    ws_send(&mut ann, r#"{"attach": {"color": "red"}}"#).await?;
    let attached = json!({"name": "ann", "color": "red"});
    assert_eq!(ws_json(&mut ann).await?, json!({"attachment": attached}));
    let (_, evicted) = admin(&c, &s, Method::POST, "/objects/py/room/evict").await?;
    assert_eq!(evicted["evicted"], true);
    ws_send(&mut ann, r#"{"broadcast": "after hibernation"}"#).await?;
    for ws in [&mut ann, &mut bob, &mut cy] {
        assert_eq!(
            ws_json(ws).await?,
            json!({"from": "ann", "text": "after hibernation"})
        );
    }
    let red = get(&c, &s, "room/sockets?tag=red").await?;
    assert_eq!(red["sockets"][0]["attachment"], attached);

    // A raising handler sends nothing and keeps nothing: bob's next frame is the echo.
    ws_send(&mut bob, r#"{"send_then_raise": "never sent"}"#).await?;
    ws_send(&mut bob, r#"{"echo": "after the failure"}"#).await?;
    assert_eq!(ws_json(&mut bob).await?["echo"], "after the failure");
    assert_eq!(stored(&c, &s, "room", "lost").await?, Value::Null);
    // Every message but the failed one was counted.
    assert_eq!(stored(&c, &s, "room", "messages").await?, json!(6));

    // The object closes cy's socket with its code and reason.
    ws_send(&mut cy, r#"{"close": 4001, "reason": "go away"}"#).await?;
    match next_frame(&mut cy).await? {
        Message::Close(Some(frame)) => {
            assert_eq!(
                (u16::from(frame.code), frame.reason.as_str()),
                (4001, "go away")
            );
        }
        other => bail!("expected a close frame, got {other:?}"),
    }

    // A client's close reaches `websocket_close`, which records it.
    bob.close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
        code: 4000.into(),
        reason: "bye".into(),
    }))
    .await?;
    let closed = eventually(Duration::from_secs(5), || async {
        let value = stored(&c, &s, "room", "closed/bob").await?;
        Ok((!value.is_null()).then_some(value))
    })
    .await?;
    assert_eq!(
        closed,
        json!({"code": 4000, "reason": "bye", "was_clean": true,
               "attachment": {"name": "bob"}, "tags": ["room"]})
    );
    let room = get(&c, &s, "room/sockets?tag=room").await?;
    assert_eq!(
        room["sockets"],
        json!([{"tags": ["room", "red"], "attachment": attached}])
    );
    Ok(())
}

#[tokio::test]
async fn python_transactions_roll_back_only_the_block_that_raised() -> Result<()> {
    let s = start()?;
    let c = client();
    let (status, body) = ops(
        &c,
        &s,
        "t",
        json!([
            {"put": ["event", 1]},
            {"tx": [
                {"put": ["level1", 1]},
                {"catch": [{"tx": [
                    {"put": ["level2", 1]}, {"delete": "event"},
                    {"get": "level2"}, {"get": "event"},
                    {"raise": "inner failure"},
                ]}]},
                {"get": "level2"}, {"get": "event"},
                {"put": ["level1-after", 1]},
            ]},
            // An outer block that raises after its inner block committed loses both.
            {"catch": [{"tx": [
                {"put": ["outer-doomed", 1]},
                {"tx": [{"put": ["inner-committed", 1]}]},
                {"raise": "outer failure"},
            ]}]},
            {"get": "inner-committed"},
            {"catch": [{"tx": [{"delete_all": null}, {"raise": "undo delete_all"}]}]},
            {"get": "level1"},
        ]),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"],
        json!([
            1, null,
            {"caught": "inner failure", "kind": null},
            null, 1,
            {"caught": "outer failure", "kind": null},
            null,
            {"caught": "undo delete_all", "kind": null},
            1,
        ])
    );
    let kept = json!({"event": 1, "level1": 1, "level1-after": 1});
    assert_eq!(get(&c, &s, "t/all").await?["entries"], kept);

    // An alarm set in a block that raised is not set.
    let at = now_ms() + 3_600_000;
    let (_, body) = ops(
        &c,
        &s,
        "t",
        json!([{"catch": [{"tx": [{"alarm": at}, {"raise": "no alarm"}]}]}, {"get_alarm": null}]),
    )
    .await?;
    assert_eq!(body["results"][1], Value::Null, "{body}");
    assert_eq!(get(&c, &s, "t/alarm").await?, json!({"alarm": null}));

    // An exception escaping the event loses the committed block too: a 500 with its message.
    let script = json!([{"tx": [{"put": ["committed", 1]}]}, {"raise": "event failure"}]);
    let (status, body) = ops(&c, &s, "t", script).await?;
    assert_eq!((status, body), (500, json!({"error": "event failure"})));
    assert_eq!(get(&c, &s, "t/all").await?["entries"], kept);

    // 64 blocks nest; the 65th is refused, and the 64 open ones roll back as it unwinds.
    let (status, _) = ops(&c, &s, "deep", json!([{"nest": 64}])).await?;
    assert_eq!(status, 200);
    let entries = get(&c, &s, "deep/all").await?["entries"].clone();
    assert_eq!(entries.as_object().unwrap().len(), 64);
    assert_eq!(entries["depth64"], 64);
    let (_, body) = ops(&c, &s, "deeper", json!([{"catch": [{"nest": 65}]}])).await?;
    assert_eq!(
        body["results"],
        json!([{
            "caught": "invalid argument: transactions are nested more than 64 deep",
            "kind": "invalid-argument",
        }])
    );
    assert_eq!(get(&c, &s, "deeper/all").await?["entries"], json!({}));
    Ok(())
}

/// `self.storage` is the state's storage, and the namespaces of the host are listed.
#[tokio::test]
async fn python_objects_see_their_storage_and_the_namespaces() -> Result<()> {
    let s = start()?;
    let c = client();
    assert_eq!(
        get(&c, &s, "ada/whoami").await?,
        json!({"name": "ada", "namespaces": ["py"], "same_storage": true})
    );
    Ok(())
}

/// Point-in-time recovery from the Python SDK: a bookmark, later writes, a restore asked for
/// and the failed event that restarts the object; a snapshot forked into another object; a bad
/// bookmark raises StorageError with the host's message.
#[tokio::test]
async fn the_python_sdk_restores_an_object_to_a_bookmark_and_forks_a_snapshot() -> Result<()> {
    let s = start()?;
    let c = client();
    let run = |object: &'static str, script: Value| {
        let (c, s) = (&c, &s);
        async move {
            let (status, body) = ops(c, s, object, script).await?;
            anyhow::ensure!(status == 200, "{body}");
            Ok::<_, anyhow::Error>(body["results"].clone())
        }
    };
    run("o", json!([{"put": ["k", 1]}])).await?;
    let bookmark = run("o", json!([{"bookmark": null}])).await?[0].clone();
    run("o", json!([{"put": ["k", 2]}])).await?;
    let (status, _) = ops(
        &c,
        &s,
        "o",
        json!([{"restore_to": bookmark}, {"raise": "restart"}]),
    )
    .await?;
    assert_eq!(status, 500);
    assert_eq!(stored(&c, &s, "o", "k").await?, 1);

    let snapshot = run("o", json!([{"snapshot": null}])).await?[0].clone();
    let (status, _) = ops(
        &c,
        &s,
        "copy",
        json!([{"restore_snapshot": snapshot}, {"raise": "restart"}]),
    )
    .await?;
    assert_eq!(status, 500);
    assert_eq!(stored(&c, &s, "copy", "k").await?, 1);

    let got = run("o", json!([{"catch": [{"restore_to": "nope"}]}])).await?;
    assert_eq!(got[0]["kind"], "invalid-argument", "{got}");
    assert_eq!(
        got[0]["caught"],
        "`nope` is not a bookmark (a bookmark is three groups of hex digits, as getCurrentBookmark() returns)"
    );
    Ok(())
}

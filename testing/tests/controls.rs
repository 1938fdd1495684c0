//! The helpers against the real host: the counter example and the JavaScript test guest.

use std::path::PathBuf;

use holdfast_testing::{Error, TestHost};
use serde_json::json;

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// A config serving the counter example and the JavaScript probe, in a temp directory.
fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[[class]]\nbinding = \"counter\"\nclass = \"Counter\"\ncomponent = \"{}\"\n\n\
         [[class]]\nbinding = \"probe\"\nclass = \"Probe\"\nstorage = \"kv\"\ncomponent = \"{}\"\n",
        repo("target/wasm32-wasip2/release/counter.wasm").display(),
        repo("target/js-guests/probe.wasm").display(),
    );
    let path = dir.path().join("holdfast.toml");
    std::fs::write(&path, config).unwrap();
    (dir, path)
}

fn start(config: &PathBuf) -> TestHost {
    TestHost::builder(config)
        .bin(repo("target/release/holdfast"))
        .start()
        .unwrap()
}

#[tokio::test]
async fn storage_controls_read_and_write_what_the_object_sees() -> Result<(), Error> {
    let (_dir, config) = project();
    let host = start(&config);
    let alice = host.object("counter", "alice");
    let r = host.client().post(alice.url("/increment")).send().await?;
    assert_eq!(r.status(), 200);
    assert_eq!(alice.get("value").await?, Some(json!(1)));
    alice.put("value", json!(41)).await?;
    let v: serde_json::Value = host
        .client()
        .post(alice.url("/increment"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(v["value"], 42);
    assert_eq!(alice.list("").await?, vec![("value".into(), json!(42))]);

    let objects = host.objects("counter").await?;
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0].name.as_deref(), Some("alice"));
    // The same object by ID.
    let by_id = host.object_by_id("counter", &objects[0].id);
    assert_eq!(by_id.get("value").await?, Some(json!(42)));

    assert!(alice.evict().await?);
    assert!(alice.delete("value").await?);
    assert!(!alice.delete("value").await?);
    assert_eq!(alice.get("value").await?, None);
    Ok(())
}

#[tokio::test]
async fn alarms_run_on_demand_and_reset_clears_everything() -> Result<(), Error> {
    let (_dir, config) = project();
    let host = start(&config);
    let p = host.object("probe", "timer");
    assert!(!p.run_alarm().await?, "no alarm set yet");
    let at = 4_000_000_000_000;
    p.set_alarm(at).await?;
    assert_eq!(p.alarm().await?, Some(at));
    assert!(p.run_alarm().await?);
    let fired: serde_json::Value = host
        .client()
        .get(p.url("/alarm-get"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(fired["fired"][0]["scheduledTime"], at, "{fired}");
    assert_eq!(p.alarm().await?, None);

    host.client().get(p.url("/log?text=hi")).send().await?;
    let logs = p.logs().await?;
    assert!(
        logs.iter()
            .any(|l| l.text == "out: hi" && l.stream == "stdout")
    );

    host.object("counter", "bob").put("value", json!(7)).await?;
    host.reset().await?;
    // A name stays recorded; nothing else does.
    let left = host.objects("counter").await?;
    assert!(
        left.iter().all(|o| o.kv_keys == 0 && o.alarm.is_none()),
        "{left:?}"
    );
    assert_eq!(p.get("fired").await?, None);
    Ok(())
}

#[tokio::test]
async fn failures_say_what_went_wrong() {
    let (_dir, config) = project();
    let err = TestHost::builder(&config)
        .bin("/nonexistent/holdfast")
        .start()
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "cannot start `/nonexistent/holdfast` (set HOLDFAST_BIN to the holdfast binary): "
        ),
        "{err}"
    );
    let host = start(&config);
    let err = host
        .object("nope", "x")
        .put("k", json!(1))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "writing a key failed (404): no binding named `nope`"
    );
}

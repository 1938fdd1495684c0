//! Runs the class on the real host (`holdfast` on PATH, or HOLDFAST_BIN) with a fresh data
//! directory: `cargo test`.

use holdfast_testing::TestHost;
use serde_json::{Value, json};

#[tokio::test]
async fn a_counter_counts_durably() -> Result<(), holdfast_testing::Error> {
    let host = TestHost::builder(concat!(env!("CARGO_MANIFEST_DIR"), "/../holdfast.toml"))
        .build_classes(true)
        .start()?;
    let alice = host.object("counter", "alice");
    let r: Value = host
        .client()
        .post(alice.url("/increment"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(r, json!({"value": 1}));
    // The test controls read and write the object's storage, as events in its mailbox.
    assert_eq!(alice.get("value").await?, Some(json!(1)));
    alice.put("value", json!(41)).await?;
    let r: Value = host
        .client()
        .post(alice.url("/increment"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(r, json!({"value": 42}));
    Ok(())
}

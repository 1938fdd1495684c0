//! Every error a user can cause, and the message they get.

use anyhow::Result;
use holdfast_tests::{
    Server, call, class, client, default_config, guest, root, run_cli, run_expecting_failure,
};
use reqwest::Method;

#[tokio::test]
async fn http_errors_say_what_is_wrong() -> Result<()> {
    let s = Server::start(&format!(
        "[server]\nmax_body_bytes = 1000\n{}",
        default_config()
    ))?;
    let c = client();

    let (status, body) = call(&c, Method::GET, &s.url("/nope/alice")).await?;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "no route named `nope` (this host serves: counter, trap)"
    );

    for path in ["/", "/counter", "/_/nothing"] {
        let (status, body) = call(&c, Method::GET, &s.url(path)).await?;
        assert_eq!(status, 404, "{path}");
        assert!(
            body["error"].as_str().unwrap().starts_with("no route"),
            "{path}: {body}"
        );
    }

    let (status, body) = call(&c, Method::GET, &s.url("/_/id/counter/xyz")).await?;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "invalid object id `xyz`: expected 64 lowercase hex characters (0-9, a-f), got 3 characters"
    );
    // A well-formed ID of another namespace.
    let (_, who) = call(&c, Method::GET, &s.url("/trap/bob/whoami")).await?;
    let foreign = who["id"].as_str().unwrap();
    let (status, body) = call(&c, Method::GET, &s.url(&format!("/_/id/counter/{foreign}"))).await?;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        format!("object id `{foreign}` does not belong to namespace `counter`")
    );
    // The guest-side parse reports the same.
    let (status, body) = call(
        &c,
        Method::GET,
        &s.url(&format!("/trap/bob/id-from-string?ns=counter&id={foreign}")),
    )
    .await?;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        format!("object id `{foreign}` does not belong to namespace `counter`")
    );
    let (status, body) = call(
        &c,
        Method::GET,
        &s.url("/trap/bob/id-from-name?ns=nope&name=x"),
    )
    .await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("no namespace named `nope` on this host"))
    );

    let r = c
        .post(s.url("/counter/a/increment"))
        .body(vec![b'x'; 1001])
        .send()
        .await?;
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await?;
    assert_eq!(
        body["error"],
        "request body is over the limit of 1000 bytes"
    );
    assert_eq!(
        call(&c, Method::GET, &s.url("/counter/a")).await?.1["value"],
        0
    );

    let long = "n".repeat(1025);
    let (status, body) = call(&c, Method::GET, &s.url(&format!("/counter/{long}"))).await?;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "object name is 1025 bytes, over the limit of 1024"
    );
    Ok(())
}

#[test]
fn a_component_that_is_not_a_durable_object_is_refused_at_start() -> Result<()> {
    let wasm = guest("not_an_object");
    let (ok, err) = run_expecting_failure(&class("broken", "Broken", &wasm))?;
    assert!(!ok);
    assert!(
        err.contains("class `Broken` (binding `broken`)")
            && err.contains("does not implement the holdfast:object/durable-object world")
            && err.contains("holdfast:object/handler@0.1.0"),
        "{err}"
    );

    let dir = tempfile::tempdir()?;
    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm")?;
    let (ok, err) = run_expecting_failure(&class("g", "Garbage", &garbage))?;
    assert!(!ok);
    assert!(
        err.contains("class `Garbage` (binding `g`)")
            && err.contains("is not a valid WebAssembly component"),
        "{err}"
    );

    let (ok, err) =
        run_expecting_failure(&class("m", "Missing", &dir.path().join("missing.wasm")))?;
    assert!(!ok);
    assert!(
        err.contains("class `Missing` (binding `m`): cannot read component")
            && err.contains("missing.wasm"),
        "{err}"
    );
    Ok(())
}

#[test]
fn config_errors_name_the_file_and_the_field() -> Result<()> {
    let (ok, err) = run_cli(&["serve", "--config", "/nonexistent/holdfast.toml"])?;
    assert!(!ok);
    assert!(
        err.contains("config file `/nonexistent/holdfast.toml` not found"),
        "{err}"
    );

    let (ok, err) = run_expecting_failure("[[class]]\nbinding = \"x\"\nclass = \"X\"\n")?;
    assert!(!ok);
    assert!(
        err.contains("holdfast.toml")
            && err.contains(
                "class[0].component: missing: name the class's .wasm file, or a `source` to build it from"
            ),
        "{err}"
    );

    let (ok, err) = run_expecting_failure("[limits]\nmemory_mib = 0\n")?;
    assert!(!ok);
    assert!(
        err.contains("limits.memory_mib: must be greater than 0"),
        "{err}"
    );

    let (ok, err) = run_expecting_failure("[server]\nlisen = \"127.0.0.1:1\"\n")?;
    assert!(!ok);
    assert!(err.contains("unknown field `lisen`"), "{err}");

    let dup = format!(
        "{}{}",
        class("a", "A", &guest("counter")),
        class("a", "B", &guest("counter"))
    );
    let (ok, err) = run_expecting_failure(&dup)?;
    assert!(!ok);
    assert!(
        err.contains("class[1].binding: binding `a` is used by more than one class"),
        "{err}"
    );
    Ok(())
}

/// The repository's own holdfast.toml serves every example but those with a config of their own
/// (the Cloudflare-style project, the bank).
#[test]
fn root_config_names_every_example() -> Result<()> {
    let text = std::fs::read_to_string(root().join("holdfast.toml"))?;
    for entry in std::fs::read_dir(root().join("examples"))? {
        let name = entry?.file_name().into_string().unwrap();
        let dir = root().join("examples").join(&name);
        if dir.join("wrangler.toml").exists() || dir.join("holdfast.toml").exists() {
            continue;
        }
        assert!(
            text.contains(&format!("{}.wasm", name.replace('-', "_"))),
            "holdfast.toml does not serve examples/{name}"
        );
    }
    Ok(())
}

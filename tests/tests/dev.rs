//! `holdfast dev`: builds the classes, serves them, and on every saved edit rebuilds and updates
//! the running code; a broken edit shows the compiler's error and the last good code serves on.

use std::time::Duration;

use anyhow::Result;
use holdfast_tests::{Server, client, eventually, root, run_cli};
use serde_json::{Value, json};

async fn version(c: &reqwest::Client, s: &Server) -> Result<Value> {
    let r = c.get(s.url("/versioned/a/version")).send().await?;
    anyhow::ensure!(r.status() == 200, "{}", r.status());
    Ok(r.json().await?)
}

#[tokio::test]
async fn dev_rebuilds_an_edited_class_and_keeps_the_last_good_code_after_a_broken_edit()
-> Result<()> {
    let src = tempfile::tempdir()?;
    let module = src.path().join("versioned.js");
    let v1 = std::fs::read_to_string(root().join("tests/js-guests/versioned-v1.js"))?;
    let v2 = std::fs::read_to_string(root().join("tests/js-guests/versioned-v2.js"))?;
    std::fs::write(&module, &v1)?;
    let out = src.path().join("versioned.wasm");
    let config = format!(
        "[[class]]\nbinding = \"versioned\"\nclass = \"Versioned\"\ncomponent = \"{out}\"\nbuild = \"node {sdk} {module} -o {out}\"\nwatch = [\"{module}\"]\n",
        out = out.display(),
        sdk = root().join("guest-sdk/js/build.mjs").display(),
        module = module.display(),
    );
    let s = Server::start_dev(&config)?;
    assert!(
        s.log().contains("[dev] building versioned: node "),
        "{}",
        s.log()
    );
    let c = client();
    assert_eq!(version(&c, &s).await?["version"], 1);

    // A saved edit: the next requests see the new code.
    std::fs::write(&module, &v2)?;
    let v = eventually(Duration::from_secs(120), || async {
        let v = version(&c, &s).await?;
        Ok((v["version"] == 2).then_some(v))
    })
    .await?;
    assert_eq!(v, json!({"version": 2, "count": 1}));
    let log = s.log();
    assert!(log.contains("[dev] built versioned in "), "{log}");
    assert!(log.contains("[dev] serving the new code in "), "{log}");
    assert!(
        log.contains("(replaced: versioned; added: none; removed: none)"),
        "{log}"
    );

    // A broken edit: the build's error is shown as it gave it, the last good code serves on.
    std::fs::write(&module, "export class Versioned {\n  fetch( {\n}\n")?;
    eventually(Duration::from_secs(120), || async {
        Ok(s.log()
            .contains("[dev] the last good version keeps serving")
            .then_some(()))
    })
    .await?;
    let log = s.log();
    assert!(
        log.contains("[dev] the build of class `versioned` failed:"),
        "{log}"
    );
    assert!(
        log.contains("versioned.js"),
        "the compiler's message names the file: {log}"
    );
    assert_eq!(version(&c, &s).await?, json!({"version": 2, "count": 2}));
    Ok(())
}

#[tokio::test]
async fn holdfast_build_runs_a_build_command_or_the_default_build_of_the_sources_language()
-> Result<()> {
    let dir = tempfile::tempdir()?;
    let p = dir.path();
    std::fs::create_dir(p.join("src"))?;
    std::fs::copy(
        root().join("tests/js-guests/probe.js"),
        p.join("src/probe.js"),
    )?;
    let counter = holdfast_tests::guest("counter");
    // One class built by its own command; one from a JavaScript source by the SDK's build, into
    // the component it names.
    let config = format!(
        "[[class]]\nbinding = \"counter\"\nclass = \"Counter\"\ncomponent = \"{out}/counter.wasm\"\nbuild = \"mkdir -p {out} && cp {counter} {out}/counter.wasm\"\n\
         [[class]]\nbinding = \"probe\"\nclass = \"Probe\"\nsource = \"{p}/src/probe.js\"\ncomponent = \"{p}/out/probe.wasm\"\n",
        out = p.join("out").display(),
        counter = counter.display(),
        p = p.display(),
    );
    let path = p.join("holdfast.toml");
    std::fs::write(&path, &config)?;
    let (ok, log) = run_cli(&["build", "--config", path.to_str().unwrap()])?;
    assert!(ok, "{log}");
    assert!(log.contains("[dev] building counter: mkdir -p "), "{log}");
    assert!(
        log.contains(&format!(
            "[dev] building probe: the JavaScript SDK's build of {}/src/probe.js",
            p.display()
        )),
        "{log}"
    );
    assert!(log.contains("[dev] built probe in "), "{log}");
    let s = Server::start(&config)?;
    let c = client();
    let r = c.post(s.url("/counter/a/increment")).send().await?;
    assert_eq!(r.status(), 200);
    let r: Value = c.get(s.url("/probe/a/whoami")).send().await?.json().await?;
    assert_eq!(r["constructions"], 1, "{r}");

    // A source that is not there, and one whose build fails: each named, with the tool's output.
    let missing = p.join("gone.toml");
    std::fs::write(
        &missing,
        "[[class]]\nbinding = \"gone\"\nclass = \"Gone\"\nsource = \"app.py\"\n",
    )?;
    let (ok, log) = run_cli(&["build", "--config", missing.to_str().unwrap()])?;
    assert!(!ok);
    assert!(
        log.contains(&format!(
            "error: cannot build class `gone`: its source `{}/app.py` does not exist",
            p.display()
        )),
        "{log}"
    );
    std::fs::write(
        p.join("src/broken.js"),
        "export class Broken {\n  fetch( {\n}\n",
    )?;
    let broken = p.join("broken.toml");
    std::fs::write(
        &broken,
        "[[class]]\nbinding = \"broken\"\nclass = \"Broken\"\nsource = \"src/broken.js\"\n",
    )?;
    let (ok, log) = run_cli(&["build", "--config", broken.to_str().unwrap()])?;
    assert!(!ok);
    assert!(
        log.contains("error: the build of class `broken` failed:") && log.contains("broken.js"),
        "{log}"
    );
    assert!(!p.join(".holdfast/build/broken.wasm").exists());
    Ok(())
}

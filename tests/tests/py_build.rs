//! The Python build step (guest-sdk/python/build.py): building the same app again gives the same
//! component bytes (so the host's compiled code for them is reused), and mistakes are named.

use std::path::Path;
use std::process::Command;

use anyhow::Result;
use holdfast_tests::root;

/// Builds the app in `app` into `out` with a build cache under `cache`; its success and stderr.
fn build(app: &Path, out: &Path, cache: &Path) -> Result<(bool, String)> {
    let run = Command::new("python3")
        .arg(root().join("guest-sdk/python/build.py"))
        .arg(app)
        .arg("-o")
        .arg(out)
        .env("XDG_CACHE_HOME", cache)
        .output()?;
    Ok((
        run.status.success(),
        String::from_utf8_lossy(&run.stderr).trim().to_owned(),
    ))
}

#[test]
fn the_same_inputs_built_again_give_the_same_bytes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let app = dir.path().join("app");
    std::fs::create_dir(&app)?;
    std::fs::copy(
        root().join("examples/py-counter/app.py"),
        app.join("app.py"),
    )?;
    let (out, cache) = (dir.path().join("out.wasm"), dir.path().join("cache"));
    let (ok, said) = build(&app, &out, &cache)?;
    assert!(ok && said.starts_with("built "), "{said}");
    let first = std::fs::read(&out)?;
    let (ok, said) = build(&app, &out, &cache)?;
    assert!(ok && said.ends_with("is up to date"), "{said}");
    // As after a fresh clone or a deleted target/: the output and its record are gone.
    std::fs::remove_file(&out)?;
    std::fs::remove_file(dir.path().join("out.wasm.inputs"))?;
    let (ok, said) = build(&app, &out, &cache)?;
    assert!(
        ok && said.contains("the build of these inputs from the build cache"),
        "{said}"
    );
    assert!(
        std::fs::read(&out)? == first,
        "the second build gave other bytes"
    );
    // A changed app is built anew.
    std::fs::write(
        app.join("app.py"),
        std::fs::read_to_string(app.join("app.py"))? + "\n# changed\n",
    )?;
    let (ok, said) = build(&app, &out, &cache)?;
    assert!(ok && said.starts_with("built "), "{said}");
    Ok(())
}

#[test]
fn mistakes_are_named() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out.wasm");
    let (ok, said) = build(dir.path(), &out, &dir.path().join("cache"))?;
    assert!(!ok);
    assert_eq!(
        said,
        format!("error: no module app.py in {}", dir.path().display())
    );
    // A module componentize-py refuses: its message, and no output left behind.
    std::fs::write(dir.path().join("app.py"), "def broken(:\n")?;
    let (ok, said) = build(dir.path(), &out, &dir.path().join("cache"))?;
    assert!(!ok);
    assert!(said.contains("SyntaxError"), "{said}");
    assert!(
        said.ends_with("error: componentize-py failed (exit status 1)"),
        "{said}"
    );
    assert!(!out.exists());
    Ok(())
}

//! `holdfast new`: every template builds, serves and passes its own test, run as its user would
//! run it (`cargo test`, `npm test`, `python3 -m unittest`) against the real binary.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use holdfast_tests::{holdfast_bin, root};

/// Runs `holdfast new NAME --lang LANG` in `dir`.
fn new(dir: &Path, name: &str, lang: &str) -> Result<std::process::Output> {
    Ok(Command::new(holdfast_bin())
        .args(["new", name, "--lang", lang])
        .current_dir(dir)
        .output()?)
}

/// Runs `program args` in `dir` with HOLDFAST_BIN set, failing with its output if it fails.
fn run(dir: &Path, program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("HOLDFAST_BIN", holdfast_bin())
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .with_context(|| format!("running {program}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(out.status.success(), "{program} {args:?} failed:\n{text}");
    Ok(text)
}

fn made(lang: &str) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
    let tmp = tempfile::tempdir()?;
    let name = format!("my-{lang}-app");
    let out = new(tmp.path(), &name, lang)?;
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("holdfast dev"), "{stdout}");
    let dir = tmp.path().join(name);
    Ok((tmp, dir))
}

#[test]
fn the_rust_template_passes_its_test() -> Result<()> {
    let (_tmp, dir) = made("rust")?;
    // The project builds into its own target/ (cargo's, of its workspace). That
    // directory is kept between runs of this test, so the dependencies compile once.
    let kept = root().join("target/new-rust-target");
    if kept.is_dir() {
        std::fs::rename(&kept, dir.join("target"))?;
    }
    let result = run(&dir, "cargo", &["test"]);
    if dir.join("target").is_dir() {
        let _ = std::fs::remove_dir_all(&kept);
        std::fs::rename(dir.join("target"), &kept)?;
    }
    let out = result?;
    assert!(
        out.contains("test a_counter_counts_durably ... ok"),
        "{out}"
    );
    Ok(())
}

/// Makes a JavaScript or TypeScript project, links the SDK and runs its test; its directory.
fn npm_template_passes(lang: &str) -> Result<(tempfile::TempDir, std::path::PathBuf)> {
    let (tmp, dir) = made(lang)?;
    run(
        &dir,
        "npm",
        &["install", "--offline", "--no-audit", "--no-fund"],
    )?;
    let out = run(&dir, "npm", &["test"])?;
    assert!(out.contains("# pass 1"), "{out}");
    Ok((tmp, dir))
}

#[test]
fn the_javascript_template_passes_its_test() -> Result<()> {
    npm_template_passes("js").map(drop)
}

#[test]
fn the_typescript_template_passes_its_test() -> Result<()> {
    let (_tmp, dir) = npm_template_passes("ts")?;
    assert!(dir.join("src/index.ts").is_file());
    Ok(())
}

#[test]
fn the_python_template_passes_its_test() -> Result<()> {
    let (_tmp, dir) = made("python")?;
    let out = run(&dir, "python3", &["-m", "unittest", "-v"])?;
    assert!(out.contains("test_a_counter_counts_durably"), "{out}");
    assert!(out.contains("OK"), "{out}");
    Ok(())
}

#[test]
fn a_bad_name_or_a_taken_directory_is_refused_and_nothing_is_written() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let out = new(tmp.path(), "My_App", "js")?;
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: project name `My_App` must start with a lowercase letter and hold only lowercase letters, digits and `-` (at most 64): it names the directory, the package and the component"
    );
    std::fs::create_dir(tmp.path().join("taken"))?;
    std::fs::write(tmp.path().join("taken/keep.txt"), "mine")?;
    let out = new(tmp.path(), "taken", "rust")?;
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "error: `{}` already exists: choose another name or remove it",
            tmp.path().join("taken").display()
        )
    );
    assert_eq!(std::fs::read_dir(tmp.path().join("taken"))?.count(), 1);
    let out = new(tmp.path(), "fine", "cobol")?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid value 'cobol' for '--lang <LANG>'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(tmp.path())?.count(), 1, "only `taken`");
    Ok(())
}

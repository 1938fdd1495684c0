//! Building classes (`holdfast build`, and `holdfast dev` before it serves and on every save):
//! a class's own `build` command, or the default build of its `source`'s language:
//!
//! - Rust: `cargo build --release --target wasm32-wasip2` of the crate, its `.wasm` (the
//!   cdylib cargo reports) copied to the component path;
//! - JavaScript and TypeScript: the JavaScript SDK's build (esbuild, componentize-js);
//! - Python: the Python SDK's build (componentize-py).
//!
//! A failed build's error is the tool's output as it gave it. Progress goes to stderr as
//! `[dev] ...` lines, with the seconds each build took.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use crate::config::{BuildStep, ClassConfig, Config, Lang};

/// Why a class could not be built (the component file is as it was).
#[derive(Debug, thiserror::Error)]
pub enum ClassBuildError {
    #[error("the build of class `{class}` failed:\n{output}")]
    Failed { class: String, output: String },
    #[error("cannot run the build of class `{class}` (`{command}`): {source}")]
    Spawn {
        class: String,
        command: String,
        source: std::io::Error,
    },
    #[error("cannot build class `{class}`: its source `{source_path}` does not exist")]
    NoSource { class: String, source_path: PathBuf },
    #[error(
        "cannot build class `{class}`: the {sdk} SDK's build was not found (looked in {looked}); set HOLDFAST_HOME to the Holdfast checkout"
    )]
    NoSdk {
        class: String,
        sdk: &'static str,
        looked: String,
    },
    #[error(
        "cannot build class `{class}`: cargo built no .wasm for `{manifest}` (a class crate has `crate-type = [\"cdylib\"]`)"
    )]
    NoArtifact { class: String, manifest: PathBuf },
    #[error("cannot build class `{class}`: cannot write `{path}`: {source}")]
    Write {
        class: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Prints one progress line.
pub(super) fn say(line: &str) {
    eprintln!("[dev] {line}");
}

/// Runs every class's build, in config order; the first failure stops.
pub fn build_all(config: &Config) -> Result<(), ClassBuildError> {
    for c in &config.classes {
        build_class(c)?;
    }
    Ok(())
}

/// Runs one class's build, if it has one.
pub(super) fn build_class(class: &ClassConfig) -> Result<(), ClassBuildError> {
    let Some(build) = &class.build else {
        return Ok(());
    };
    let name = class.binding.as_str();
    say(&format!("building {name}: {}", build.step));
    let started = Instant::now();
    let dir = if build.dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        &build.dir
    };
    match &build.step {
        BuildStep::Command(command) => {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(command).current_dir(dir);
            run(name, command, cmd)?;
        }
        BuildStep::Default { lang, source } => {
            if !source.exists() {
                return Err(ClassBuildError::NoSource {
                    class: name.to_owned(),
                    source_path: source.clone(),
                });
            }
            if let Some(p) = class.component.parent() {
                std::fs::create_dir_all(p).map_err(|e| ClassBuildError::Write {
                    class: name.to_owned(),
                    path: p.to_owned(),
                    source: e,
                })?;
            }
            match lang {
                Lang::Rust => build_crate(name, source, &class.component, dir)?,
                Lang::Js | Lang::Ts => {
                    let sdk = super::sdks::js_sdk(dir)
                        .map_err(|looked| no_sdk(name, "JavaScript", looked))?;
                    let mut cmd = Command::new("node");
                    cmd.arg(sdk.join("build.mjs"))
                        .arg(source)
                        .arg("-o")
                        .arg(&class.component)
                        .current_dir(dir);
                    run(name, "node", cmd)?;
                }
                Lang::Python => {
                    let script = super::sdks::python_build()
                        .map_err(|looked| no_sdk(name, "Python", looked))?;
                    // The app is the source's directory; the module, the source's name.
                    let app = if source.is_dir() {
                        source.as_path()
                    } else {
                        source.parent().unwrap_or(dir)
                    };
                    let mut cmd = Command::new("python3");
                    cmd.arg(script).arg(app).arg("-o").arg(&class.component);
                    if source.is_file()
                        && let Some(stem) = source.file_stem()
                    {
                        cmd.arg("--module").arg(stem);
                    }
                    cmd.current_dir(dir);
                    run(name, "python3", cmd)?;
                }
            }
        }
    }
    say(&format!(
        "built {name} in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

fn no_sdk(class: &str, sdk: &'static str, looked: String) -> ClassBuildError {
    ClassBuildError::NoSdk {
        class: class.to_owned(),
        sdk,
        looked,
    }
}

/// Runs `cmd`; its stdout (unless it is `messages` for us) and stderr are the error if it fails.
fn run(class: &str, command: &str, mut cmd: Command) -> Result<Output, ClassBuildError> {
    run_with(class, command, &mut cmd, false)
}

fn run_with(
    class: &str,
    command: &str,
    cmd: &mut Command,
    messages: bool,
) -> Result<Output, ClassBuildError> {
    let out = cmd.output().map_err(|source| ClassBuildError::Spawn {
        class: class.to_owned(),
        command: command.to_owned(),
        source,
    })?;
    if !out.status.success() {
        let mut output = if messages {
            String::new()
        } else {
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        output.push_str(&String::from_utf8_lossy(&out.stderr));
        return Err(ClassBuildError::Failed {
            class: class.to_owned(),
            output: output.trim_end().to_owned(),
        });
    }
    Ok(out)
}

/// Builds the crate at `source` (its directory or Cargo.toml) and copies the `.wasm` cargo
/// reports for it to `out` (only when its bytes changed, so an unchanged build does not look
/// like a new version to the watcher).
fn build_crate(class: &str, source: &Path, out: &Path, dir: &Path) -> Result<(), ClassBuildError> {
    let manifest = if source.is_dir() {
        source.join("Cargo.toml")
    } else {
        source.to_owned()
    };
    // Cargo reports the manifest's canonical path (no `..`, links resolved).
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let mut cmd = Command::new("cargo");
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--message-format=json-render-diagnostics",
        "--manifest-path",
    ])
    .arg(&manifest)
    .current_dir(dir);
    // Cargo's messages (stdout) are JSON for us; its rendered diagnostics (stderr) are the user's.
    let output = run_with(class, "cargo", &mut cmd, true)?;
    let wasm = artifact(&String::from_utf8_lossy(&output.stdout), &manifest).ok_or_else(|| {
        ClassBuildError::NoArtifact {
            class: class.to_owned(),
            manifest: manifest.clone(),
        }
    })?;
    let bytes = std::fs::read(&wasm).map_err(|e| ClassBuildError::Write {
        class: class.to_owned(),
        path: wasm.clone(),
        source: e,
    })?;
    if std::fs::read(out).ok().as_deref() != Some(&bytes[..]) {
        let tmp = out.with_extension("wasm.tmp");
        std::fs::write(&tmp, &bytes)
            .and_then(|()| std::fs::rename(&tmp, out))
            .map_err(|e| ClassBuildError::Write {
                class: class.to_owned(),
                path: out.to_owned(),
                source: e,
            })?;
    }
    Ok(())
}

/// The `.wasm` of the crate `manifest` in cargo's JSON messages.
fn artifact(messages: &str, manifest: &Path) -> Option<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Message {
        reason: String,
        #[serde(default)]
        manifest_path: Option<PathBuf>,
        #[serde(default)]
        filenames: Vec<PathBuf>,
    }
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<Message>(l).ok())
        .filter(|m| m.reason == "compiler-artifact" && m.manifest_path.as_deref() == Some(manifest))
        .flat_map(|m| m.filenames)
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_artifact_is_the_crates_wasm() {
        let messages = [
            r#"{"reason":"compiler-artifact","manifest_path":"/p/dep/Cargo.toml","filenames":["/t/libdep.rlib"]}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/p/class/Cargo.toml","filenames":["/t/wasm32-wasip2/release/class.wasm"]}"#,
            r#"{"reason":"build-finished","success":true}"#,
            "not json",
        ]
        .join("\n");
        assert_eq!(
            artifact(&messages, Path::new("/p/class/Cargo.toml")),
            Some(PathBuf::from("/t/wasm32-wasip2/release/class.wasm"))
        );
        assert_eq!(artifact(&messages, Path::new("/p/dep/Cargo.toml")), None);
    }
}

//! Where the SDKs' builds are: the Holdfast checkout (`HOLDFAST_HOME`, else above the
//! executable, else where this binary was built) and the JavaScript SDK a project installed.
//! Each lookup's `Err` lists where it looked, for the user's message.

use std::path::{Path, PathBuf};

/// The Holdfast checkout whose SDKs new projects and default builds use.
pub(super) fn checkout() -> Result<PathBuf, String> {
    let is_checkout = |d: &Path| {
        d.join("guest-sdk/js/build.mjs").is_file() && d.join("testing/Cargo.toml").is_file()
    };
    let mut looked = Vec::new();
    if let Some(home) = std::env::var_os("HOLDFAST_HOME") {
        let home = PathBuf::from(home);
        if is_checkout(&home) {
            return Ok(home);
        }
        looked.push(format!("HOLDFAST_HOME={}", home.display()));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(d) = exe.ancestors().skip(1).find(|d| is_checkout(d)) {
            return Ok(d.to_owned());
        }
        looked.push(format!("above {}", exe.display()));
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if is_checkout(&built_in) {
        return Ok(built_in.canonicalize().unwrap_or(built_in));
    }
    looked.push(built_in.display().to_string());
    Err(looked.join(", "))
}

/// The JS SDK's directory: `HOLDFAST_JS_SDK`, the project's `node_modules/@holdfast/sdk` (or an
/// ancestor's), or the `guest-sdk/js` (with its packages installed) of a checkout above the
/// executable.
pub(super) fn js_sdk(project: &Path) -> Result<PathBuf, String> {
    let mut looked = Vec::new();
    let has_build = |d: &Path| d.join("build.mjs").is_file();
    if let Some(dir) = std::env::var_os("HOLDFAST_JS_SDK") {
        let dir = PathBuf::from(dir);
        if has_build(&dir) {
            return Ok(dir);
        }
        looked.push(format!("HOLDFAST_JS_SDK={}", dir.display()));
    }
    for dir in project.ancestors() {
        let d = dir.join("node_modules/@holdfast/sdk");
        if has_build(&d) {
            return Ok(d);
        }
    }
    looked.push(format!(
        "node_modules/@holdfast/sdk from {} up",
        project.display()
    ));
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let d = dir.join("guest-sdk/js");
            if has_build(&d) && d.join("node_modules").is_dir() {
                return Ok(d);
            }
        }
        looked.push(format!("guest-sdk/js above {}", exe.display()));
    }
    Err(looked.join(", "))
}

/// The Python SDK's build script (`guest-sdk/python/build.py` of the checkout).
pub(super) fn python_build() -> Result<PathBuf, String> {
    let home = checkout()?;
    Ok(home.join("guest-sdk/python/build.py"))
}

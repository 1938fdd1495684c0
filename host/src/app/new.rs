//! `holdfast new NAME --lang rust|js|ts|python`: a project that builds, serves and passes its own
//! test right away. The templates are `host/templates/<lang>/`, built into the binary.
//!
//! The SDKs are not published to a registry yet, so a new project refers to the Holdfast
//! checkout this binary was built from (found above the executable, or named by
//! `HOLDFAST_HOME`): its Rust SDK and test crate by path, its JavaScript SDK as a `file:`
//! dependency, its Python SDK's build and test helper by path.

use std::path::{Path, PathBuf};

pub use crate::config::Lang;

/// Why no project was made (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum NewError {
    #[error(
        "project name `{0}` must start with a lowercase letter and hold only lowercase letters, digits and `-` (at most 64): it names the directory, the package and the component"
    )]
    InvalidName(String),
    #[error("`{0}` already exists: choose another name or remove it")]
    Exists(String),
    #[error(
        "cannot find the Holdfast checkout whose SDKs a new project uses (looked in {0}): set HOLDFAST_HOME to it"
    )]
    NoCheckout(String),
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

type Files = &'static [(&'static str, &'static str)];

const RUST: Files = &[
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml"),
    ),
    (
        "holdfast.toml",
        include_str!("../../templates/rust/holdfast.toml"),
    ),
    (
        "class/Cargo.toml",
        include_str!("../../templates/rust/class/Cargo.toml"),
    ),
    (
        "class/src/lib.rs",
        include_str!("../../templates/rust/class/src/lib.rs"),
    ),
    (
        "tests/Cargo.toml",
        include_str!("../../templates/rust/tests/Cargo.toml"),
    ),
    (
        "tests/counter.rs",
        include_str!("../../templates/rust/tests/counter.rs"),
    ),
    (".gitignore", include_str!("../../templates/rust/gitignore")),
];
const JS: Files = &[
    (
        "wrangler.toml",
        include_str!("../../templates/js/wrangler.toml"),
    ),
    (
        "package.json",
        include_str!("../../templates/js/package.json"),
    ),
    (
        "src/index.js",
        include_str!("../../templates/js/src/index.js"),
    ),
    (
        "test/counter.test.mjs",
        include_str!("../../templates/js/test/counter.test.mjs"),
    ),
    (".gitignore", include_str!("../../templates/js/gitignore")),
];
/// The JavaScript project typed: its own module and `main`, the other files the same.
const TS: Files = &[
    (
        "wrangler.toml",
        include_str!("../../templates/ts/wrangler.toml"),
    ),
    (
        "package.json",
        include_str!("../../templates/js/package.json"),
    ),
    (
        "src/index.ts",
        include_str!("../../templates/ts/src/index.ts"),
    ),
    (
        "test/counter.test.mjs",
        include_str!("../../templates/js/test/counter.test.mjs"),
    ),
    (".gitignore", include_str!("../../templates/js/gitignore")),
];
const PYTHON: Files = &[
    (
        "holdfast.toml",
        include_str!("../../templates/python/holdfast.toml"),
    ),
    ("app.py", include_str!("../../templates/python/app.py")),
    (
        "test_app.py",
        include_str!("../../templates/python/test_app.py"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/python/gitignore"),
    ),
];

impl Lang {
    fn files(self) -> Files {
        match self {
            Lang::Rust => RUST,
            Lang::Js => JS,
            Lang::Ts => TS,
            Lang::Python => PYTHON,
        }
    }

    /// What to run next, printed after the project is made.
    pub fn next_steps(self, dir: &str) -> String {
        match self {
            Lang::Rust => format!(
                "cd {dir}\nholdfast dev        # build, serve on http://127.0.0.1:8787, rebuild on save\ncurl -X POST http://127.0.0.1:8787/counter/alice/increment\ncargo test          # the class on the real host (holdfast on PATH, or HOLDFAST_BIN)"
            ),
            Lang::Js | Lang::Ts => format!(
                "cd {dir}\nnpm install         # links the Holdfast JavaScript SDK\nholdfast dev        # serve on http://127.0.0.1:8787, rebuild on save\ncurl -X POST http://127.0.0.1:8787/counter/alice\nnpm test            # the project on the real host (holdfast on PATH, or HOLDFAST_BIN)"
            ),
            Lang::Python => format!(
                "cd {dir}\nholdfast dev        # build, serve on http://127.0.0.1:8787, rebuild on save\ncurl -X POST http://127.0.0.1:8787/counter/alice/increment\npython3 -m unittest # the class on the real host (holdfast on PATH, or HOLDFAST_BIN)"
            ),
        }
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name.len() <= 64
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Makes the project `name` in `parent`; returns its directory.
pub fn new_project(parent: &Path, name: &str, lang: Lang) -> Result<PathBuf, NewError> {
    if !valid_name(name) {
        return Err(NewError::InvalidName(name.to_owned()));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(NewError::Exists(dir.display().to_string()));
    }
    let home = super::sdks::checkout().map_err(NewError::NoCheckout)?;
    let fill = |text: &str| {
        text.replace("__NAME__", name)
            .replace("__CRATE__", &name.replace('-', "_"))
            .replace("__HOLDFAST__", &home.display().to_string())
    };
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        let err = |source| NewError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(err)?;
        }
        std::fs::write(&path, text).map_err(err)
    };
    for (rel, text) in lang.files() {
        write(rel, &fill(text))?;
    }
    // The versions the checkout is tested with (cargo drops what the project does not use).
    if lang == Lang::Rust
        && let Ok(lock) = std::fs::read_to_string(home.join("Cargo.lock"))
    {
        write("Cargo.lock", &lock)?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_anything_is_written() {
        let tmp = std::env::temp_dir().join("holdfast-new-names");
        for bad in ["", "Counter", "1st", "my_app", "a-", "a b", &"a".repeat(65)] {
            assert!(
                matches!(
                    new_project(&tmp, bad, Lang::Js),
                    Err(NewError::InvalidName(_))
                ),
                "{bad:?}"
            );
        }
        assert!(!tmp.exists());
        assert!(valid_name("my-counter-2"));
    }
}

//! How `holdfast dev` and `holdfast build` build a `[[class]]`: its own `build` command, or,
//! with only a `source`, the default build of the source's language.
//!
//! The language comes from the source (`lang` overrides it): a `.py` file is Python
//! (componentize-py through the SDK's build), a `.js`/`.mjs`/`.ts`/`.mts` module is JavaScript
//! or TypeScript (esbuild and componentize-js through the SDK's build), a `Cargo.toml` or a
//! directory holding one is a Rust crate (cargo, for wasm32-wasip2). What the defaults run is
//! the app layer's business; this module only decides which, and where the component goes.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A guest language: of a class's source (`lang`), and of a new project (`holdfast new --lang`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Rust,
    Js,
    Ts,
    Python,
}

impl Lang {
    /// The language of `source` (a path that may not exist yet, except for a crate directory).
    fn of(source: &Path) -> Option<Lang> {
        if source.file_name().is_some_and(|n| n == "Cargo.toml")
            || source.join("Cargo.toml").is_file()
        {
            return Some(Lang::Rust);
        }
        match source.extension()?.to_str()? {
            "py" => Some(Lang::Python),
            "js" | "mjs" => Some(Lang::Js),
            "ts" | "mts" => Some(Lang::Ts),
            _ => None,
        }
    }
}

/// A class's build for `holdfast dev` and `holdfast build`, and the sources that make it rerun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassBuild {
    pub step: BuildStep,
    /// The config file's directory: where a command runs.
    pub dir: PathBuf,
    /// Files or directories (absolute) whose changes rerun it; build outputs (`target/`,
    /// `node_modules/`, `.holdfast/`, `.git/`) under them do not count.
    pub watch: Vec<PathBuf>,
}

/// What a build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildStep {
    /// The class's `build`: run with `sh -c`; it writes the component itself.
    Command(String),
    /// The default build of `lang` from `source` (resolved), writing the class's component.
    Default { lang: Lang, source: PathBuf },
}

impl std::fmt::Display for BuildStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildStep::Command(c) => f.write_str(c),
            BuildStep::Default { lang, source } => {
                let how = match lang {
                    Lang::Rust => "cargo build --release --target wasm32-wasip2",
                    Lang::Js | Lang::Ts => "the JavaScript SDK's build",
                    Lang::Python => "the Python SDK's build (componentize-py)",
                };
                write!(f, "{how} of {}", source.display())
            }
        }
    }
}

/// A class's build-related keys as the config wrote them.
pub(super) struct RawBuild<'a> {
    pub binding: &'a str,
    pub component: Option<&'a Path>,
    pub build: Option<String>,
    pub source: Option<&'a Path>,
    pub lang: Option<Lang>,
    pub watch: &'a [PathBuf],
}

/// The class's component path (resolved) and its build, or `(field, message)`.
pub(super) fn resolve(
    raw: RawBuild<'_>,
    base_dir: &Path,
) -> Result<(PathBuf, Option<ClassBuild>), (&'static str, String)> {
    let source = raw.source.map(|s| base_dir.join(s));
    let step = match (raw.build, &source) {
        (Some(_), Some(_)) => {
            return Err((
                "source",
                "give `build` (a command) or `source` (built by its language's default), not both"
                    .into(),
            ));
        }
        (Some(command), None) => {
            if raw.lang.is_some() {
                return Err((
                    "lang",
                    "`lang` picks the default build of a `source`; with a `build` command it means nothing".into(),
                ));
            }
            Some(BuildStep::Command(command))
        }
        (None, Some(source)) => {
            let lang = match raw.lang.or_else(|| Lang::of(source)) {
                Some(lang) => lang,
                None => {
                    return Err((
                        "source",
                        format!(
                            "cannot tell the language of `{}`: a source is a .py file, a .js, .mjs, .ts or .mts module, or a Rust crate (its Cargo.toml or directory); or set `lang`",
                            source.display()
                        ),
                    ));
                }
            };
            Some(BuildStep::Default {
                lang,
                source: source.clone(),
            })
        }
        (None, None) => {
            if raw.lang.is_some() {
                return Err(("lang", "`lang` needs a `source` to build".into()));
            }
            None
        }
    };
    let component = match (raw.component, &step) {
        (Some(c), _) => base_dir.join(c),
        (None, Some(BuildStep::Default { .. })) => {
            base_dir.join(format!(".holdfast/build/{}.wasm", raw.binding))
        }
        (None, _) => {
            return Err((
                "component",
                "missing: name the class's .wasm file, or a `source` to build it from".into(),
            ));
        }
    };
    let build = step.map(|step| {
        let watch = if !raw.watch.is_empty() {
            raw.watch.iter().map(|w| base_dir.join(w)).collect()
        } else if let BuildStep::Default { source, .. } = &step {
            // A crate's directory, or the directory of the module or app (what it imports).
            let dir = if source.is_dir() {
                source.clone()
            } else {
                source.parent().unwrap_or(base_dir).to_path_buf()
            };
            vec![dir]
        } else {
            vec![base_dir.to_path_buf()]
        };
        ClassBuild {
            step,
            dir: base_dir.to_path_buf(),
            watch,
        }
    });
    Ok((component, build))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(source: Option<&'a Path>, build: Option<&str>) -> RawBuild<'a> {
        RawBuild {
            binding: "counter",
            component: None,
            build: build.map(str::to_owned),
            source,
            lang: None,
            watch: &[],
        }
    }

    #[test]
    fn the_language_comes_from_the_source() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("class")).unwrap();
        std::fs::write(dir.path().join("class/Cargo.toml"), "").unwrap();
        for (source, lang) in [
            ("app.py", Lang::Python),
            ("src/index.js", Lang::Js),
            ("src/index.mjs", Lang::Js),
            ("src/index.ts", Lang::Ts),
            ("class", Lang::Rust),
            ("class/Cargo.toml", Lang::Rust),
        ] {
            let (component, build) =
                resolve(raw(Some(Path::new(source)), None), dir.path()).unwrap();
            assert_eq!(component, dir.path().join(".holdfast/build/counter.wasm"));
            let build = build.unwrap();
            assert_eq!(
                build.step,
                BuildStep::Default {
                    lang,
                    source: dir.path().join(source)
                },
                "{source}"
            );
            let watched = if source == "class" {
                dir.path().join("class")
            } else {
                dir.path().join(source).parent().unwrap().to_owned()
            };
            assert_eq!(build.watch, vec![watched], "{source}");
        }
    }

    #[test]
    fn unclear_or_contradictory_builds_are_refused_with_the_field() {
        let dir = Path::new("/p");
        let err = |r| resolve(r, dir).unwrap_err();
        let (field, message) = err(raw(Some(Path::new("app.rb")), None));
        assert_eq!(field, "source");
        assert_eq!(
            message,
            "cannot tell the language of `/p/app.rb`: a source is a .py file, a .js, .mjs, .ts or .mts module, or a Rust crate (its Cargo.toml or directory); or set `lang`"
        );
        let (field, _) = err(raw(Some(Path::new("app.py")), Some("make")));
        assert_eq!(field, "source");
        let (field, message) = err(raw(None, None));
        assert_eq!(field, "component");
        assert_eq!(
            message,
            "missing: name the class's .wasm file, or a `source` to build it from"
        );
        let mut r = raw(None, Some("make"));
        r.lang = Some(Lang::Rust);
        assert_eq!(err(r).0, "lang");
        // `lang` overrides what the extension says.
        let mut r = raw(Some(Path::new("app.txt")), None);
        r.lang = Some(Lang::Python);
        let (_, build) = resolve(r, dir).unwrap();
        assert!(matches!(
            build.unwrap().step,
            BuildStep::Default {
                lang: Lang::Python,
                ..
            }
        ));
    }
}

//! A Cloudflare project as it is: `wrangler.toml`, `wrangler.jsonc` or `wrangler.json`.
//!
//! What Holdfast reads: `main` (the Worker's module, bundled and compiled at start-up), every
//! `[[durable_objects.bindings]]` (`name`, `class_name`), `[vars]` and `[[migrations]]`. Every
//! other setting is named in a warning (never silently ignored); a setting that cannot work
//! here (a binding to another script's class) is an error.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::ConfigError;
use super::migrations::{self, Migration};

/// What a wrangler project configures, checked.
#[derive(Debug)]
pub(super) struct Project {
    /// The Worker's entry module, absolute.
    pub main: PathBuf,
    /// `(binding, class_name)` of every Durable Object binding, in the file's order.
    pub bindings: Vec<(String, String)>,
    pub vars: Vec<(String, String)>,
    pub migrations: Vec<Migration>,
    pub warnings: Vec<String>,
}

/// Whether `path` names a wrangler project file (by its name, as wrangler finds it).
pub(super) fn is_wrangler_file(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|n| n.to_str()),
        Some(n) if n.starts_with("wrangler.") && (n.ends_with(".toml") || n.ends_with(".json") || n.ends_with(".jsonc"))
    )
}

/// Settings that only matter when deploying to Cloudflare; named in one warning together.
const DEPLOY_ONLY: &[&str] = &[
    "account_id",
    "workers_dev",
    "preview_urls",
    "route",
    "routes",
    "upload_source_maps",
    "minify",
    "keep_vars",
    "send_metrics",
    "logpush",
    "observability",
    "tail_consumers",
    "placement",
    "usage_model",
];

/// Reads and checks the project file at `path` (`text` is its content).
pub(super) fn read(path: &Path, text: &str) -> Result<Project, ConfigError> {
    let invalid = |field: &str, message: String| ConfigError::Invalid {
        path: path.to_owned(),
        field: field.to_owned(),
        message,
    };
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    let is_toml = path.extension().is_some_and(|e| e == "toml");
    let root: Value = if is_toml {
        toml::from_str(text)
            .map_err(|e| parse_error(e.to_string().trim_end().replace('\n', " ")))?
    } else {
        let opts = jsonc_parser::ParseOptions::default();
        match jsonc_parser::parse_to_serde_value::<Value>(text, &opts)
            .map_err(|e| parse_error(e.to_string()))?
        {
            Value::Null => Value::Object(Map::new()),
            v => v,
        }
    };
    let Value::Object(root) = root else {
        return Err(parse_error(
            "the top level must be a table (an object)".into(),
        ));
    };
    let mut warnings = Vec::new();
    let mut deploy_only = Vec::new();
    let mut main = None;
    let mut bindings = Vec::new();
    let mut vars = Vec::new();
    let mut migrations = Vec::new();
    for (key, value) in &root {
        match key.as_str() {
            "name" | "compatibility_date" | "$schema" => {}
            "main" => match value {
                Value::String(m) if !m.is_empty() => main = Some(m.clone()),
                _ => {
                    return Err(invalid(
                        "main",
                        "must be the path of the Worker's module".into(),
                    ));
                }
            },
            "durable_objects" => {
                bindings = durable_objects(value, &mut warnings).map_err(|(f, m)| invalid(&f, m))?
            }
            "vars" => vars = read_vars(value, &mut warnings).map_err(|(f, m)| invalid(&f, m))?,
            "migrations" => {
                migrations = migrations::parse(value, false, &mut warnings)
                    .map_err(|(f, m)| invalid(&f, m))?
            }
            "compatibility_flags" => {
                let flags: Vec<&str> = value
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if !flags.is_empty() {
                    warnings.push(format!(
                        "compatibility_flags ({}) have no effect on Holdfast",
                        flags.join(", ")
                    ));
                }
            }
            "env" => warnings.push(
                "env: wrangler environments are not supported; the top-level settings are used"
                    .into(),
            ),
            k if DEPLOY_ONLY.contains(&k) => deploy_only.push(k.to_owned()),
            other => warnings.push(format!("{other}: not supported by Holdfast; ignored")),
        }
    }
    if !deploy_only.is_empty() {
        warnings.push(format!(
            "{}: only used when deploying to Cloudflare; ignored",
            deploy_only.join(", ")
        ));
    }
    let Some(main) = main else {
        return Err(invalid(
            "main",
            "is missing: name the Worker's module (e.g. main = \"src/index.ts\"); Holdfast bundles it with its classes".into(),
        ));
    };
    let base = super::dir_of(path);
    let main_path = base.join(&main);
    if !main_path.is_file() {
        return Err(invalid(
            "main",
            format!("`{main}` not found (looked for {})", main_path.display()),
        ));
    }
    Ok(Project {
        main: std::path::absolute(&main_path).unwrap_or(main_path),
        bindings,
        vars,
        migrations,
        warnings,
    })
}

fn durable_objects(
    value: &Value,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, (String, String)> {
    let Some(table) = value.as_object() else {
        return Err((
            "durable_objects".into(),
            "must be a table with `bindings`".into(),
        ));
    };
    let mut out: Vec<(String, String)> = Vec::new();
    let mut classes = HashSet::new();
    for (key, v) in table {
        if key != "bindings" {
            warnings.push(format!(
                "durable_objects.{key}: not supported by Holdfast; ignored"
            ));
            continue;
        }
        let Some(items) = v.as_array() else {
            return Err((
                "durable_objects.bindings".into(),
                "must be an array of tables".into(),
            ));
        };
        for (i, b) in items.iter().enumerate() {
            let field = |n: &str| format!("durable_objects.bindings[{i}].{n}");
            let Some(b) = b.as_object() else {
                return Err((
                    format!("durable_objects.bindings[{i}]"),
                    "must be a table".into(),
                ));
            };
            let get = |k: &str| match b.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
                Some(_) => Err((field(k), "must be a non-empty string".into())),
                None => Err((field(k), "is missing".into())),
            };
            let (name, class) = (get("name")?, get("class_name")?);
            if !is_identifier(&name) {
                return Err((
                    field("name"),
                    format!(
                        "`{name}` is not a JavaScript identifier (it is what the code reads: env.{name})"
                    ),
                ));
            }
            for k in b.keys() {
                match k.as_str() {
                    "name" | "class_name" => {}
                    "script_name" => {
                        return Err((
                            field("script_name"),
                            "classes of another Worker script are not supported: put the class in this project".into(),
                        ));
                    }
                    other => warnings.push(format!(
                        "{}: not supported by Holdfast; ignored",
                        field(other)
                    )),
                }
            }
            if out.iter().any(|(n, _)| *n == name) {
                return Err((field("name"), format!("binding `{name}` is declared twice")));
            }
            if !classes.insert(class.clone()) {
                return Err((
                    field("class_name"),
                    format!("class `{class}` is bound twice: Holdfast takes one binding per class"),
                ));
            }
            out.push((name, class));
        }
    }
    Ok(out)
}

fn read_vars(
    value: &Value,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, (String, String)> {
    let Some(table) = value.as_object() else {
        return Err(("vars".into(), "must be a table".into()));
    };
    let mut out = Vec::with_capacity(table.len());
    for (k, v) in table {
        match v {
            Value::String(s) => out.push((k.clone(), s.clone())),
            other => {
                warnings.push(format!(
                    "vars.{k}: not a string; the code receives its JSON text `{other}` (Holdfast's vars are strings)"
                ));
                out.push((k.clone(), other.to_string()));
            }
        }
    }
    Ok(out)
}

/// A JavaScript identifier of ASCII letters, digits, `_` and `$`, not starting with a digit.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && s.len() <= 63
}

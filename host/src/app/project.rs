//! The start-up steps a project needs before its classes load: bundling and compiling a
//! JavaScript/TypeScript `main` (a wrangler project) with the JS SDK's build, and applying the
//! config's namespace migrations to the database.

use std::path::Path;
use std::process::Command;

use crate::config::Config;
use crate::store::{Db, MigrationError, StoreError};

/// Why a project's module could not be built into its component.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(
        "cannot build `{main}`: Node.js (`node`) was not found on PATH (it runs the SDK's build); install Node.js 20 or later"
    )]
    NoNode { main: String },
    #[error(
        "cannot build `{main}`: the Holdfast JavaScript SDK was not found (looked in {looked}); install it in the project (npm install <holdfast>/guest-sdk/js) or set HOLDFAST_JS_SDK to its directory"
    )]
    NoSdk { main: String, looked: String },
    #[error("building `{main}` failed:\n{output}")]
    Failed { main: String, output: String },
    #[error(
        "binding `{binding}` names class `{class}`, but `{main}` exports no `{class}` (it exports: {exports})"
    )]
    UnknownClass {
        binding: String,
        class: String,
        main: String,
        exports: String,
    },
    #[error(
        "`{main}` has no default export: a project's Worker is `export default {{ fetch(request, env, ctx) {{ ... }} }}` (or a Hono app)"
    )]
    NoWorker { main: String },
}

/// What the SDK's build reports of the module (`--manifest`).
#[derive(serde::Deserialize)]
struct Manifest {
    exports: Vec<String>,
    worker: bool,
}

/// Builds the config's module, if it has one, and checks that it exports every configured class
/// and a worker. Unchanged inputs reuse the last build (the SDK's build checks).
pub fn build(config: &Config) -> Result<(), BuildError> {
    let Some(build) = &config.build else {
        return Ok(());
    };
    let main = shown(&build.main, &build.project);
    let sdk = super::sdks::js_sdk(&build.project).map_err(|looked| BuildError::NoSdk {
        main: main.clone(),
        looked,
    })?;
    let manifest_path = build.out.with_extension("json");
    tracing::info!(module = %main, "building the project's module (esbuild, componentize-js)");
    let started = std::time::Instant::now();
    let output = Command::new("node")
        .arg(sdk.join("build.mjs"))
        .arg(&build.main)
        .arg("-o")
        .arg(&build.out)
        .arg("--manifest")
        .arg(&manifest_path)
        .current_dir(&build.project)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => BuildError::NoNode { main: main.clone() },
            _ => BuildError::Failed {
                main: main.clone(),
                output: e.to_string(),
            },
        })?;
    let text = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let text = text.trim().strip_prefix("error: ").unwrap_or(text.trim());
        return Err(BuildError::Failed {
            main,
            output: text.to_owned(),
        });
    }
    tracing::info!(module = %main, seconds = started.elapsed().as_secs_f64(), "{}", text.trim());
    let manifest: Manifest = std::fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| BuildError::Failed {
            main: main.clone(),
            output: format!("the build wrote no manifest at {}", manifest_path.display()),
        })?;
    for c in config.classes.iter().filter(|c| c.component == build.out) {
        if !manifest.exports.contains(&c.class) {
            return Err(BuildError::UnknownClass {
                binding: c.binding.clone(),
                class: c.class.clone(),
                main,
                exports: if manifest.exports.is_empty() {
                    "nothing but a default export".into()
                } else {
                    manifest.exports.join(", ")
                },
            });
        }
    }
    if !manifest.worker {
        return Err(BuildError::NoWorker { main });
    }
    Ok(())
}

/// `main` as the user wrote it: relative to the project when inside it.
fn shown(main: &Path, project: &Path) -> String {
    main.strip_prefix(project)
        .unwrap_or(main)
        .display()
        .to_string()
}

/// Why the database's namespaces could not be brought to the config's.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Migration(#[from] MigrationError),
    #[error("cannot move storage to namespaces keyed by class: {0}")]
    Upgrade(#[from] StoreError),
}

/// Brings the database to the config: storage keyed by namespace (once), then every migration
/// not applied yet, in order. Each is one transaction.
pub fn migrate(db: &Db, config: &Config) -> Result<(), MigrateError> {
    // Cluster mode starts keyed by namespace; its migrations are not built yet.
    if db.is_cluster() {
        return match config.migrations.first() {
            None => Ok(()),
            Some(m) => Err(MigrationError::Store {
                tag: m.tag.clone(),
                source: StoreError::NotInCluster {
                    what: "applying namespace migrations",
                },
            }
            .into()),
        };
    }
    let classes: Vec<(String, String)> = config
        .classes
        .iter()
        .map(|c| (c.binding.clone(), c.namespace.clone()))
        .collect();
    for (from, to, n) in db.key_by_namespace(&classes)? {
        tracing::info!(binding = %from, namespace = %to, objects = n, "storage moved from the binding's name to the class's namespace");
    }
    let applied = db.applied_migrations()?;
    for m in &config.migrations {
        if applied.contains(&m.tag) {
            continue;
        }
        let report = db.apply_migration(&m.tag, &m.renamed_classes, &m.deleted_classes)?;
        tracing::info!(
            tag = %m.tag,
            moved = report.moved,
            deleted = report.deleted,
            "migration applied"
        );
    }
    Ok(())
}

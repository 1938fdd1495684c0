//! The developer's loop (`--dev-only`): per language, a copy of an example class served by
//! `holdfast dev`; one edit of its source (its 404 answer becomes `edited`) is saved, and the
//! phase times from the save to the first response of the new code (rebuild, compile, update).
//! The Rust copy is its own crate with a target directory kept under target/dev-bench, built
//! once before `dev` starts, so the figure is an incremental rebuild as a developer meets it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use holdfast_tests::{Server, client, root};

use crate::fig;

/// One language's copy of an example: what to serve, how `dev` builds it, and the edit.
struct Project {
    lang: &'static str,
    binding: &'static str,
    class: &'static str,
    source: std::path::PathBuf,
    from: &'static str,
    to: &'static str,
    build: String,
    component: std::path::PathBuf,
    watch: std::path::PathBuf,
}

fn js(dir: &Path) -> Result<Project> {
    let source = dir.join("versioned.js");
    std::fs::copy(root().join("tests/js-guests/versioned-v1.js"), &source)?;
    let component = dir.join("versioned.wasm");
    Ok(Project {
        lang: "js",
        binding: "versioned",
        class: "Versioned",
        build: format!(
            "node {} {} -o {}",
            root().join("guest-sdk/js/build.mjs").display(),
            source.display(),
            component.display()
        ),
        watch: source.clone(),
        source,
        from: "'not found'",
        to: "'edited'",
        component,
    })
}

fn python(dir: &Path) -> Result<Project> {
    let app = dir.join("app");
    std::fs::create_dir_all(&app)?;
    let source = app.join("app.py");
    std::fs::copy(root().join("examples/py-counter/app.py"), &source)?;
    let component = dir.join("py_counter.wasm");
    Ok(Project {
        lang: "python",
        binding: "py-counter",
        class: "PyCounter",
        build: format!(
            "python3 {} {} -o {}",
            root().join("guest-sdk/python/build.py").display(),
            app.display(),
            component.display()
        ),
        watch: source.clone(),
        source,
        from: "return Response.not_found()",
        to: "return Response.error(404, \"edited\")",
        component,
    })
}

fn rust(dir: &Path) -> Result<Project> {
    let krate = dir.join("counter");
    std::fs::create_dir_all(krate.join("src"))?;
    let source = krate.join("src/lib.rs");
    std::fs::copy(root().join("examples/counter/src/lib.rs"), &source)?;
    std::fs::copy(root().join("Cargo.lock"), krate.join("Cargo.lock"))?;
    std::fs::write(
        krate.join("Cargo.toml"),
        format!(
            "[package]\nname = \"counter\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nholdfast-sdk = {{ path = \"{}\" }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\n[profile.release]\nopt-level = \"s\"\n\n[workspace]\n",
            root().join("guest-sdk").display()
        ),
    )?;
    let target = root().join("target/dev-bench");
    let build = format!(
        "cd {} && CARGO_TARGET_DIR={} cargo build --release --offline --target wasm32-wasip2",
        krate.display(),
        target.display()
    );
    // The first build of the copy (its dependencies) is not part of the figure.
    let out = Command::new("sh").arg("-c").arg(&build).output()?;
    anyhow::ensure!(
        out.status.success(),
        "building the Rust copy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(Project {
        lang: "rust",
        binding: "counter",
        class: "Counter",
        build,
        watch: krate.join("src"),
        source,
        from: "return Ok(Response::not_found())",
        to: "return Ok(Response::error(404, \"edited\"))",
        component: target.join("wasm32-wasip2/release/counter.wasm"),
    })
}

pub async fn run() -> Result<()> {
    for make in [rust as fn(&Path) -> Result<Project>, python, js] {
        let dir = tempfile::tempdir()?;
        let p = make(dir.path())?;
        let config = format!(
            "[[class]]\nbinding = \"{}\"\nclass = \"{}\"\ncomponent = \"{}\"\nbuild = \"{}\"\nwatch = [\"{}\"]\n",
            p.binding,
            p.class,
            p.component.display(),
            p.build.replace('"', "\\\""),
            p.watch.display()
        );
        let s = Server::start_dev(&config)?;
        let c = client();
        let url = s.url(&format!("/{}/a/nope", p.binding));
        let text = std::fs::read_to_string(&p.source)?;
        anyhow::ensure!(text.contains(p.from), "{}: nothing to edit", p.lang);
        let saved = Instant::now();
        std::fs::write(&p.source, text.replace(p.from, p.to))?;
        loop {
            let body = c.get(&url).send().await?.text().await?;
            if body.contains("edited") {
                break;
            }
            anyhow::ensure!(
                saved.elapsed() < Duration::from_secs(300),
                "{}: the edit was not served: {}",
                p.lang,
                s.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        fig(
            &format!("dev_edit_to_new_code_{}_s", p.lang),
            saved.elapsed().as_secs_f64(),
            "s",
        );
        drop(s);
    }
    Ok(())
}

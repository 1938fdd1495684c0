//! The JavaScript build step (guest-sdk/js/build.mjs): what a module's author is told when a
//! module cannot become a component. Each case runs the real build (node, esbuild,
//! componentize-js) on a module written to a temporary directory.

use std::process::Command;

use anyhow::Result;
use holdfast_tests::root;

/// Builds `source` (written as `module.js`) with `args`; returns whether it succeeded and its
/// stderr.
fn build(source: &str, args: &[&str]) -> Result<(bool, String)> {
    let dir = tempfile::tempdir()?;
    let module = dir.path().join("module.js");
    std::fs::write(&module, source)?;
    let out = Command::new("node")
        .arg(root().join("guest-sdk/js/build.mjs"))
        .arg(&module)
        .arg("-o")
        .arg(dir.path().join("out.wasm"))
        .args(args)
        // Its own build cache: these modules would only crowd out the user's builds.
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .output()?;
    let built = dir.path().join("out.wasm").exists();
    assert_eq!(
        out.status.success(),
        built,
        "exit status and output file disagree"
    );
    Ok((
        built,
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    ))
}

fn refused(source: &str, args: &[&str]) -> Result<String> {
    let (built, stderr) = build(source, args)?;
    assert!(!built, "expected the build to fail: {stderr}");
    Ok(stderr)
}

#[test]
fn the_exported_class_is_found_or_named() -> Result<()> {
    let two = "export class A { fetch() { return new Response('a'); } }\n\
               export class B { fetch() { return new Response('b'); } }\n";
    // Several classes build into one component: the host picks each by its config's `class`.
    assert!(build(two, &[])?.0);
    assert_eq!(
        refused(two, &["--class", "C"])?,
        "error: the module's top level threw: Error: the module exports no class named C"
    );
    assert!(build(two, &["--class", "B"])?.0);
    assert_eq!(
        refused("export const answer = 42;\n", &[])?,
        "error: the module's top level threw: Error: the module exports no Durable Object class \
         (a class with a fetch, alarm or webSocket* method) and no worker (a default export with \
         a fetch method)"
    );
    Ok(())
}

#[test]
fn top_level_mistakes_are_explained() -> Result<()> {
    assert_eq!(
        refused(
            "import { DurableObject } from 'cloudflare:workers';\n\
             export class A extends DurableObject { fetch() {} }\n\
             throw new RangeError('bad config');\n",
            &[]
        )?,
        "error: the module's top level threw: RangeError: bad config"
    );
    assert_eq!(
        refused(
            "import { get } from 'holdfast:object/storage@0.1.0';\n\
             get('x');\n\
             export class A { fetch() {} }\n",
            &[]
        )?,
        "error: the module's top level called get() from holdfast:object/storage@0.1.0 while the \
         component was being built: storage and the other host calls work only inside the class \
         (its constructor and handlers)"
    );
    Ok(())
}

#[test]
fn source_errors_name_the_file_and_place() -> Result<()> {
    let stderr = refused("export class A { fetch( {} }\n", &[])?;
    assert!(
        stderr.starts_with("error: ")
            && stderr.ends_with("module.js:1:27: Expected \")\" but found \"}\""),
        "{stderr}"
    );
    let stderr = refused(
        "import x from './nope.js';\nexport class A { fetch() {} }\n",
        &[],
    )?;
    assert!(
        stderr.ends_with("module.js:1:14: Could not resolve \"./nope.js\""),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn command_line_mistakes_print_the_usage() -> Result<()> {
    let script = root().join("guest-sdk/js/build.mjs");
    let run = |args: &[&str]| -> Result<String> {
        let out = Command::new("node").arg(&script).args(args).output()?;
        assert!(!out.status.success());
        Ok(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    };
    assert_eq!(
        run(&["module.js"])?,
        "error: usage: build.mjs <module.js|.ts> -o <out.wasm> [--class <ExportedClass>] [--manifest <out.json>]"
    );
    assert_eq!(
        run(&["no-such-module.js", "-o", "x.wasm"])?,
        "error: no such file: no-such-module.js"
    );
    Ok(())
}

#[test]
fn the_same_inputs_built_again_give_the_same_bytes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let module = dir.path().join("module.js");
    std::fs::write(
        &module,
        "export class A { fetch() { return new Response('a'); } }\n",
    )?;
    let out = dir.path().join("out.wasm");
    let build = || -> Result<(Vec<u8>, String)> {
        let run = Command::new("node")
            .arg(root().join("guest-sdk/js/build.mjs"))
            .arg(&module)
            .arg("-o")
            .arg(&out)
            .env("XDG_CACHE_HOME", dir.path().join("cache"))
            .output()?;
        assert!(run.status.success(), "{run:?}");
        Ok((
            std::fs::read(&out)?,
            String::from_utf8_lossy(&run.stderr).into_owned(),
        ))
    };
    let (first, said) = build()?;
    assert!(said.starts_with("built "), "{said}");
    // As after a fresh clone or a deleted target/: the output and its record are gone.
    std::fs::remove_file(&out)?;
    std::fs::remove_file(dir.path().join("out.wasm.inputs"))?;
    let (second, said) = build()?;
    assert!(
        said.contains("the build of these inputs from the build cache"),
        "{said}"
    );
    assert!(first == second, "the second build gave other bytes");
    Ok(())
}

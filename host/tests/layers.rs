//! The host's folders are its layers: each may import only from the layers below it, so there
//! is no import circle between them. This test reads the sources and fails on any `crate::x`
//! reference that goes sideways or up, and on a circle between the files of one folder.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A layer may use the ones before it.
const LAYERS: &[&str] = &[
    "config", "id", "store", "sockets", "logs", "runtime", "actor", "cluster", "alarms", "http",
    "app",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The crate paths a file names: `crate::a::b...` (from `use` lines and inline paths), with
/// comments left out.
fn crate_paths(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let mut parts = Vec::new();
            for seg in after.split("::") {
                let name: String = seg
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if name.is_empty() {
                    break;
                }
                let whole = name.len() == seg.len();
                parts.push(name);
                if !whole {
                    break;
                }
            }
            out.push(parts);
            rest = after;
        }
    }
    out
}

/// For `use crate::x::{...}` groups split over lines the first segment is enough for layers;
/// for files, `super::name` and `crate::layer::name` name a sibling file.
fn sibling_refs(text: &str, layer: &str, files: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in crate_paths(text) {
        if p.first().map(String::as_str) == Some(layer)
            && let Some(f) = p.get(1)
            && files.contains(f)
        {
            out.insert(f.clone());
        }
    }
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("super::") {
            let after = &rest[i + "super::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if files.contains(&name) {
                out.insert(name);
            }
            rest = after;
        }
    }
    out
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in g.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| s == m).expect("on stack");
                    let mut c = stack[at..].to_vec();
                    c.push(m.clone());
                    return Some(c);
                }
                0 => {
                    if let Some(c) = visit(m, g, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(n, graph, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn layers_import_only_from_below_and_files_have_no_circles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let rank = |l: &str| LAYERS.iter().position(|x| *x == l);
    let mut wrong = Vec::new();
    let mut per_layer: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let comps: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if comps.len() == 1 {
            // lib.rs and main.rs sit on top of everything.
            continue;
        }
        let layer = comps[0].clone();
        let r = rank(&layer).unwrap_or_else(|| panic!("folder `{layer}` is not in LAYERS"));
        let text = std::fs::read_to_string(f).expect("read");
        for p in crate_paths(&text) {
            let Some(target) = p.first() else { continue };
            if *target == layer {
                continue;
            }
            match rank(target) {
                Some(t) if t < r => {}
                _ => wrong.push(format!("{} uses crate::{}", rel.display(), p.join("::"))),
            }
        }
        if comps.len() == 2 && comps[1] != "mod.rs" {
            let name = comps[1].trim_end_matches(".rs").to_owned();
            per_layer.entry(layer).or_default().insert(name, text);
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that do not go down the layers ({}):\n{}",
        LAYERS.join(" < "),
        wrong.join("\n")
    );
    for (layer, files) in &per_layer {
        let names: BTreeSet<String> = files.keys().cloned().collect();
        let graph: BTreeMap<String, BTreeSet<String>> = files
            .iter()
            .map(|(n, text)| {
                let mut refs = sibling_refs(text, layer, &names);
                refs.remove(n);
                (n.clone(), refs)
            })
            .collect();
        if let Some(c) = find_cycle(&graph) {
            panic!(
                "import circle between files of {layer}/: {}",
                c.join(" -> ")
            );
        }
    }
}

#[test]
fn the_checker_finds_a_circle_and_an_upward_import() {
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".to_owned(), "b".to_owned(), "a".to_owned()])
    );
    let paths = crate_paths(
        "use crate::http::error; // crate::app::x\nlet x = crate::actor::Directory::new();",
    );
    assert_eq!(
        paths,
        vec![
            vec!["http".to_owned(), "error".to_owned()],
            vec!["actor".to_owned(), "Directory".to_owned(), "new".to_owned()]
        ]
    );
}

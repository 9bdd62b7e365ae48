//! The engine's layers depend one way (ARCHITECTURE.md). Checked from the source: every
//! `crate::engine::…` path in a file of `src/engine` must name a module of a lower layer (or of
//! its own layer), and the files must not import each other in a circle. A `pub use` in a
//! `mod.rs` re-exports its own children and is not a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level engine module: a module may depend on modules of a lower layer, and
/// within its own module. Modules of the same layer may not depend on each other.
const LAYERS: &[(&str, u32)] = &[
    ("error", 0),
    ("config", 0),
    ("log", 0),
    ("context", 1),
    ("ports", 1),
    ("timers", 2),
    ("transport", 2),
    ("http", 3),
    ("ws", 4),
    ("fanout", 5),
    ("sio", 6),
    ("server", 7),
];

fn layer(module: &str) -> u32 {
    LAYERS
        .iter()
        .find(|(m, _)| *m == module)
        .unwrap_or_else(|| {
            panic!("src/engine/{module} is not in the LAYERS table of tests/layers.rs")
        })
        .1
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/engine/http/service.rs` → ["http", "service"];
/// `src/engine/http/mod.rs` → ["http"].
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// Every `crate::engine::a::b…` path in the file's non-test code, as segment lists (`{`-groups
/// expanded only at their first level, which is all the engine uses), skipping `pub use` lines
/// of a mod.rs.
fn engine_paths(text: &str, is_mod: bool) -> Vec<Vec<String>> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = Vec::new();
    let mut in_reexport = false;
    for line in code.lines() {
        let t = line.trim_start();
        if is_mod && t.starts_with("pub use") {
            in_reexport = !t.ends_with(';');
            continue;
        }
        if in_reexport {
            in_reexport = !t.ends_with(';');
            continue;
        }
        if t.starts_with("//") {
            continue;
        }
        let mut rest = t;
        while let Some(i) = rest.find("crate::engine::") {
            rest = &rest[i + "crate::engine::".len()..];
            let path: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segs: Vec<String> = path
                .split("::")
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            if !segs.is_empty() {
                out.push(segs);
            }
        }
    }
    out
}

#[test]
fn engine_layers_depend_one_way_and_files_have_no_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&root, f)).collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for file in &files {
        let me = module_of(&root, file);
        if me.is_empty() {
            continue; // engine/mod.rs: declarations and re-exports
        }
        let text = std::fs::read_to_string(file).unwrap();
        let is_mod = file.ends_with("mod.rs");
        for path in engine_paths(&text, is_mod) {
            let top = &path[0];
            if !LAYERS.iter().any(|(m, _)| m == top) {
                wrong.push(format!(
                    "{} uses crate::engine::{}: name the module (the engine root's re-exports \
                     hide the dependency)",
                    me.join("::"),
                    path.join("::")
                ));
                continue;
            }
            if *top != me[0] && layer(top) >= layer(&me[0]) {
                wrong.push(format!(
                    "{} (layer {}) uses crate::engine::{} (layer {})",
                    me.join("::"),
                    layer(&me[0]),
                    path.join("::"),
                    layer(top)
                ));
            }
            // The longest prefix of the path that is a file of the engine.
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p));
            if let Some(t) = target {
                if t != me {
                    graph.entry(me.clone()).or_default().insert(t);
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies against the layers:\n{}",
        wrong.join("\n")
    );

    // No cycle among the files: depth-first search with colours.
    fn visit(
        n: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let from = stack.iter().position(|s| s == n).unwrap();
                return Some(stack[from..].iter().map(|s| s.join("::")).collect());
            }
            _ => {}
        }
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in graph.get(n).into_iter().flatten() {
            if let Some(cycle) = visit(m, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        let mut stack = Vec::new();
        if let Some(cycle) = visit(n, &graph, &mut state, &mut stack) {
            panic!("import cycle among engine files: {}", cycle.join(" -> "));
        }
    }
    // The check must see the engine's real structure (a parser that finds nothing passes all).
    assert!(
        graph.len() >= 20,
        "only {} files with engine imports found",
        graph.len()
    );
    assert!(graph
        .get(&vec!["http".to_string(), "service".to_string()])
        .is_some_and(|d| d.contains(&vec!["http".to_string(), "answers".to_string()])));
}

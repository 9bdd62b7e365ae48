//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) and the inputs of fixed findings
//! (`fuzz/regressions/<target>/`) through the fuzz harness itself (`fuzz/src/lib.rs`, compiled
//! here as a module), so that `cargo test` re-checks every one of them without nightly or
//! libFuzzer. `make fuzz` is what looks for new inputs.

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs `check` on every file; on a panic, names the file.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let corpus = inputs("corpus", target);
    assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ is empty");
    let mut n = 0;
    for file in corpus.iter().chain(&inputs("regressions", target)) {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target}: {} breaks a property", file.display());
        }
        n += 1;
    }
    n
}

#[test]
fn route_pattern_corpus_holds() {
    assert!(replay("route_pattern", harness::route_pattern) > 0);
}

#[test]
fn raw_response_corpus_holds() {
    assert!(replay("raw_response", harness::raw_response) > 0);
}

#[test]
fn http_request_corpus_holds() {
    assert!(replay("http_request", harness::http_request) > 0);
}

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

/// Finding (by reading the fast matcher, then timed; the 60 s fuzz runs did not reach paths this
/// long): the regex-free matcher backtracked over every split of the path between captures, so
/// `/{a}/{b}/{c}/x` against 1000 slashes took 10.6 s (400 slashes: 0.8 s; it grows with the
/// fourth power of the length). It now gives up
/// after a budget linear in the path and asks the regex. The harness checks the result is the
/// regex's.
#[test]
fn three_capture_pattern_against_many_slashes_is_fast() {
    let data = regression("route_pattern", "backtracking-3-captures-1000-slashes");
    let t = std::time::Instant::now();
    harness::route_pattern(&data);
    let took = t.elapsed();
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}

/// The same through the service: a 15 KB path (the head limit is 64 KiB) sent to a server with a
/// route `/a/{x}/b/{y}/end` held the loop for 12.7 s before answering 404 (release build).
#[test]
fn two_capture_route_with_a_15k_path_is_answered_at_once() {
    let data = regression("http_request", "backtracking-2-captures-15k-path");
    let t = std::time::Instant::now();
    let out = harness::serve_bytes(&data);
    let took = t.elapsed();
    assert!(
        out.starts_with(b"HTTP/1.1 404 "),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}

fn regression(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

//! Generates the C header from src/ffi with cbindgen:
//! - include/httpsock.h: the header for C and C++ (committed; CI fails if it is stale);
//! - include/httpsock_ffi.h: the same declarations without preprocessor lines, for PHP's
//!   FFI::cdef(), which rejects #include/#if/#define.
//!
//! Files are rewritten only when their text changes, so builds do not touch them needlessly.

use std::path::Path;

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// Drops preprocessor lines and the `extern "C" {` / `}` pair that only C++ sees, keeping the
/// declarations and their comments.
fn ffi_variant(header: &str) -> String {
    let mut out = String::from(
        "/* httpsock declarations for PHP FFI::cdef(): generated from httpsock.h without\n   preprocessor lines. Do not edit. */\n",
    );
    let mut skip_cpp = false;
    for line in header.lines() {
        let t = line.trim_start();
        if t.starts_with("#ifdef __cplusplus") {
            skip_cpp = true;
            continue;
        }
        if skip_cpp {
            if t.starts_with("#endif") {
                skip_cpp = false;
            }
            continue;
        }
        if t.starts_with('#') {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let root = Path::new(&dir);
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    // Only the FFI layer is the C surface; the engine's types never reach the header. cbindgen
    // follows the `mod` lines of src/ffi/mod.rs to the other files of the layer.
    let builder = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"));
    let bindings = builder
        .generate()
        .expect("cbindgen could not generate the header");
    let mut buf = Vec::new();
    bindings.write(&mut buf);
    let header = String::from_utf8(buf).expect("header is UTF-8");
    std::fs::create_dir_all(root.join("include")).unwrap();
    write_if_changed(&root.join("include/httpsock.h"), &header);
    write_if_changed(&root.join("include/httpsock_ffi.h"), &ffi_variant(&header));
}

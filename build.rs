//! Checks the C ABI layer and generates its header from src/ffi with cbindgen:
//! - every export (`extern "C" fn` in src/ffi) must be `#[no_mangle] pub` and its body exactly
//!   one `guard(...)` call, the panic boundary: the build fails naming any that is not;
//! - include/httpsock.h: the header for C and C++ (committed; CI fails if it is stale), with an
//!   index of the sections at the top and a banner before each section's functions, both made
//!   from the modules of src/ffi (the first line of a module's `//!` doc is its section title,
//!   the rest its introduction) so that they stay true when functions are added;
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

// ---------------------------------------------------------------------------------------------
// Reading src/ffi
// ---------------------------------------------------------------------------------------------

/// The source with comments and the contents of string and char literals blanked out (same
/// length, newlines kept), so that braces, parentheses and keywords can be found by scanning.
/// Literal delimiters stay, so `extern "C"` becomes `extern " "`: read the ABI from the source.
fn code_only(src: &str) -> Vec<u8> {
    let s = src.as_bytes();
    let mut out = s.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to.min(s.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'/' if s.get(i + 1) == Some(&b'/') => {
                let end = s[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(s.len(), |n| i + n);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (0usize, i);
                while j < s.len() {
                    if s[j..].starts_with(b"/*") {
                        depth += 1;
                        j += 2;
                    } else if s[j..].starts_with(b"*/") {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            // A raw string: r"..", r#".."#, br"..", cr"..".
            b'r' if raw_string_hashes(s, i).is_some() => {
                let hashes = raw_string_hashes(s, i).unwrap_or(0);
                let start = i + 1 + hashes + 1;
                let mut close = vec![b'"'];
                close.extend(std::iter::repeat_n(b'#', hashes));
                let end = s[start..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(s.len(), |n| start + n);
                blank(&mut out, start, end);
                i = end + close.len();
            }
            b'"' => {
                let mut j = i + 1;
                while j < s.len() && s[j] != b'"' {
                    j += if s[j] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i + 1, j);
                i = j + 1;
            }
            // A char literal ('x', '\n', '\''), not a lifetime ('a) or a label.
            b'\'' => {
                let len = if s.get(i + 1) == Some(&b'\\') {
                    // The escape's first character (maybe a quote) is skipped.
                    s.get(i + 3..)
                        .and_then(|rest| rest.iter().position(|&b| b == b'\''))
                        .map(|n| n + 2)
                } else {
                    let c = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (s.get(i + 1 + c) == Some(&b'\'')).then_some(c)
                };
                match len {
                    Some(n) => {
                        blank(&mut out, i + 1, i + 1 + n);
                        i += n + 2;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// When the `r` at `i` opens a raw string (`r"`, `r#"`, also after a `b` or `c` prefix, not
/// inside an identifier), how many `#` it has.
fn raw_string_hashes(s: &[u8], i: usize) -> Option<usize> {
    let prefix_ok = i == 0
        || !is_ident(s[i - 1])
        || matches!(s[i - 1], b'b' | b'c') && (i == 1 || !is_ident(s[i - 2]));
    let hashes = s[i + 1..].iter().take_while(|&&b| b == b'#').count();
    (prefix_ok && s.get(i + 1 + hashes) == Some(&b'"')).then_some(hashes)
}

/// The index of the bracket closing the one at `open` (`(`/`)` or `{`/`}`), in code-only text.
fn closing(code: &[u8], open: usize) -> Option<usize> {
    let (o, c) = (code[open], if code[open] == b'(' { b')' } else { b'}' });
    let mut depth = 0usize;
    for (i, &b) in code.iter().enumerate().skip(open) {
        if b == o {
            depth += 1;
        } else if b == c {
            depth -= 1;
            if depth == 0 {
                return Some(i);
            }
        }
    }
    None
}

fn skip_ws(code: &[u8], mut i: usize) -> usize {
    while i < code.len() && code[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn word_at(code: &[u8], i: usize) -> &str {
    let end = code[i..]
        .iter()
        .position(|&b| !is_ident(b))
        .map_or(code.len(), |n| i + n);
    std::str::from_utf8(&code[i..end]).unwrap_or("")
}

/// Where the word `w` occurs in code-only text as a whole word.
fn words<'a>(code: &'a [u8], w: &'a str) -> impl Iterator<Item = usize> + 'a {
    (0..code.len().saturating_sub(w.len() - 1)).filter(move |&i| {
        code[i..].starts_with(w.as_bytes())
            && (i == 0 || !is_ident(code[i - 1]))
            && code.get(i + w.len()).is_none_or(|&b| !is_ident(b))
    })
}

/// A C type a module declares, for the index: what kind of type it is, and its name.
struct CType {
    kind: &'static str,
    name: String,
}

/// One module of src/ffi: a section of the C API when it exports functions.
struct Module {
    file: String,
    title: String,
    intro: Vec<String>,
    types: Vec<CType>,
    functions: Vec<String>,
}

/// Reads a module: its doc (title and introduction), the C types it declares, and its exports,
/// each checked against the rules in the file's doc. Rule breaks are pushed to `errors`.
fn read_module(file: &str, src: &str, errors: &mut Vec<String>) -> Module {
    let doc: Vec<&str> = src
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| l.trim_start_matches("//!").strip_prefix(' ').unwrap_or(""))
        .collect();
    let title = doc.first().map_or("", |t| t.trim()).to_string();
    let intro: Vec<String> = doc
        .iter()
        .skip(1)
        .skip_while(|l| l.trim().is_empty())
        .map(|l| l.to_string())
        .collect();
    let code = code_only(src);
    let line_of = |i: usize| src[..i].lines().count().max(1);

    let mut types = Vec::new();
    for (kw, kind) in [("struct", "handle"), ("enum", "enum"), ("type", "callback")] {
        for i in words(&code, kw) {
            let before = std::str::from_utf8(&code[i.saturating_sub(4)..i]).unwrap_or("");
            let name = word_at(&code, skip_ws(&code, i + kw.len()));
            if before == "pub " && name.starts_with("hs_") {
                // A struct with fields (not `_opaque`) is a plain C struct, not a handle.
                let kind = if kind == "handle"
                    && !src[i..].split('}').next().unwrap_or("").contains("_opaque")
                {
                    "struct"
                } else {
                    kind
                };
                types.push((
                    i,
                    CType {
                        kind,
                        name: name.to_string(),
                    },
                ));
            }
        }
    }
    types.sort_by_key(|(i, _)| *i);

    let mut functions = Vec::new();
    for i in words(&code, "extern") {
        // `extern "ABI" fn name(` is a function item; `extern "ABI" fn(` a pointer type and
        // `extern "ABI" {` a block of foreign declarations.
        let q = skip_ws(&code, i + "extern".len());
        if code.get(q) != Some(&b'"') {
            continue;
        }
        let q_end = q + 1 + code[q + 1..].iter().position(|&b| b == b'"').unwrap_or(0);
        let abi = &src[q + 1..q_end];
        let f = skip_ws(&code, q_end + 1);
        if word_at(&code, f) != "fn" {
            continue;
        }
        let n = skip_ws(&code, f + 2);
        let name = word_at(&code, n).to_string();
        if name.is_empty() {
            continue;
        }
        let at = format!("src/ffi/{file}:{}: {name}", line_of(i));
        // The attributes and qualifiers since the previous item.
        let item_start = code[..i]
            .iter()
            .rposition(|&b| b == b'}' || b == b';')
            .map_or(0, |p| p + 1);
        let head = String::from_utf8_lossy(&code[item_start..i]);
        if !head.contains("#[no_mangle]") && !head.contains("#[unsafe(no_mangle)]") {
            errors.push(format!(
                "{at}: an `extern \"{abi}\" fn` without #[no_mangle]"
            ));
        }
        if !head.split_whitespace().any(|w| w == "pub") {
            errors.push(format!("{at}: an export must be `pub`"));
        }
        if abi != "C" {
            errors.push(format!("{at}: exports are `extern \"C\"` (here \"{abi}\")"));
        }
        // The body: after the parameters and the return type.
        let params = n + name.len();
        if code.get(params) != Some(&b'(') {
            errors.push(format!("{at}: an export has no generic parameters"));
            continue;
        }
        let body = closing(&code, params)
            .and_then(|p| code[p..].iter().position(|&b| b == b'{').map(|o| p + o))
            .and_then(|open| closing(&code, open).map(|close| (open, close)));
        let Some((open, close)) = body else {
            errors.push(format!("{at}: cannot find the function body"));
            continue;
        };
        let g = skip_ws(&code, open + 1);
        let guarded = word_at(&code, g) == "guard"
            && code.get(skip_ws(&code, g + 5)) == Some(&b'(')
            && closing(&code, skip_ws(&code, g + 5))
                .is_some_and(|end| skip_ws(&code, end + 1) == close);
        if !guarded {
            errors.push(format!(
                "{at}: the body must be exactly one `guard(|| ...)` call (the panic boundary)"
            ));
        }
        functions.push(name);
    }
    // Every #[no_mangle] item must be an `extern fn`, so that the checks above saw it.
    let code_text = String::from_utf8_lossy(&code);
    for pat in ["#[no_mangle]", "#[unsafe(no_mangle)]"] {
        for (p, _) in code_text.match_indices(pat) {
            let rest = &code_text[p + pat.len()..];
            let sig = &rest[..rest.find(['(', '=', ';', '{']).unwrap_or(rest.len())];
            let words: Vec<&str> = sig.split_whitespace().collect();
            if !(words.contains(&"extern") && words.contains(&"fn")) {
                errors.push(format!(
                    "src/ffi/{file}:{}: #[no_mangle] on `{}`: every export is a \
                     `#[no_mangle] pub extern \"C\" fn`",
                    line_of(p),
                    words.join(" ")
                ));
            }
        }
    }
    if code_text.contains("#[export_name") || code_text.contains("#[unsafe(export_name") {
        errors.push(format!(
            "src/ffi/{file}: use #[no_mangle], not #[export_name]"
        ));
    }
    Module {
        file: file.to_string(),
        title,
        intro,
        types: types.into_iter().map(|(_, t)| t).collect(),
        functions,
    }
}

/// The modules of src/ffi in the order of their `mod` lines in mod.rs, which is the order in
/// which cbindgen emits their functions.
fn read_modules(ffi: &Path, errors: &mut Vec<String>) -> Vec<Module> {
    let root = std::fs::read_to_string(ffi.join("mod.rs")).expect("src/ffi/mod.rs");
    let code = code_only(&root);
    let mut modules = Vec::new();
    for i in words(&code, "mod") {
        let at = skip_ws(&code, i + 3);
        let name = word_at(&code, at);
        let after = skip_ws(&code, at + name.len());
        if name.is_empty() || code.get(after) != Some(&b';') {
            continue;
        }
        let file = format!("{name}.rs");
        let src = std::fs::read_to_string(ffi.join(&file))
            .unwrap_or_else(|e| panic!("src/ffi/{file}: {e}"));
        modules.push(read_module(&file, &src, errors));
    }
    let mut root_errors = Vec::new();
    let root_module = read_module("mod.rs", &root, &mut root_errors);
    if !root_module.functions.is_empty() || !root_errors.is_empty() {
        errors.push("src/ffi/mod.rs: exports belong in a section module, not in mod.rs".into());
    }
    modules
}

// ---------------------------------------------------------------------------------------------
// The header as a manual
// ---------------------------------------------------------------------------------------------

const WIDTH: usize = 100;
const RULE: &str =
    "// ==============================================================================================";

/// The index placed in the header's opening comment: one entry per module that declares C
/// items, in header order: its functions, then its types by kind.
fn index(modules: &[Module]) -> String {
    let shown: Vec<&Module> = modules
        .iter()
        .filter(|m| !m.types.is_empty() || !m.functions.is_empty())
        .collect();
    let col = shown.iter().map(|m| m.title.len()).max().unwrap_or(0) + 4;
    let indent = format!(" *   {}", " ".repeat(col + 1));
    let mut out = String::from(
        " * INDEX: the sections in the order of this header. The types of every section come first\n \
         * (TYPES); then each section's functions, after a banner with its title and what they share.\n *\n",
    );
    for m in shown {
        let mut rows: Vec<String> = Vec::new();
        let mut row = String::new();
        let add = |rows: &mut Vec<String>, row: &mut String, word: String, fresh: bool| {
            if fresh || !row.is_empty() && indent.len() + row.len() + 1 + word.len() > WIDTH {
                if !row.is_empty() {
                    rows.push(std::mem::take(row));
                }
            } else if !row.is_empty() {
                row.push(' ');
            }
            row.push_str(&word);
        };
        let n = m.functions.len();
        for (i, f) in m.functions.iter().enumerate() {
            let word = if i + 1 < n {
                format!("{f},")
            } else {
                f.clone()
            };
            add(&mut rows, &mut row, word, false);
        }
        for kind in ["enum", "handle", "struct", "callback"] {
            let names: Vec<&str> = m
                .types
                .iter()
                .filter(|t| t.kind == kind)
                .map(|t| t.name.as_str())
                .collect();
            for (i, name) in names.iter().enumerate() {
                let mut word = if i == 0 {
                    let label = if names.len() > 1 {
                        format!("{kind}s")
                    } else {
                        kind.to_string()
                    };
                    format!("{label}: {name}")
                } else {
                    name.to_string()
                };
                if i + 1 < names.len() {
                    word.push(',');
                }
                add(&mut rows, &mut row, word, i == 0);
            }
        }
        rows.push(row);
        let dots = ".".repeat(col - m.title.len() - 1);
        for (i, r) in rows.iter().enumerate() {
            if i == 0 {
                out.push_str(&format!(" *   {} {dots} {r}\n", m.title));
            } else {
                out.push_str(&format!("{indent}{r}\n"));
            }
        }
    }
    out
}

fn banner(m: &Module) -> String {
    let mut out = format!("{RULE}\n// {}\n", m.title.to_uppercase());
    if m.intro.iter().any(|l| !l.trim().is_empty()) {
        out.push_str("//\n");
        for l in &m.intro {
            out.push_str(format!("// {l}").trim_end());
            out.push('\n');
        }
    }
    out.push_str(RULE);
    out.push_str("\n\n");
    out
}

/// The line declaring function `name`: the first line that starts with a type (not a comment,
/// not a continuation) and has `name(` as a whole word.
fn declaration_line(lines: &[&str], name: &str) -> Option<usize> {
    let pat = format!("{name}(");
    lines.iter().position(|l| {
        l.starts_with(|c: char| c.is_ascii_alphabetic())
            && l.match_indices(&pat).any(|(i, _)| {
                i == 0
                    || !l.as_bytes()[i - 1].is_ascii_alphanumeric() && l.as_bytes()[i - 1] != b'_'
            })
    })
}

/// Inserts a banner before the doc comment of each section's first function (and one before
/// the types), and checks that cbindgen emitted the functions in section order.
fn with_banners(header: &str, modules: &[Module]) -> String {
    let lines: Vec<&str> = header.lines().collect();
    let mut inserts: Vec<(usize, String)> = Vec::new();
    let mut last = 0;
    for m in modules {
        for (k, f) in m.functions.iter().enumerate() {
            let at = declaration_line(&lines, f)
                .unwrap_or_else(|| panic!("{f} (src/ffi/{}) is missing from the header", m.file));
            assert!(
                at > last,
                "the header declares {f} out of its section's order: cbindgen must keep source \
                 order ([fn] sort_by = \"None\" in cbindgen.toml) and src/ffi/mod.rs's order"
            );
            last = at;
            if k == 0 {
                let mut start = at;
                while start > 0 && lines[start - 1].trim_start().starts_with("//") {
                    start -= 1;
                }
                inserts.push((start, banner(m)));
            }
        }
    }
    // The types: before the first item after the opening comment and the includes.
    if let Some(first_type) = lines.iter().position(|l| l.starts_with("typedef")) {
        let mut start = first_type;
        while start > 0 && lines[start - 1].trim_start().starts_with("//") {
            start -= 1;
        }
        inserts.push((
            start,
            format!(
                "{RULE}\n// TYPES\n//\n// The status codes, handles, enums and callback types of every section \
                 (see the index).\n{RULE}\n\n"
            ),
        ));
    }
    inserts.sort_by_key(|(at, _)| *at);
    let mut out = String::with_capacity(header.len() + 16 * 1024);
    let mut next = inserts.iter().peekable();
    for (i, line) in lines.iter().enumerate() {
        while let Some((_, text)) = next.next_if(|(at, _)| *at == i) {
            out.push_str(text);
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

    let mut errors = Vec::new();
    let modules = read_modules(&root.join("src/ffi"), &mut errors);
    if !errors.is_empty() {
        // Warnings show in cargo's summary; stderr in the failed build script's output.
        eprintln!(
            "the C ABI layer breaks its rules ({} problems):",
            errors.len()
        );
        for e in &errors {
            println!("cargo:warning={e}");
            eprintln!("  {e}");
        }
        std::process::exit(1);
    }

    let mut config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let marker = " * @INDEX@\n";
    let opening = config.header.take().unwrap_or_default();
    assert!(
        opening.contains(marker),
        "cbindgen.toml's header lacks the line `{marker}`"
    );
    config.header = Some(opening.replace(marker, &index(&modules)));
    // Only the FFI layer is the C surface; the engine's types never reach the header. cbindgen
    // follows the `mod` lines of src/ffi/mod.rs to the other files of the layer, in order.
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header");
    let mut buf = Vec::new();
    bindings.write(&mut buf);
    let header = with_banners(&String::from_utf8(buf).expect("header is UTF-8"), &modules);
    std::fs::create_dir_all(root.join("include")).unwrap();
    write_if_changed(&root.join("include/httpsock.h"), &header);
    write_if_changed(&root.join("include/httpsock_ffi.h"), &ffi_variant(&header));
}

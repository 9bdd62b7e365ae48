//! `make fuzz` target; the checks are in `fuzz/src/lib.rs` (`http_request`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| httpsock_fuzz::http_request(data));

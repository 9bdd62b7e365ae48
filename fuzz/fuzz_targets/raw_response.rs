//! `make fuzz` target; the checks are in `fuzz/src/lib.rs` (`raw_response`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| httpsock_fuzz::raw_response(data));

//! `make fuzz` target; the checks are in `fuzz/src/lib.rs` (`route_pattern`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| httpsock_fuzz::route_pattern(data));

//! The chunked decoder on arbitrary bytes, read whole and a byte at a
//! time; the properties checked are listed on
//! `burrow_http::fuzzing::chunked`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    burrow_http::fuzzing::chunked(data);
});

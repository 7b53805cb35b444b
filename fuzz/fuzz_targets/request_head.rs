//! The request-head parser on arbitrary bytes; the properties checked are
//! listed on `burrow_http::fuzzing::request_head`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    burrow_http::fuzzing::request_head(data);
});

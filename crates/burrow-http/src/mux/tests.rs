//! Unit tests for the mux: pattern parsing, precedence, conflicts, 404,
//! 405 with `Allow`, redirects and path values (handlers run over an
//! in-memory connection by `testing::roundtrip`).

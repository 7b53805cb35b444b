//! Placeholder while the C API is written.

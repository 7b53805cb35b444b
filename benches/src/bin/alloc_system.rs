//! The allocator suite (`alloc_common`) with system as the global allocator.

#[path = "alloc_common/mod.rs"]
mod alloc_common;

// The system allocator (glibc malloc): no #[global_allocator].

fn main() {
    alloc_common::run("system");
}

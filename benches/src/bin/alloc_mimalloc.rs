//! The allocator suite (`alloc_common`) with mimalloc as the global allocator.

#[path = "alloc_common/mod.rs"]
mod alloc_common;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    alloc_common::run("mimalloc");
}

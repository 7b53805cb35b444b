//! The allocator suite (`alloc_common`) with burrow as the global allocator.

#[path = "alloc_common/mod.rs"]
mod alloc_common;

#[global_allocator]
static GLOBAL: burrow_alloc::BurrowAlloc = burrow_alloc::BurrowAlloc::new();

fn main() {
    alloc_common::run("burrow");
}

//! The allocator suite (`alloc_common`) with jemalloc as the global allocator.

#[path = "alloc_common/mod.rs"]
mod alloc_common;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    alloc_common::run("jemalloc");
}

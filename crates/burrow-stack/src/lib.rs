//! Goroutine stacks (work in progress).

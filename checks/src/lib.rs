//! Nothing to link against: coldmark's architecture checks are this crate's integration tests
//! (`tests/module_cycles.rs`, `tests/file_sizes.rs`), which parse every workspace crate's `src/`.

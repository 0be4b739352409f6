//! Nothing to link against: coldmark's architecture checks are this crate's integration tests
//! (`tests/module_cycles.rs`, `tests/file_sizes.rs`), which parse every workspace crate's `src/`,
//! and its doc checks (`tests/markdown_tables.rs`, `tests/bench_figures.rs`), which parse the
//! repository's Markdown: tables that render whole, benchmark figures that are the committed run's.

//! No source file of a workspace crate has more than 800 lines of non-test code, and the
//! counter behind it tells test code from the rest on synthetic crates.

mod checker;

use std::path::Path;

use checker::fixture::demo_crate;
use checker::sizes::{self, Report};

const LIMIT: usize = 800;

#[test]
fn workspace_has_no_oversize_source_files() {
    let root = checker::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("the workspace root above this crate");
    let report = sizes::check_workspace(&root, LIMIT).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{report}");
}

fn check(files: &[(&str, &str)]) -> Report {
    let dir = demo_crate(files);
    sizes::check_workspace(dir.path(), LIMIT).unwrap_or_else(|e| panic!("{e}"))
}

fn code(lines: usize) -> String {
    (0..lines)
        .map(|i| format!("pub const C{i}: u32 = {i};\n"))
        .collect()
}

fn test_module(lines: usize) -> String {
    format!("#[cfg(test)]\nmod tests {{\n{}}}\n", code(lines - 3))
}

#[test]
fn a_file_over_the_limit_is_reported() {
    let report = check(&[
        ("src/lib.rs", "mod big;\nmod edge;\n"),
        ("src/big.rs", &code(801)),
        ("src/edge.rs", &code(800)),
    ]);
    assert_eq!(report.oversize.len(), 1, "{report}");
    let text = report.to_string();
    assert!(
        text.contains("demo/src/big.rs: 801 lines of non-test code (801 lines in all)"),
        "{text}"
    );
}

#[test]
fn test_items_do_not_count() {
    let file = format!(
        "{}{}impl S {{\n    #[cfg(test)]\n    fn helper() {{\n{}    }}\n}}\n#[test]\nfn t() {{\n{}}}\n",
        code(700),
        test_module(300),
        code(100),
        code(100),
    );
    let report = check(&[("src/lib.rs", &file)]);
    assert!(report.is_clean(), "{report}");

    let file = format!("{}{}", code(801), test_module(300));
    let report = check(&[("src/lib.rs", &file)]);
    assert!(
        report
            .to_string()
            .contains("demo/src/lib.rs: 801 lines of non-test code (1101 lines in all)"),
        "{report}"
    );
}

#[test]
fn a_test_module_file_does_not_count() {
    let report = check(&[
        ("src/lib.rs", "mod a;\n"),
        ("src/a.rs", "#[cfg(test)]\nmod tests;\n"),
        ("src/a/tests.rs", &format!("mod helpers;\n{}", code(900))),
        ("src/a/tests/helpers.rs", &code(900)),
    ]);
    assert!(report.is_clean(), "{report}");

    let report = check(&[
        ("src/lib.rs", "mod a;\n"),
        ("src/a.rs", "mod tests;\n"),
        ("src/a/tests.rs", &code(900)),
    ]);
    assert_eq!(
        report.oversize.len(),
        1,
        "a `tests` module outside cfg(test) is code: {report}"
    );
}

#[test]
fn files_outside_src_do_not_count() {
    let report = check(&[
        ("src/lib.rs", ""),
        ("tests/long.rs", &code(900)),
        ("benches/long.rs", &code(900)),
    ]);
    assert!(report.is_clean(), "{report}");
}

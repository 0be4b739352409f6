//! No workspace crate has modules that depend on each other in a cycle (test code aside), and
//! the checker behind it finds the cycles it exists for on small synthetic crates.

mod checker;

use std::path::Path;

use checker::cycles::{self, Report};
use checker::fixture::demo_crate;
use checker::resolve;
use checker::source::Sources;
use checker::tree::ModuleTree;

#[test]
fn workspace_has_no_module_cycles() {
    let root = checker::workspace::find_root(Path::new(env!("CARGO_MANIFEST_DIR")))
        .expect("the workspace root above this crate");
    let report = cycles::check_workspace(&root).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.is_clean(), "{report}");
}

fn check(files: &[(&str, &str)]) -> Report {
    let dir = demo_crate(files);
    cycles::check_workspace(dir.path()).unwrap_or_else(|e| panic!("{e}"))
}

/// The edges of `demo/src/lib.rs`'s tree as "from → to" module names.
fn edges(files: &[(&str, &str)]) -> Vec<String> {
    let dir = demo_crate(files);
    let tree = ModuleTree::load(&dir.path().join("demo/src/lib.rs"), &mut Sources::default())
        .unwrap_or_else(|e| panic!("{e}"));
    resolve::edges(&tree)
        .iter()
        .map(|e| {
            format!(
                "{} → {}",
                tree.modules[e.from].name(),
                tree.modules[e.to].name()
            )
        })
        .collect()
}

#[test]
fn a_parent_and_a_child_that_use_each_other_are_a_cycle() {
    let report = check(&[
        ("src/lib.rs", "mod a;\n"),
        (
            "src/a.rs",
            "mod b;\n\npub struct Parent;\npub fn make() -> b::Child {\n    b::Child\n}\n",
        ),
        (
            "src/a/b.rs",
            "use super::Parent;\n\npub struct Child;\npub fn take(_: Parent) {}\n",
        ),
    ]);
    assert_eq!(report.components.len(), 1, "{report}");
    assert_eq!(report.components[0].modules, ["a", "a::b"]);
    let text = report.to_string();
    assert!(text.contains("demo (demo/src/lib.rs)"), "{text}");
    assert!(text.contains("demo: a → a::b → a"), "{text}");
    assert!(
        text.contains("a → a::b: demo/src/a.rs:4  `b::Child` (and 1 more"),
        "{text}"
    );
    assert!(
        text.contains("a::b → a: demo/src/a/b.rs:1  `use super::Parent`"),
        "{text}"
    );
}

#[test]
fn a_declaration_alone_is_no_edge() {
    let report = check(&[
        ("src/lib.rs", "mod a;\n"),
        ("src/a.rs", "mod b;\npub struct Parent;\n"),
        ("src/a/b.rs", "use super::Parent;\n"),
    ]);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_re_export_used_by_siblings_is_no_cycle() {
    let files = [
        ("src/lib.rs", "mod a;\n"),
        (
            "src/a.rs",
            "mod b;\nmod c;\nmod d;\npub use b::Item;\npub(crate) use d::*;\n\
             pub fn run() -> c::Other {\n    c::Other\n}\n",
        ),
        ("src/a/b.rs", "pub struct Item;\n"),
        (
            "src/a/c.rs",
            "use super::{Item, Deep};\npub struct Other;\npub fn f(_: Item, _: Deep) {}\n",
        ),
        ("src/a/d.rs", "pub struct Deep;\n"),
    ];
    assert!(check(&files).is_clean(), "{}", check(&files));
    let edges = edges(&files);
    for expected in [
        "a → a::b",
        "a → a::c",
        "a → a::d",
        "a::c → a::b",
        "a::c → a::d",
    ] {
        assert!(
            edges.contains(&expected.to_string()),
            "{expected} not in {edges:?}"
        );
    }
    assert!(!edges.contains(&"a::c → a".to_string()), "{edges:?}");
}

#[test]
fn the_crate_root_re_exporting_is_no_cycle() {
    let report = check(&[
        (
            "src/lib.rs",
            "mod a;\nmod b;\npub use a::Api;\npub fn helper() {}\n",
        ),
        (
            "src/a.rs",
            "pub struct Api;\npub fn f() { crate::helper(); crate::b::g() }\n",
        ),
        (
            "src/b.rs",
            "use crate::Api;\npub fn g() {}\npub fn h(_: Api) {}\n",
        ),
    ]);
    // b → a through the root's re-export, a → b directly: that one is a cycle.
    assert_eq!(report.components.len(), 1, "{report}");
    assert_eq!(report.components[0].modules, ["a", "b"]);
    let report = check(&[
        (
            "src/lib.rs",
            "mod a;\npub use a::Api;\npub fn helper() {}\n",
        ),
        (
            "src/a.rs",
            "pub struct Api;\npub fn f() { crate::helper() }\n",
        ),
    ]);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn test_code_is_ignored() {
    let report = check(&[
        ("src/lib.rs", "mod a;\n"),
        (
            "src/a.rs",
            "mod b;\npub struct P;\npub fn f() -> b::C {\n    b::C\n}\n\
             #[cfg(test)]\nmod tests {\n    use super::b::*;\n}\n",
        ),
        (
            "src/a/b.rs",
            "pub struct C;\n\
             impl C {\n    #[cfg(test)]\n    fn parent() -> super::P { super::P }\n}\n\
             #[test]\nfn uses_parent() { let _ = super::P; }\n\
             #[cfg(all(test, unix))]\nuse super::P;\n\
             #[cfg(test)]\nmod tests;\n",
        ),
        (
            "src/a/b/tests.rs",
            "use crate::a::P;\nuse super::super::*;\nmod more;\n",
        ),
        ("src/a/b/tests/more.rs", "use crate::a::P;\n"),
        // Never read: integration tests, benches and examples are other crates.
        ("tests/it.rs", "this is not Rust"),
        ("benches/b.rs", "neither is this"),
    ]);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn use_groups_globs_and_renames_are_followed() {
    let files = [
        ("src/lib.rs", "mod a;\nmod z;\n"),
        ("src/a.rs", "pub mod b;\npub mod c;\npub mod d;\n"),
        (
            "src/a/b.rs",
            "use crate::z::Zed;\npub struct B;\npub fn f(_: Zed) {}\n",
        ),
        ("src/a/c.rs", "pub struct C;\n"),
        ("src/a/d.rs", "pub struct D;\n"),
        (
            "src/z.rs",
            "pub(crate) use crate::a::{\n    b::{self, B as Bee},\n    c::*,\n    d as dee,\n};\n\
             pub struct Zed;\npub fn g(_: Bee, _: C, _: dee::D) {}\n",
        ),
    ];
    let edges = edges(&files);
    for expected in ["z → a::b", "z → a::c", "z → a::d", "a::b → z"] {
        assert!(
            edges.contains(&expected.to_string()),
            "{expected} not in {edges:?}"
        );
    }
    let report = check(&files);
    assert_eq!(report.components.len(), 1, "{report}");
    assert_eq!(report.components[0].modules, ["a::b", "z"]);
    // The first reference is the group's `b::{self, …}` on line 2, named as the import it is.
    assert!(
        report
            .to_string()
            .contains("z → a::b: demo/src/z.rs:2  `use crate::a::b`"),
        "{report}"
    );
}

#[test]
fn inline_paths_in_code_count_but_comments_and_strings_do_not() {
    let parent = "mod b;\n// crate::a::b::X in a comment\n/// crate::a::b::X in a doc comment\n\
                  pub const NAME: &str = \"crate::a::b::X\";\npub fn f() {\n    let _ = crate::a::b::X;\n}\n";
    let child = "pub struct X;\npub fn g() {\n    println!(\"{}\", super::NAME);\n}\n";
    let report = check(&[
        ("src/lib.rs", "mod a;\n"),
        ("src/a.rs", parent),
        ("src/a/b.rs", child),
    ]);
    let text = report.to_string();
    assert!(
        text.contains("a → a::b: demo/src/a.rs:6  `crate::a::b::X`"),
        "{text}"
    );
    assert!(
        text.contains("a::b → a: demo/src/a/b.rs:3  `super::NAME`"),
        "{text}"
    );

    let parent = parent.replace("let _ = crate::a::b::X;", "");
    let report = check(&[
        ("src/lib.rs", "mod a;\n"),
        ("src/a.rs", &parent),
        ("src/a/b.rs", child),
    ]);
    assert!(report.is_clean(), "{report}");
}

#[test]
fn nested_inline_modules_and_path_attributes_are_modules() {
    let report = check(&[
        (
            "src/lib.rs",
            "mod outer {\n    pub mod inner {\n        pub mod deep;\n        \
             pub fn f() { super::super::x::g() }\n    }\n}\n\
             #[path = \"elsewhere/x_impl.rs\"]\nmod x;\n",
        ),
        ("src/outer/inner/deep.rs", "pub fn d() {}\n"),
        (
            "src/elsewhere/x_impl.rs",
            "pub fn g() {}\npub fn h() { crate::outer::inner::deep::d() }\n",
        ),
        ("src/elsewhere/unused.rs", "use crate::outer::inner::f;\n"),
    ]);
    assert!(
        report.is_clean(),
        "x → outer::inner::deep is no cycle: {report}"
    );

    let report = check(&[
        (
            "src/lib.rs",
            "mod outer {\n    pub mod inner {\n        pub fn f() { super::super::x::g() }\n    }\n}\n\
             #[path = \"elsewhere/x_impl.rs\"]\nmod x;\n",
        ),
        ("src/elsewhere/x_impl.rs", "pub fn g() {}\npub fn h() { crate::outer::inner::f() }\n"),
    ]);
    assert_eq!(report.components.len(), 1, "{report}");
    assert_eq!(report.components[0].modules, ["outer::inner", "x"]);
    assert!(
        report
            .to_string()
            .contains("outer::inner → x: demo/src/lib.rs:3"),
        "{report}"
    );
}

#[test]
fn a_three_module_cycle_is_listed_with_every_edge() {
    let report = check(&[
        ("src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("src/a.rs", "pub struct A(pub crate::b::B);\n"),
        ("src/b.rs", "pub struct B(pub crate::c::C);\n"),
        ("src/c.rs", "pub struct C;\npub fn f(_: &crate::a::A) {}\n"),
    ]);
    assert_eq!(report.components.len(), 1, "{report}");
    let text = report.to_string();
    assert!(text.contains("demo: a → b → c → a"), "{text}");
    assert!(
        text.contains("c → a: demo/src/c.rs:2  `crate::a::A`"),
        "{text}"
    );
}

#[test]
fn a_cycle_in_files_a_lib_and_a_bin_share_is_listed_once() {
    let report = check(&[
        ("src/lib.rs", "mod a;\n"),
        ("src/main.rs", "mod a;\nfn main() {}\n"),
        ("src/bin/tool.rs", "fn main() {}\n"),
        (
            "src/a.rs",
            "mod b;\npub struct P;\npub fn f() -> b::C {\n    b::C\n}\n",
        ),
        ("src/a/b.rs", "pub struct C;\npub fn g(_: super::P) {}\n"),
    ]);
    assert_eq!(report.components.len(), 1, "{report}");
    let text = report.to_string();
    assert!(
        text.contains("demo (demo/src/lib.rs, demo/src/main.rs): 2 modules"),
        "{text}"
    );
}

#[test]
fn a_missing_module_file_is_an_error_not_a_pass() {
    let dir = demo_crate(&[("src/lib.rs", "mod gone;\n")]);
    let error = cycles::check_workspace(dir.path()).err().expect("an error");
    assert!(
        error.to_string().contains("`mod gone;` has no file"),
        "{error}"
    );
}

//! The paths a module's code names: each leaf of its `use` trees and each multi-segment path in
//! its code (types, expressions, patterns, macro arguments), never comments or strings.

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::ext::IdentExt;
use syn::visit::{self, Visit};
use syn::{ImplItem, Item, ItemUse, Macro, Path, TraitItem, UseTree, VisRestricted};

use super::attrs;

/// A path as written in one module, to be resolved against the crate's modules.
#[derive(Clone, Debug)]
pub struct Ref {
    pub segments: Vec<String>,
    pub line: usize,
    /// The code as a reader finds it: `use super::ControlPlane`, `crate::marker::Kind::Init`.
    pub text: String,
}

/// One leaf of a `use` tree: `use a::{b::{self as c}, d::*}` has `a::b` bound to `c` and a
/// glob of `a::d`.
pub struct UseLeaf {
    /// The path it imports (for a glob: the path of what it imports from).
    pub segments: Vec<String>,
    pub binding: Binding,
    pub line: usize,
}

pub enum Binding {
    Name(String),
    Glob,
    /// `as _`: a trait brought into scope, no name.
    Unnamed,
}

impl UseLeaf {
    pub fn text(&self) -> String {
        let path = self.segments.join("::");
        match &self.binding {
            Binding::Glob => format!("use {path}::*"),
            Binding::Unnamed => format!("use {path} as _"),
            Binding::Name(name) if self.segments.last() == Some(name) => format!("use {path}"),
            Binding::Name(name) => format!("use {path} as {name}"),
        }
    }
}

/// The leaves of a `use` item; `use ::x` (an extern crate by absolute path) has none.
pub fn use_leaves(item: &ItemUse) -> Vec<UseLeaf> {
    let mut leaves = Vec::new();
    if item.leading_colon.is_none() {
        flatten(&item.tree, &mut Vec::new(), &mut leaves);
    }
    leaves
}

fn flatten(tree: &UseTree, prefix: &mut Vec<String>, out: &mut Vec<UseLeaf>) {
    match tree {
        UseTree::Path(path) => {
            prefix.push(path.ident.unraw().to_string());
            flatten(&path.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(name) => out.push(leaf(prefix, &name.ident, None)),
        UseTree::Rename(rename) => out.push(leaf(prefix, &rename.ident, Some(&rename.rename))),
        UseTree::Glob(glob) => out.push(UseLeaf {
            segments: prefix.clone(),
            binding: Binding::Glob,
            line: glob.star_token.spans[0].start().line,
        }),
        UseTree::Group(group) => group
            .items
            .iter()
            .for_each(|tree| flatten(tree, prefix, out)),
    }
}

fn leaf(prefix: &[String], ident: &syn::Ident, rename: Option<&syn::Ident>) -> UseLeaf {
    let mut segments = prefix.to_vec();
    // `self` in a group names the prefix itself: `use a::b::{self}` imports `a::b`.
    if ident != "self" {
        segments.push(ident.unraw().to_string());
    }
    let binding = match rename {
        Some(rename) if rename == "_" => Binding::Unnamed,
        Some(rename) => Binding::Name(rename.unraw().to_string()),
        None => Binding::Name(segments.last().cloned().unwrap_or_default()),
    };
    UseLeaf {
        segments,
        binding,
        line: ident.span().start().line,
    }
}

/// Collects the references of the code it visits, skipping test items and nested modules
/// (each module's own code is collected on its own).
#[derive(Default)]
pub struct RefCollector {
    pub refs: Vec<Ref>,
}

impl RefCollector {
    fn push_path<'a>(&mut self, idents: impl Iterator<Item = &'a syn::Ident>) {
        let idents: Vec<&syn::Ident> = idents.collect();
        if idents.len() < 2 {
            return;
        }
        let segments: Vec<String> = idents.iter().map(|i| i.unraw().to_string()).collect();
        self.refs.push(Ref {
            text: segments.join("::"),
            line: idents[0].span().start().line,
            segments,
        });
    }

    /// A macro's arguments are tokens to syn, so its paths are found as `ident (:: ident)+`.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(group) => {
                    self.scan_tokens(group.stream());
                    i += 1;
                }
                TokenTree::Ident(first) => {
                    let absolute = i >= 2 && is_path_sep(&tokens[i - 2], &tokens[i - 1]);
                    let mut idents = vec![first];
                    let mut next = i + 1;
                    while let (Some(a), Some(b), Some(TokenTree::Ident(ident))) =
                        (tokens.get(next), tokens.get(next + 1), tokens.get(next + 2))
                    {
                        if !is_path_sep(a, b) {
                            break;
                        }
                        idents.push(ident);
                        next += 3;
                    }
                    if !absolute {
                        self.push_path(idents.into_iter());
                    }
                    i = next;
                }
                _ => i += 1,
            }
        }
    }
}

fn is_path_sep(a: &TokenTree, b: &TokenTree) -> bool {
    matches!((a, b), (TokenTree::Punct(a), TokenTree::Punct(b))
        if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':')
}

impl<'ast> Visit<'ast> for RefCollector {
    fn visit_item(&mut self, item: &'ast Item) {
        if attrs::is_test_only(attrs::item_attrs(item)) || matches!(item, Item::Mod(_)) {
            return;
        }
        visit::visit_item(self, item);
    }

    fn visit_impl_item(&mut self, item: &'ast ImplItem) {
        if !attrs::is_test_only(attrs::impl_item_attrs(item)) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast TraitItem) {
        if !attrs::is_test_only(attrs::trait_item_attrs(item)) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast ItemUse) {
        for leaf in use_leaves(item) {
            self.refs.push(Ref {
                text: leaf.text(),
                segments: leaf.segments,
                line: leaf.line,
            });
        }
    }

    fn visit_path(&mut self, path: &'ast Path) {
        if path.leading_colon.is_none() {
            self.push_path(path.segments.iter().map(|segment| &segment.ident));
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        self.visit_path(&mac.path);
        self.scan_tokens(mac.tokens.clone());
    }

    // Attributes (`#[serde(with = "…")]`, docs) and `pub(in crate::x)` name no dependency.
    fn visit_attribute(&mut self, _: &'ast syn::Attribute) {}
    fn visit_vis_restricted(&mut self, _: &'ast VisRestricted) {}
}

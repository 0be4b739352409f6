//! The module tree of one crate target: where each module's code is (a file, or an inline
//! block in one), whether it is test code, what it defines and imports, and the paths it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::ext::IdentExt;
use syn::visit::Visit;
use syn::{Expr, Item, ItemMod, Lit, Meta};

use super::attrs;
use super::refs::{use_leaves, Binding, Ref, RefCollector};
use super::source::Sources;
use super::CheckError;

pub struct Module {
    /// From the crate root: `["control_plane", "lambda_api"]`; empty for the root.
    pub path: Vec<String>,
    /// The file its code is in (an inline module's is its parent's).
    pub file: PathBuf,
    pub parent: Option<usize>,
    pub children: BTreeMap<String, usize>,
    /// Under `#[cfg(test)]`, itself or through an ancestor.
    pub is_test: bool,
    /// Names of the items it defines (not modules, not imports).
    pub defined: BTreeSet<String>,
    /// Names it imports, to the path they import (as written, relative to this module).
    pub imports: BTreeMap<String, Vec<String>>,
    /// Paths it imports everything from (`use x::*`).
    pub globs: Vec<Vec<String>>,
    /// What its non-test code names.
    pub refs: Vec<Ref>,
}

impl Module {
    pub fn name(&self) -> String {
        if self.path.is_empty() {
            "crate".to_string()
        } else {
            self.path.join("::")
        }
    }
}

pub struct ModuleTree {
    pub root_file: PathBuf,
    /// `modules[0]` is the crate root.
    pub modules: Vec<Module>,
}

/// Where a module's `mod x;` declarations find their files.
struct Place {
    file: PathBuf,
    /// Where `mod x;` looks for `x.rs` and `x/mod.rs`.
    child_dir: PathBuf,
    /// Inside an inline `mod x { … }`: `#[path]` is then relative to `child_dir`, not the file's
    /// directory.
    inline: bool,
}

impl ModuleTree {
    pub fn load(root_file: &Path, sources: &mut Sources) -> Result<ModuleTree, CheckError> {
        let source = sources.get(root_file)?;
        let mut tree = ModuleTree {
            root_file: root_file.to_path_buf(),
            modules: Vec::new(),
        };
        let root = tree.add(
            None,
            String::new(),
            root_file,
            attrs::is_test_only(&source.ast.attrs),
        );
        let place = Place {
            file: root_file.to_path_buf(),
            child_dir: parent_dir(root_file),
            inline: false,
        };
        tree.load_items(root, &source.ast.items, &place, sources)?;
        Ok(tree)
    }

    fn add(&mut self, parent: Option<usize>, name: String, file: &Path, is_test: bool) -> usize {
        let id = self.modules.len();
        let path = match parent {
            Some(parent) => {
                let mut path = self.modules[parent].path.clone();
                path.push(name.clone());
                self.modules[parent].children.insert(name, id);
                path
            }
            None => Vec::new(),
        };
        self.modules.push(Module {
            path,
            file: file.to_path_buf(),
            parent,
            children: BTreeMap::new(),
            is_test,
            defined: BTreeSet::new(),
            imports: BTreeMap::new(),
            globs: Vec::new(),
            refs: Vec::new(),
        });
        id
    }

    fn load_items(
        &mut self,
        id: usize,
        items: &[Item],
        place: &Place,
        sources: &mut Sources,
    ) -> Result<(), CheckError> {
        let mut collector = RefCollector::default();
        for item in items {
            let test = attrs::is_test_only(attrs::item_attrs(item));
            if let Item::Mod(decl) = item {
                let is_test = self.modules[id].is_test || test;
                self.load_child(id, decl, is_test, place, sources)?;
                continue;
            }
            if test {
                continue;
            }
            let module = &mut self.modules[id];
            if let Some(name) = defined_name(item) {
                module.defined.insert(name);
            }
            if let Item::Use(item) = item {
                for leaf in use_leaves(item) {
                    match leaf.binding {
                        Binding::Name(name) => {
                            module.imports.insert(name, leaf.segments);
                        }
                        Binding::Glob => module.globs.push(leaf.segments),
                        Binding::Unnamed => {}
                    }
                }
            }
            if !module.is_test {
                collector.visit_item(item);
            }
        }
        self.modules[id].refs.extend(collector.refs);
        Ok(())
    }

    fn load_child(
        &mut self,
        parent: usize,
        decl: &ItemMod,
        is_test: bool,
        place: &Place,
        sources: &mut Sources,
    ) -> Result<(), CheckError> {
        let name = decl.ident.unraw().to_string();
        let path_attr = path_attr(decl);
        if let Some((_, items)) = &decl.content {
            let child_dir = place.child_dir.join(path_attr.as_deref().unwrap_or(&name));
            let child = self.add(Some(parent), name, &place.file, is_test);
            let inner = Place {
                file: place.file.clone(),
                child_dir,
                inline: true,
            };
            return self.load_items(child, items, &inner, sources);
        }
        let tried = match &path_attr {
            Some(path) => {
                let base = if place.inline {
                    place.child_dir.clone()
                } else {
                    parent_dir(&place.file)
                };
                vec![base.join(path)]
            }
            None => vec![
                place.child_dir.join(format!("{name}.rs")),
                place.child_dir.join(&name).join("mod.rs"),
            ],
        };
        let Some(file) = tried.iter().find(|path| path.is_file()).cloned() else {
            return Err(CheckError::MissingModule {
                declared_in: place.file.clone(),
                line: decl.ident.span().start().line,
                name,
                tried,
            });
        };
        let source = sources.get(&file)?;
        let is_test = is_test || attrs::is_test_only(&source.ast.attrs);
        // `x/mod.rs` and `#[path]` files own their directory; `x.rs` owns `x/`.
        let owns_dir = path_attr.is_some() || file.file_name().is_some_and(|n| n == "mod.rs");
        let child_dir = if owns_dir {
            parent_dir(&file)
        } else {
            parent_dir(&file).join(&name)
        };
        let child = self.add(Some(parent), name, &file, is_test);
        let inner = Place {
            file,
            child_dir,
            inline: false,
        };
        self.load_items(child, &source.ast.items, &inner, sources)
    }
}

fn parent_dir(file: &Path) -> PathBuf {
    file.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// `#[path = "…"]` on a module declaration.
fn path_attr(decl: &ItemMod) -> Option<String> {
    decl.attrs.iter().find_map(|attr| match &attr.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            Expr::Lit(lit) => match &lit.lit {
                Lit::Str(s) => Some(s.value()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    })
}

fn defined_name(item: &Item) -> Option<String> {
    let ident = match item {
        Item::Const(i) => &i.ident,
        Item::Enum(i) => &i.ident,
        Item::Fn(i) => &i.sig.ident,
        Item::Static(i) => &i.ident,
        Item::Struct(i) => &i.ident,
        Item::Trait(i) => &i.ident,
        Item::TraitAlias(i) => &i.ident,
        Item::Type(i) => &i.ident,
        Item::Union(i) => &i.ident,
        Item::Macro(i) => i.ident.as_ref()?,
        Item::ExternCrate(i) => i.rename.as_ref().map(|(_, r)| r).unwrap_or(&i.ident),
        _ => return None,
    };
    Some(ident.unraw().to_string())
}

//! Module cycles: the strongly connected components of each target's module graph, reported as
//! cycles with the file and line of the first reference behind each edge.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use super::resolve::{edges, Edge};
use super::source::Sources;
use super::tree::ModuleTree;
use super::workspace::{self, Workspace};
use super::{relative, CheckError};

/// Modules of one target that depend on each other.
pub struct Component {
    pub crate_name: String,
    /// The root file of each target the cycle is in (a module file a lib and a bin both declare
    /// is in both trees; its cycle is listed once).
    pub root_files: Vec<PathBuf>,
    /// Module names (`control_plane::lambda_api`), sorted.
    pub modules: Vec<String>,
    /// Elementary cycles covering every edge of the component, as module names, first repeated
    /// at the end.
    pub cycles: Vec<Vec<String>>,
    /// The component's edges by (from, to) module name.
    pub edges: BTreeMap<(String, String), Edge>,
}

pub struct Report {
    pub root: PathBuf,
    pub components: Vec<Component>,
}

pub fn check_workspace(root: &Path) -> Result<Report, CheckError> {
    let ws = workspace::load(root)?;
    check(&ws)
}

pub fn check(ws: &Workspace) -> Result<Report, CheckError> {
    let mut sources = Sources::default();
    let mut components = Vec::new();
    for krate in &ws.crates {
        for root_file in &krate.roots {
            let tree = ModuleTree::load(root_file, &mut sources)?;
            for component in components_of(&krate.name, &tree) {
                match components.iter_mut().find(|c| component.same_as(c)) {
                    Some(seen) => seen.root_files.push(root_file.clone()),
                    None => components.push(component),
                }
            }
        }
    }
    Ok(Report {
        root: ws.root.clone(),
        components,
    })
}

pub fn components_of(crate_name: &str, tree: &ModuleTree) -> Vec<Component> {
    let edges = edges(tree);
    let n = tree.modules.len();
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for edge in &edges {
        out[edge.from].push(edge.to);
    }
    let name = |id: usize| tree.modules[id].name();
    strongly_connected(&out)
        .into_iter()
        .filter(|scc| scc.len() > 1)
        .map(|scc| {
            let members: BTreeSet<usize> = scc.iter().copied().collect();
            let inside: Vec<&Edge> = edges
                .iter()
                .filter(|e| members.contains(&e.from) && members.contains(&e.to))
                .collect();
            let mut modules: Vec<String> = scc.iter().map(|&id| name(id)).collect();
            modules.sort();
            Component {
                crate_name: crate_name.to_string(),
                root_files: vec![tree.root_file.clone()],
                modules,
                cycles: covering_cycles(&inside, &members, &out)
                    .into_iter()
                    .map(|cycle| cycle.into_iter().map(name).collect())
                    .collect(),
                edges: inside
                    .into_iter()
                    .map(|e| ((name(e.from), name(e.to)), e.clone()))
                    .collect(),
            }
        })
        .collect()
}

/// Tarjan's algorithm, iterative (a deep module tree must not overflow the test's stack).
fn strongly_connected(out: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = out.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next_index = 0;
    let mut sccs = Vec::new();
    for start in 0..n {
        if index[start] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(start, 0)];
        while let Some(&mut (v, ref mut child)) = work.last_mut() {
            if *child == 0 && index[v] == usize::MAX {
                index[v] = next_index;
                low[v] = next_index;
                next_index += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = out[v].get(*child) {
                *child += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                sccs.push(scc);
            }
        }
    }
    sccs
}

/// For each edge u → v, the shortest way back v → … → u: together the cycles use every edge,
/// so fixing them all breaks the component.
fn covering_cycles(
    inside: &[&Edge],
    members: &BTreeSet<usize>,
    out: &[Vec<usize>],
) -> Vec<Vec<usize>> {
    let mut cycles: BTreeSet<Vec<usize>> = BTreeSet::new();
    for edge in inside {
        if cycles
            .iter()
            .any(|c| c.windows(2).any(|w| w[0] == edge.from && w[1] == edge.to))
        {
            continue;
        }
        let Some(back) = shortest_path(edge.to, edge.from, members, out) else {
            continue;
        };
        let mut cycle = vec![edge.from];
        cycle.extend(back);
        // Start each cycle at its smallest module so the same cycle is listed once.
        cycle.pop();
        let start = (0..cycle.len()).min_by_key(|&i| cycle[i]).unwrap_or(0);
        cycle.rotate_left(start);
        cycle.push(cycle[0]);
        cycles.insert(cycle);
    }
    cycles.into_iter().collect()
}

fn shortest_path(
    from: usize,
    to: usize,
    members: &BTreeSet<usize>,
    out: &[Vec<usize>],
) -> Option<Vec<usize>> {
    let mut previous: BTreeMap<usize, usize> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(v) = queue.pop_front() {
        if v == to {
            let mut path = vec![to];
            let mut at = to;
            while let Some(&p) = previous.get(&at) {
                path.push(p);
                at = p;
            }
            path.reverse();
            return Some(path);
        }
        for &w in &out[v] {
            if members.contains(&w) && seen.insert(w) {
                previous.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    None
}

impl Report {
    pub fn is_clean(&self) -> bool {
        self.components.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.components.is_empty() {
            return writeln!(f, "no module cycles");
        }
        writeln!(
            f,
            "{} group(s) of modules depend on each other. Break each cycle below by removing one \
             of its edges: move what both sides need into a module of its own (or into the one \
             that is used), or pass it in instead of importing it back.",
            self.components.len()
        )?;
        for component in &self.components {
            f.write_str(&component.render(&self.root))?;
        }
        Ok(())
    }
}

impl Component {
    /// The same modules of the same crate with the same references: one cycle in shared files.
    fn same_as(&self, other: &Component) -> bool {
        let places = |c: &Component| -> Vec<(PathBuf, usize)> {
            c.edges.values().map(|e| (e.file.clone(), e.line)).collect()
        };
        self.crate_name == other.crate_name
            && self.modules == other.modules
            && places(self) == places(other)
    }

    pub fn render(&self, root: &Path) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "\n{} ({}): {} modules in a cycle: {}",
            self.crate_name,
            self.root_files
                .iter()
                .map(|file| relative(root, file))
                .collect::<Vec<_>>()
                .join(", "),
            self.modules.len(),
            self.modules.join(", ")
        );
        for cycle in &self.cycles {
            let _ = writeln!(text, "  {}: {}", self.crate_name, cycle.join(" → "));
            for pair in cycle.windows(2) {
                let Some(edge) = self.edges.get(&(pair[0].clone(), pair[1].clone())) else {
                    continue;
                };
                let more = match edge.count {
                    1 => String::new(),
                    n => format!(" (and {} more reference(s) in that module)", n - 1),
                };
                let _ = writeln!(
                    text,
                    "    {} → {}: {}:{}  `{}`{more}",
                    pair[0],
                    pair[1],
                    relative(root, &edge.file),
                    edge.line,
                    edge.text
                );
            }
        }
        text
    }
}

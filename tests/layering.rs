//! The layering of `src/` stays what docs/DESIGN.md says: every
//! `crate::…` path in a source file is an edge from its top-level module to
//! the module it names; each edge must point to a layer below (or inside the
//! same module), never up, and the modules of one layer must not import one
//! another (producer and consumer are siblings). The layer list is read
//! from the table in docs/DESIGN.md, so the check and the document cannot
//! drift apart; a module missing from the table fails the check too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `module -> layer`, from the rows `| n | `module` … |` of DESIGN.md's
/// layer table (a row may name several modules).
fn layers() -> BTreeMap<String, u32> {
    let design = std::fs::read_to_string(root().join("docs/DESIGN.md")).unwrap();
    let mut layers = BTreeMap::new();
    for line in design.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (Some(layer), Some(modules)) = (cells.get(1), cells.get(2)) else { continue };
        let Ok(layer) = layer.parse::<u32>() else { continue };
        for module in modules.split(',') {
            let module = module.trim().trim_matches('`').trim_end_matches('/');
            if !module.is_empty() {
                layers.insert(module.to_string(), layer);
            }
        }
    }
    assert!(layers.len() >= 10, "no layer table found in docs/DESIGN.md: {layers:?}");
    layers
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(root().join("src")).unwrap();
    let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// Every module named by a `crate::<module>` path in `text`, outside
/// comments.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let name: String = rest[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                found.insert(name);
            }
            rest = &rest[at + 7..];
        }
    }
    found
}

#[test]
fn imports_point_down_the_layers_of_design_md() {
    let layers = layers();
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut violations = Vec::new();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        let Some(&from_layer) = layers.get(&from) else {
            violations.push(format!("{}: module {from} is not in DESIGN.md's layer table", file.display()));
            continue;
        };
        for to in imports(&std::fs::read_to_string(file).unwrap()) {
            if to == from {
                continue;
            }
            let Some(&to_layer) = layers.get(&to) else {
                violations.push(format!("{}: crate::{to} is not in DESIGN.md's layer table", file.display()));
                continue;
            };
            if to_layer >= from_layer {
                let relation = if to_layer == from_layer { "a sibling" } else { "a higher layer" };
                violations.push(format!(
                    "{}: {from} (layer {from_layer}) imports {to} (layer {to_layer}), {relation}",
                    file.display()
                ));
            }
            edges.entry(from.clone()).or_default().insert(to);
        }
    }
    assert!(violations.is_empty(), "layering violations:\n{}", violations.join("\n"));
    // With every edge pointing down a strict order, there can be no loop;
    // say so explicitly for the record.
    println!("{} modules, {} edges, all downward", layers.len(), edges.values().map(BTreeSet::len).sum::<usize>());
}

//! The crate's top-level modules form a layered graph: no module reaches, through
//! `crate::` paths, back to itself. Read from the sources, so a new cycle fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module → the top-level modules its non-test code names with `crate::`.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut pending = vec![src.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            let top = relative.split('/').next().unwrap().trim_end_matches(".rs").to_owned();
            if top == "lib" || top == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let uses: &mut BTreeSet<String> = graph.entry(top.clone()).or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String =
                    code[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !name.is_empty() && name != top {
                    uses.insert(name);
                }
            }
        }
    }
    graph
}

/// A path from `from` back to itself, if there is one.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![vec![from.to_owned()]];
    let mut seen = BTreeSet::new();
    while let Some(path) = stack.pop() {
        let last = path.last().unwrap();
        for next in graph.get(last).into_iter().flatten() {
            if next == from {
                return Some([path.clone(), vec![next.clone()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push([path.clone(), vec![next.clone()]].concat());
            }
        }
    }
    None
}

#[test]
fn modules_import_no_cycle() {
    let graph = graph();
    assert!(graph.contains_key("gateway") && graph.contains_key("route"), "sources not found: {graph:?}");
    let cycles: Vec<String> =
        graph.keys().filter_map(|m| cycle_through(&graph, m)).map(|c| c.join(" → ")).collect();
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn leaves_import_nothing_from_the_crate() {
    let graph = graph();
    for leaf in ["urlencoded", "response", "compress", "tls", "key"] {
        assert_eq!(graph.get(leaf), Some(&BTreeSet::new()), "{leaf} must stay a leaf");
    }
}

#[test]
fn transport_knows_nothing_of_the_gateway() {
    let graph = graph();
    let server: Vec<&String> = graph["server"].iter().collect();
    assert_eq!(server, ["response"], "server may use only the response building blocks");
}

#[test]
fn the_cache_renders_no_http_and_calls_no_one() {
    let graph = graph();
    let cache = &graph["cache"];
    for rendering in ["jsonp", "compress", "response", "upstream", "gateway", "shared"] {
        assert!(!cache.contains(rendering), "cache imports {rendering}: {cache:?}");
    }
}

//! The layering docs/ARCHITECTURE.md describes, checked against the source:
//! every `crate::` path in `src/` (outside the binary) points to its own
//! layer or one below, and layers hold no cycles — except the state of the
//! running appliance, whose handle (`app::shared`) the ledger and the
//! cluster link both change and are held by.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Bottom to top. A module may use its own layer and those below.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "primitives",
        &[
            "clock",
            "config",
            "sys",
            "telemetry",
            "protocol",
            "pki",
            "crypto",
            "server::listener",
            "server::shutdown",
        ],
    ),
    ("storage", &["store"]),
    (
        "records and rules",
        &["policy", "records", "police", "lookup", "api"],
    ),
    ("state and changes", &["app::shared", "ledger", "cluster"]),
    ("listeners and start-up", &["server", "app"]),
    ("tools", &["client", "tools"]),
];

/// The layer in which cycles are allowed (see the module comment).
const STATE: &str = "state and changes";

/// The node a file belongs to, or a `crate::a::b` path points to.
fn node(first: &str, second: Option<&str>) -> String {
    match (first, second) {
        ("app", Some("shared")) => "app::shared".into(),
        ("server", Some("listener")) => "server::listener".into(),
        ("server", Some("shutdown")) => "server::shutdown".into(),
        (f, _) => f.into(),
    }
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let layer_of: BTreeMap<&str, usize> = LAYERS
        .iter()
        .enumerate()
        .flat_map(|(i, (_, nodes))| nodes.iter().map(move |n| (*n, i)))
        .collect();
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
        let parts: Vec<&str> = rel.trim_end_matches(".rs").split('/').collect();
        if matches!(parts[0], "bin" | "lib") {
            continue;
        }
        let from = node(parts[0], parts.get(1).copied());
        let Some(&from_layer) = layer_of.get(from.as_str()) else {
            wrong.push(format!(
                "{rel}: module `{from}` is in no layer of this test"
            ));
            continue;
        };
        for (n, line) in std::fs::read_to_string(&f).unwrap().lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for m in code.match_indices("crate::") {
                let rest = &code[m.0 + 7..];
                let mut segs = rest.split("::").map(|s| {
                    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")
                });
                let first = segs.next().unwrap_or("");
                if first.is_empty() || first.chars().next().unwrap().is_uppercase() {
                    continue; // a re-export at the crate root
                }
                let to = node(first, segs.next());
                if to == from {
                    continue;
                }
                match layer_of.get(to.as_str()) {
                    Some(&l) if l > from_layer => wrong.push(format!(
                        "{rel}:{}: `{from}` ({}) uses `{to}` ({}), a layer above",
                        n + 1,
                        LAYERS[from_layer].0,
                        LAYERS[l].0
                    )),
                    Some(_) => {
                        edges.entry(from.clone()).or_default().insert(to);
                    }
                    None => wrong.push(format!("{rel}:{}: `{to}` is in no layer", n + 1)),
                }
            }
        }
    }
    // No cycles inside a layer (but the state's).
    let reaches = |a: &str, b: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![a.to_owned()];
        while let Some(x) = todo.pop() {
            if x == b {
                return true;
            }
            if seen.insert(x.clone()) {
                todo.extend(edges.get(&x).into_iter().flatten().cloned());
            }
        }
        false
    };
    for (a, tos) in &edges {
        for b in tos {
            let layer = LAYERS[layer_of[a.as_str()]].0;
            if layer != STATE && reaches(b, a) {
                wrong.push(format!("cycle: `{a}` and `{b}` use each other"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

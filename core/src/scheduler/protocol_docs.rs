//! The module docs name every public method of [`Scheduler`] in exactly one of the four
//! method groups, wherever in the crate the method is defined.

use std::collections::BTreeMap;
use std::path::Path;

/// The groups of the module docs, as their paragraphs begin.
const GROUPS: [&str; 4] = [
    "//! **Inputs**",
    "//! **Outputs**",
    "//! **Calls, joins, groups and main**",
    "//! **Queries**",
];

/// The public methods of `Scheduler` defined in the `.rs` files under `dir`.
fn public_methods(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            public_methods(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut inside = false;
            for line in text.lines() {
                if line.starts_with("impl") {
                    inside = line.contains(" Scheduler<V>");
                } else if line == "}" {
                    inside = false;
                } else if let (true, Some(rest)) = (inside, line.strip_prefix("    pub fn ")) {
                    let end = rest.find(['(', '<']).unwrap();
                    out.push(rest[..end].to_owned());
                }
            }
        }
    }
}

/// The methods linked as `(Scheduler::name)` in each group's paragraph.
fn groups(docs: &str) -> Vec<Vec<String>> {
    GROUPS
        .iter()
        .map(|head| {
            let start = docs.find(head).unwrap_or_else(|| panic!("no group {head}"));
            let para = &docs[start..];
            let para = &para[..para.find("//!\n").unwrap()];
            para.split("(Scheduler::")
                .skip(1)
                .map(|s| s[..s.find(')').unwrap()].to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn every_public_method_is_in_exactly_one_group() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut methods = Vec::new();
    public_methods(&src, &mut methods);
    assert!(methods.len() > 40, "found only {methods:?}");
    let docs = std::fs::read_to_string(src.join("scheduler/mod.rs")).unwrap();
    let mut seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (head, linked) in GROUPS.iter().zip(groups(&docs)) {
        for m in linked {
            seen.entry(m).or_default().push(head);
        }
    }
    for m in &methods {
        match seen.get(m).map(Vec::len) {
            Some(1) => {}
            None => panic!("Scheduler::{m} is in no method group of the module docs"),
            Some(_) => panic!("Scheduler::{m} is in several groups: {:?}", seen[m]),
        }
    }
    for m in seen.keys() {
        assert!(
            methods.contains(m),
            "the docs group Scheduler::{m}, which does not exist"
        );
    }
}

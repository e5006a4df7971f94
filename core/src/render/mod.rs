//! Drawings of a task graph: ASCII for terminals, Mermaid flowcharts and Graphviz DOT.
//!
//! # Examples
//!
//! ```
//! use legato::graph::{GraphBuilder, TaskSpec};
//! use legato::render::Format;
//!
//! let mut b = GraphBuilder::new();
//! b.add(TaskSpec::new("install"))?;
//! b.add(TaskSpec::new("lint").after(["install"]))?;
//! b.add(TaskSpec::new("build").after(["install"]))?;
//! b.add(TaskSpec::new("deploy").after(["lint", "build"]))?;
//! let g = b.build()?;
//! assert_eq!(g.to_ascii(), "\
//! install
//! ├─▶ lint
//! │   └─▶ deploy
//! └─▶ build
//!     └─▶ deploy (*)
//! (*) already drawn above
//! ");
//! assert_eq!(g.render(Format::Dot, &g.select(["lint"])?), "\
//! digraph legato {
//!     rankdir=LR;
//!     node [shape=box];
//!     \"install\";
//!     \"lint\";
//!     \"install\" -> \"lint\";
//! }
//! ");
//! # Ok::<(), legato::graph::GraphError>(())
//! ```

use crate::graph::{Graph, Selection, TaskId};
use std::fmt::Write as _;
use std::str::FromStr;

/// A drawing format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// A tree of dependents drawn with box characters; a task reached again is marked `(*)`.
    Ascii,
    /// A Mermaid `flowchart TD`.
    Mermaid,
    /// A Graphviz `digraph`.
    Dot,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "ascii" | "text" => Ok(Format::Ascii),
            "mermaid" => Ok(Format::Mermaid),
            "dot" | "graphviz" => Ok(Format::Dot),
            other => Err(format!(
                "unknown format {other:?} (expected ascii, mermaid or dot)"
            )),
        }
    }
}

impl Graph {
    /// Draws the selected tasks and the edges between them.
    pub fn render(&self, format: Format, selection: &Selection) -> String {
        match format {
            Format::Ascii => ascii(self, selection),
            Format::Mermaid => mermaid(self, selection),
            Format::Dot => dot(self, selection),
        }
    }

    /// The whole graph as an ASCII tree (see [`Format::Ascii`]).
    pub fn to_ascii(&self) -> String {
        self.render(Format::Ascii, &self.all())
    }

    /// The whole graph as a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        self.render(Format::Mermaid, &self.all())
    }

    /// The whole graph as Graphviz DOT.
    pub fn to_dot(&self) -> String {
        self.render(Format::Dot, &self.all())
    }
}

/// Every edge `(dependency, task)` between selected tasks, grouped by task in declaration order.
fn edges<'a>(g: &'a Graph, sel: &'a Selection) -> impl Iterator<Item = (TaskId, TaskId)> + 'a {
    sel.ids().iter().flat_map(move |&t| {
        g.deps(t)
            .iter()
            .filter(move |d| sel.contains(**d))
            .map(move |&d| (d, t))
    })
}

/// The deepest level the ASCII tree indents to. A task deeper than that (a long chain) is
/// drawn there marked `(↓)`, and its own tree is drawn again from the left margin below, so a
/// drawing grows linearly with the graph rather than one more level of indentation per task.
const MAX_ASCII_DEPTH: usize = 24;

/// What a drawing says of a task beside its name: the keys it uses, whether it has a condition,
/// and a trigger rule other than the default — `uses db, api; when; trigger all_done` — or
/// nothing for a task with none of them.
pub fn marks(options: &crate::policy::TaskOptions) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if !options.uses.is_empty() {
        parts.push(format!("uses {}", options.uses.join(", ")));
    }
    if options.conditional {
        parts.push("when".to_owned());
    }
    if options.trigger != crate::policy::Trigger::AllSucceeded {
        parts.push(format!("trigger {}", options.trigger));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The task's name as drawn: with its [`marks`] in brackets, if it has any.
fn labelled(g: &Graph, t: TaskId) -> std::borrow::Cow<'_, str> {
    match marks(g.options(t)) {
        Some(m) => format!("{} [{m}]", g.name(t)).into(),
        None => g.name(t).into(),
    }
}

fn ascii(g: &Graph, sel: &Selection) -> String {
    let mut out = String::new();
    let mut drawn = vec![false; g.len()];
    let mut repeated = false;
    let mut continued = false;
    // Whether the task at each depth of the current path was the last of its siblings.
    let mut lasts: Vec<bool> = Vec::new();
    let mut stack: Vec<(TaskId, usize, bool)> = Vec::new();
    // Tasks at the deepest level, drawn again as roots once the tree above them is drawn.
    let mut deferred: Vec<TaskId> = Vec::new();
    let roots = sel
        .ids()
        .iter()
        .copied()
        .filter(|&t| !g.deps(t).iter().any(|d| sel.contains(*d)));
    for root in roots {
        stack.push((root, 0, true));
        loop {
            let Some((t, depth, last)) = stack.pop() else {
                // This tree is drawn: go on with the subtrees cut at the deepest level.
                match deferred.pop() {
                    Some(t) => {
                        stack.push((t, 0, true));
                        continue;
                    }
                    None => break,
                }
            };
            lasts.truncate(depth);
            for &l in lasts.iter().skip(1) {
                out.push_str(if l { "    " } else { "│   " });
            }
            if depth > 0 {
                out.push_str(if last { "└─▶ " } else { "├─▶ " });
            }
            if drawn[t.index()] {
                out.push_str(g.name(t));
                out.push_str(" (*)\n");
                repeated = true;
                continue;
            }
            let mut children = g
                .dependents(t)
                .iter()
                .copied()
                .filter(|c| sel.contains(*c))
                .peekable();
            out.push_str(&labelled(g, t));
            if depth == MAX_ASCII_DEPTH && children.peek().is_some() {
                out.push_str(" (↓)\n");
                continued = true;
                deferred.push(t);
                continue;
            }
            out.push('\n');
            drawn[t.index()] = true;
            lasts.push(last);
            let at = stack.len();
            stack.extend(children.map(|c| (c, depth + 1, false)));
            stack[at..].reverse();
            if let Some(first) = stack.get_mut(at) {
                // The last child (pushed first, popped last) closes the branch.
                first.2 = true;
            }
        }
    }
    if repeated {
        out.push_str("(*) already drawn above\n");
    }
    if continued {
        out.push_str("(↓) continued below\n");
    }
    out
}

fn mermaid(g: &Graph, sel: &Selection) -> String {
    let mut out = String::from("flowchart TD\n");
    for &t in sel.ids() {
        let _ = writeln!(out, "    t{}[\"{}\"]", t.0, mermaid_label(&labelled(g, t)));
    }
    for (d, t) in edges(g, sel) {
        let _ = writeln!(out, "    t{} --> t{}", d.0, t.0);
    }
    out
}

/// A task name as the text of a quoted Mermaid label (`t0["…"]`), with Mermaid's entity codes
/// (`#quot;`, `#lt;`, `#35;`, …, which Mermaid turns back into the characters) for what would
/// end the label or be read as markup or syntax:
///
/// - `"` would end the label; `<`, `>` and `&` would be HTML in the drawing (a task named
///   `<img src=x onerror=…>`); `` ` `` would make a Markdown string;
/// - `#` would start an entity code of its own (a name containing `#lt;` is shown as written);
/// - `:` and `%` would let Mermaid's preprocessing read a `style …:…#…;` or `%%{…}%%` in it.
///
/// Names cannot hold control characters (the graph refuses them); any is shown as a space.
fn mermaid_label(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '#' => out.push_str("#35;"),
            '%' => out.push_str("#37;"),
            ':' => out.push_str("#58;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn dot_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

fn dot(g: &Graph, sel: &Selection) -> String {
    let mut out = String::from("digraph legato {\n    rankdir=LR;\n    node [shape=box];\n");
    for &t in sel.ids() {
        let mut attrs: Vec<String> = Vec::new();
        if marks(g.options(t)).is_some() {
            attrs.push(format!("label={}", dot_quote(&labelled(g, t))));
            if g.options(t).conditional {
                attrs.push("style=dashed".to_owned());
            }
        }
        if let Some(d) = g.description(t) {
            attrs.push(format!("tooltip={}", dot_quote(d)));
        }
        if attrs.is_empty() {
            let _ = writeln!(out, "    {};", dot_quote(g.name(t)));
        } else {
            let _ = writeln!(out, "    {} [{}];", dot_quote(g.name(t)), attrs.join(", "));
        }
    }
    for (d, t) in edges(g, sel) {
        let _ = writeln!(
            out,
            "    {} -> {};",
            dot_quote(g.name(d)),
            dot_quote(g.name(t))
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphBuilder, TaskSpec};

    fn graph(specs: &[(&str, &[&str])]) -> Graph {
        let mut b = GraphBuilder::new();
        for (name, deps) in specs {
            b.add(TaskSpec::new(*name).after(deps.iter().copied()))
                .unwrap();
        }
        b.build().unwrap()
    }

    fn spry_mixed() -> Graph {
        graph(&[
            ("install-deps", &[]),
            ("compile-ts", &["install-deps"]),
            ("compile-sass", &["install-deps"]),
            ("run-tests", &["compile-ts"]),
            ("build-bundle", &["compile-ts", "compile-sass"]),
            ("deploy", &["run-tests", "build-bundle"]),
        ])
    }

    #[test]
    fn ascii_tree_of_a_diamond_chain() {
        assert_eq!(
            spry_mixed().to_ascii(),
            "\
install-deps
├─▶ compile-ts
│   ├─▶ run-tests
│   │   └─▶ deploy
│   └─▶ build-bundle
│       └─▶ deploy (*)
└─▶ compile-sass
    └─▶ build-bundle (*)
(*) already drawn above
"
        );
    }

    #[test]
    fn ascii_of_independent_roots_and_a_selection() {
        let g = graph(&[("a", &[]), ("b", &[]), ("c", &["a"])]);
        assert_eq!(g.to_ascii(), "a\n└─▶ c\nb\n");
        let sel = g.select(["a"]).unwrap();
        assert_eq!(g.render(Format::Ascii, &sel), "a\n");
        assert_eq!(GraphBuilder::new().build().unwrap().to_ascii(), "");
    }

    #[test]
    fn ascii_of_a_long_chain_does_not_recurse() {
        let mut b = GraphBuilder::new();
        b.add(TaskSpec::new("t0")).unwrap();
        for i in 1..5000 {
            b.add(TaskSpec::new(format!("t{i}")).after([format!("t{}", i - 1)]))
                .unwrap();
        }
        let g = b.build().unwrap();
        let s = g.to_ascii();
        // Every 24 levels the chain goes on from the left margin: one more line each time.
        let cuts = 4999 / MAX_ASCII_DEPTH;
        assert_eq!(s.lines().count(), 5000 + cuts + 1);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[lines.len() - 1], "(↓) continued below");
        assert!(lines[lines.len() - 2].ends_with("└─▶ t4999"));
        assert!(lines
            .iter()
            .all(|l| l.chars().count() <= 4 * MAX_ASCII_DEPTH + 12));
    }

    #[test]
    fn ascii_of_a_chain_deeper_than_the_indentation_goes_on_below() {
        let names: Vec<String> = (0..=MAX_ASCII_DEPTH + 2).map(|i| format!("t{i}")).collect();
        let specs: Vec<(&str, Vec<&str>)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.as_str(),
                    if i == 0 {
                        vec![]
                    } else {
                        vec![names[i - 1].as_str()]
                    },
                )
            })
            .collect();
        let specs: Vec<(&str, &[&str])> = specs.iter().map(|(n, d)| (*n, &d[..])).collect();
        let s = graph(&specs).to_ascii();
        let lines: Vec<&str> = s.lines().collect();
        let pad = "    ".repeat(MAX_ASCII_DEPTH - 1);
        assert_eq!(lines[MAX_ASCII_DEPTH], format!("{pad}└─▶ t24 (↓)"));
        assert_eq!(
            lines[MAX_ASCII_DEPTH + 1..],
            ["t24", "└─▶ t25", "    └─▶ t26", "(↓) continued below"]
        );
    }

    #[test]
    fn drawings_show_keys_conditions_and_trigger_rules() {
        use crate::policy::{TaskOptions, Trigger};
        let mut b = GraphBuilder::new();
        b.add(TaskSpec::new("migrate").options(TaskOptions::default().uses("db").uses("net")))
            .unwrap();
        b.add(
            TaskSpec::new("seed")
                .after(["migrate"])
                .options(TaskOptions::default().conditional(true)),
        )
        .unwrap();
        b.add(
            TaskSpec::new("down")
                .after(["seed"])
                .options(TaskOptions::default().trigger(Trigger::AllDone)),
        )
        .unwrap();
        let g = b.build().unwrap();
        assert_eq!(
            g.to_ascii(),
            "migrate [uses db, net]\n└─▶ seed [when]\n    └─▶ down [trigger all_done]\n"
        );
        assert!(g.to_mermaid().contains("t1[\"seed [when]\"]"));
        assert!(g.to_mermaid().contains("t2[\"down [trigger all_done]\"]"));
        let dot = g.to_dot();
        assert!(
            dot.contains("\"seed\" [label=\"seed [when]\", style=dashed];"),
            "{dot}"
        );
        assert!(
            dot.contains("\"migrate\" [label=\"migrate [uses db, net]\"];"),
            "{dot}"
        );
        // Edges name tasks, never their marks.
        assert!(dot.contains("\"migrate\" -> \"seed\";"));
    }

    #[test]
    fn mermaid_flowchart() {
        let g = graph(&[("a \"quoted\"", &[]), ("b", &["a \"quoted\""])]);
        assert_eq!(
            g.to_mermaid(),
            "flowchart TD\n    t0[\"a #quot;quoted#quot;\"]\n    t1[\"b\"]\n    t0 --> t1\n"
        );
    }

    #[test]
    fn mermaid_labels_escape_markup_and_syntax() {
        let g = graph(&[
            ("<img src=x onerror=alert(1)>", &[]),
            ("a & b", &["<img src=x onerror=alert(1)>"]),
            ("#lt; stays", &["a & b"]),
            ("db:migrate 100%", &[]),
            ("`md` \"q\" ünï", &["db:migrate 100%"]),
        ]);
        assert_eq!(
            g.to_mermaid(),
            "flowchart TD
    t0[\"#lt;img src=x onerror=alert(1)#gt;\"]
    t1[\"a #amp; b\"]
    t2[\"#35;lt; stays\"]
    t3[\"db#58;migrate 100#37;\"]
    t4[\"#96;md#96; #quot;q#quot; ünï\"]
    t0 --> t1
    t1 --> t2
    t3 --> t4
"
        );
        // Nothing raw is left that Mermaid or a page could read as markup or syntax: every
        // label is one quoted string, and each '#' starts one of our entity codes.
        for line in g.to_mermaid().lines().skip(1).filter(|l| l.contains('[')) {
            let label = &line[line.find("[\"").unwrap() + 2..line.len() - 2];
            assert!(
                !label.contains(['"', '<', '>', '&', ':', '%', '`']),
                "{line}"
            );
            for (i, _) in label.match_indices('#') {
                let code = &label[i + 1..i + 1 + label[i + 1..].find(';').unwrap()];
                assert!(
                    ["quot", "lt", "gt", "amp", "35", "37", "58", "96"].contains(&code),
                    "{line}"
                );
            }
        }
    }

    #[test]
    fn dot_digraph_with_escapes_and_tooltips() {
        let mut b = GraphBuilder::new();
        b.add(TaskSpec::new("a\\b").description("say \"hi\""))
            .unwrap();
        b.add(TaskSpec::new("c").after(["a\\b"])).unwrap();
        let g = b.build().unwrap();
        assert_eq!(
            g.to_dot(),
            "digraph legato {\n    rankdir=LR;\n    node [shape=box];\n    \"a\\\\b\" [tooltip=\"say \\\"hi\\\"\"];\n    \"c\";\n    \"a\\\\b\" -> \"c\";\n}\n"
        );
    }

    #[test]
    fn every_edge_is_drawn_once_in_every_format() {
        let g = spry_mixed();
        let ascii_edges = g.to_ascii().lines().filter(|l| l.contains('▶')).count();
        let mermaid_edges = g.to_mermaid().matches("-->").count();
        let dot_edges = g.to_dot().matches("->").count();
        assert_eq!(ascii_edges, g.edge_count());
        assert_eq!(mermaid_edges, g.edge_count());
        assert_eq!(dot_edges, g.edge_count());
    }

    #[test]
    fn format_parses() {
        assert_eq!("mermaid".parse::<Format>(), Ok(Format::Mermaid));
        assert_eq!("DOT".parse::<Format>(), Ok(Format::Dot));
        assert_eq!("ascii".parse::<Format>(), Ok(Format::Ascii));
        assert!("svg".parse::<Format>().is_err());
    }
}

//! Property tests of the graph model on random DAGs.

use legato::graph::{Graph, GraphBuilder, GraphError, TaskId, TaskSpec};
use proptest::prelude::*;
use std::collections::HashSet;

/// A random DAG as edge lists: task `i` may only depend on tasks `< i`, so it is acyclic.
/// Tasks are declared in a shuffled order so forward references are exercised too.
fn dag() -> impl Strategy<Value = (Vec<Vec<usize>>, Vec<usize>)> {
    (1usize..40).prop_flat_map(|n| {
        let deps = (0..n)
            .map(|i| {
                if i == 0 {
                    Just(Vec::new()).boxed()
                } else {
                    proptest::collection::vec(0..i, 0..4).boxed()
                }
            })
            .collect::<Vec<_>>();
        let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
        (deps, order)
    })
}

fn build(
    deps: &[Vec<usize>],
    order: &[usize],
    extra: Option<(usize, usize)>,
) -> Result<Graph, GraphError> {
    let mut b = GraphBuilder::new();
    for &i in order {
        let mut names: Vec<String> = deps[i].iter().map(|d| format!("n{d}")).collect();
        if let Some((from, to)) = extra {
            if from == i {
                names.push(format!("n{to}"));
            }
        }
        b.add(TaskSpec::new(format!("n{i}")).after(names))?;
    }
    b.build()
}

fn ancestors(deps: &[Vec<usize>], target: usize) -> HashSet<usize> {
    let mut seen = HashSet::from([target]);
    let mut stack = vec![target];
    while let Some(t) = stack.pop() {
        for &d in &deps[t] {
            if seen.insert(d) {
                stack.push(d);
            }
        }
    }
    seen
}

proptest! {
    #[test]
    fn random_dags_validate_and_order_respects_every_edge((deps, order) in dag()) {
        let g = build(&deps, &order, None).unwrap();
        prop_assert_eq!(g.len(), deps.len());
        let topo = g.topo_order();
        prop_assert_eq!(topo.len(), g.len());
        let mut pos = vec![usize::MAX; g.len()];
        for (p, t) in topo.iter().enumerate() {
            prop_assert_eq!(pos[t.index()], usize::MAX, "task listed twice");
            pos[t.index()] = p;
        }
        for t in g.ids() {
            for &d in g.deps(t) {
                prop_assert!(pos[d.index()] < pos[t.index()]);
                prop_assert!(g.level(d) < g.level(t));
                prop_assert!(g.dependents(d).contains(&t));
            }
            // Levels are tight: a task of level l > 0 has a dependency of level l - 1.
            if g.level(t) > 0 {
                prop_assert!(g.deps(t).iter().any(|&d| g.level(d) + 1 == g.level(t)));
            }
        }
        // Each plan level keeps declaration order.
        for level in g.plan(&g.all()).levels {
            prop_assert!(level.windows(2).all(|w| w[0] < w[1]));
        }
    }

    #[test]
    fn a_back_edge_always_yields_a_real_cycle(
        (deps, order) in dag(),
        pick in any::<proptest::sample::Index>(),
    ) {
        // Choose a task `i` and one of its ancestors `d`, then make `d` depend on `i`.
        let pairs: Vec<(usize, usize)> = (0..deps.len())
            .flat_map(|i| {
                let mut a: Vec<usize> = ancestors(&deps, i).into_iter().filter(|&a| a != i).collect();
                a.sort_unstable();
                a.into_iter().map(move |d| (i, d))
            })
            .collect();
        prop_assume!(!pairs.is_empty());
        let (i, d) = pairs[pick.index(pairs.len())];
        let err = build(&deps, &order, Some((d, i))).unwrap_err();
        let GraphError::Cycle { path } = &err else {
            return Err(TestCaseError::fail(format!("expected a cycle, got {err}")));
        };
        prop_assert!(path.len() >= 2);
        prop_assert_eq!(path.first(), path.last());
        let inner = &path[..path.len() - 1];
        let distinct: HashSet<&String> = inner.iter().collect();
        prop_assert_eq!(distinct.len(), inner.len(), "a cycle visits each task once");
        // Every consecutive pair is a real dependency (with the added back edge).
        for w in path.windows(2) {
            let a: usize = w[0][1..].parse().unwrap();
            let b: usize = w[1][1..].parse().unwrap();
            prop_assert!(deps[a].contains(&b) || (a, b) == (d, i), "{} does not depend on {}", w[0], w[1]);
        }
        // Deterministic: building again reports the same cycle.
        prop_assert_eq!(build(&deps, &order, Some((d, i))).unwrap_err(), err.clone());
        prop_assert!(err.to_string().starts_with("Circular dependency detected: "));
    }

    #[test]
    fn a_selection_is_exactly_the_ancestors((deps, order) in dag(), pick in any::<proptest::sample::Index>()) {
        let g = build(&deps, &order, None).unwrap();
        let target = pick.index(deps.len());
        let sel = g.select([format!("n{target}")]).unwrap();
        let got: HashSet<usize> = sel.ids().iter().map(|t| g.name(*t)[1..].parse().unwrap()).collect();
        prop_assert_eq!(got, ancestors(&deps, target));
        prop_assert!(sel.ids().windows(2).all(|w| w[0] < w[1]));
        let planned: Vec<TaskId> = g.plan(&sel).order().collect();
        prop_assert_eq!(planned.len(), sel.len());
    }

    #[test]
    fn a_missing_dependency_is_named(
        (deps, order) in dag(),
        pick in any::<proptest::sample::Index>(),
    ) {
        let from = pick.index(deps.len());
        let mut b = GraphBuilder::new();
        for &i in &order {
            let mut names: Vec<String> = deps[i].iter().map(|d| format!("n{d}")).collect();
            if i == from {
                names.push("ghost".into());
            }
            b.add(TaskSpec::new(format!("n{i}")).after(names)).unwrap();
        }
        match b.build().unwrap_err() {
            GraphError::MissingDependency { task, dependency, .. } => {
                prop_assert_eq!(task, format!("n{from}"));
                prop_assert_eq!(dependency, "ghost");
            }
            other => return Err(TestCaseError::fail(format!("unexpected {other}"))),
        }
    }
}

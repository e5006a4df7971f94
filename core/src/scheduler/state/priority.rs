//! `critical_path` priority: each task's upward rank (HEFT's), the longest path from the task
//! to a sink counting every task's cost on it, its own included. Ready tasks start in
//! decreasing rank; ties by readiness, then declaration order (rule 2).

use crate::graph::{Graph, TaskId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A task's cost when nothing is known: one second.
const UNKNOWN_COST: Duration = Duration::from_secs(1);

/// Each task's cost: its `cost` option, else its duration in `known` (a previous report), else
/// the mean of the costs so known, else one second.
pub(super) fn costs(graph: &Graph, known: &HashMap<Arc<str>, Duration>) -> Vec<Duration> {
    let mut costs: Vec<Option<Duration>> = graph
        .ids()
        .map(|id| {
            graph
                .options(id)
                .cost
                .or_else(|| known.get(graph.name(id)).copied())
        })
        .collect();
    let given: Vec<Duration> = costs.iter().flatten().copied().collect();
    let fallback = if given.is_empty() {
        UNKNOWN_COST
    } else {
        let total: u128 = given.iter().map(Duration::as_nanos).sum();
        Duration::from_nanos(u64::try_from(total / given.len() as u128).unwrap_or(u64::MAX))
    };
    costs.iter_mut().map(|c| c.unwrap_or(fallback)).collect()
}

/// The order key of each task: `u64::MAX` minus its upward rank in nanoseconds (saturating),
/// so that sorting keys ascending puts the longest remaining path first. Iterative: tasks are
/// visited by decreasing level (every dependent's level is greater than its dependency's).
pub(super) fn rank_keys(graph: &Graph, known: &HashMap<Arc<str>, Duration>) -> Vec<u64> {
    let cost = costs(graph, known);
    let n = graph.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&t| std::cmp::Reverse(graph.level(TaskId(t))));
    let mut rank = vec![0u64; n];
    for t in order {
        let below = graph
            .dependents(TaskId(t))
            .iter()
            .map(|d| rank[d.index()])
            .max()
            .unwrap_or(0);
        let own = u64::try_from(cost[t as usize].as_nanos()).unwrap_or(u64::MAX);
        rank[t as usize] = own.saturating_add(below);
    }
    rank.into_iter().map(|r| u64::MAX - r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{GraphBuilder, TaskSpec};
    use crate::policy::TaskOptions;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_rank_is_the_longest_path_to_a_sink() {
        // a(1) -> b(5) -> d(1); a -> c(2) -> d
        let mut b = GraphBuilder::new();
        let opts = |c| TaskOptions::default().cost(ms(c));
        b.add(TaskSpec::new("d").options(opts(1)).after(["b", "c"]))
            .unwrap();
        b.add(TaskSpec::new("a").options(opts(1))).unwrap();
        b.add(TaskSpec::new("b").options(opts(5)).after(["a"]))
            .unwrap();
        b.add(TaskSpec::new("c").options(opts(2)).after(["a"]))
            .unwrap();
        let g = b.build().unwrap();
        let keys = rank_keys(&g, &HashMap::new());
        let rank = |name| u64::MAX - keys[g.resolve(name).unwrap().index()];
        assert_eq!(rank("d"), 1_000_000);
        assert_eq!(rank("b"), 6_000_000);
        assert_eq!(rank("c"), 3_000_000);
        assert_eq!(rank("a"), 7_000_000);
    }

    #[test]
    fn costs_come_from_options_then_a_report_then_their_mean() {
        let mut b = GraphBuilder::new();
        b.add(TaskSpec::new("a").options(TaskOptions::default().cost(ms(10))))
            .unwrap();
        b.add(TaskSpec::new("b")).unwrap();
        b.add(TaskSpec::new("c")).unwrap();
        let g = b.build().unwrap();
        let known = HashMap::from([(Arc::from("b"), ms(30)), (Arc::from("a"), ms(99))]);
        assert_eq!(costs(&g, &known), [ms(10), ms(30), ms(20)]);
        assert_eq!(costs(&g, &HashMap::new()), [ms(10), ms(10), ms(10)]);
        let mut b = GraphBuilder::new();
        b.add(TaskSpec::new("x")).unwrap();
        let g = b.build().unwrap();
        assert_eq!(costs(&g, &HashMap::new()), [UNKNOWN_COST]);
    }
}

//! The graphs of DESIGN.md's workloads, identical in every language.
//!
//! A workload is a [`Dag`]: task names, each task's dependencies (indices of earlier tasks),
//! what every task's body does, and the run's options (retries, `max_parallel`). Every runner
//! (legato, the hand-rolled floor, dagrs) is handed the same `Dag`.

use legato::graph::TaskSpec;
use std::time::Duration;

/// DESIGN.md's generator: `s = s * 6364136223846793005 + 1442695040888963407 (mod 2^64)`,
/// starting at 42; each draw returns `s >> 33`.
#[derive(Debug, Clone)]
pub(crate) struct Lcg(u64);

impl Lcg {
    /// The generator at its agreed seed.
    pub(crate) fn new() -> Self {
        Lcg(42)
    }

    /// The next draw.
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// What every task of a workload does, per attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Body {
    /// Returns at once.
    Noop,
    /// `tokio::time::sleep` for that long, then returns.
    Sleep(Duration),
    /// Fails on attempts 1 and 2, succeeds on attempt 3.
    FailTwice,
}

impl Body {
    /// One attempt of the body (attempts count from 1): what the hand-rolled runner and
    /// dagrs run; legato's closures do exactly the same.
    pub(crate) async fn attempt(self, attempt: u32) -> Result<(), &'static str> {
        match self {
            Body::Noop => Ok(()),
            Body::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
            Body::FailTwice if attempt <= 2 => Err("transient failure"),
            Body::FailTwice => Ok(()),
        }
    }
}

/// One workload's graph and options.
#[derive(Debug, Clone)]
pub(crate) struct Dag {
    /// Task names, `t0, t1, …` (or `l{L}_{i}` for W4).
    pub(crate) names: Vec<String>,
    /// Each task's dependencies: indices of tasks before it, without repeats.
    pub(crate) deps: Vec<Vec<u32>>,
    /// What each task does.
    pub(crate) body: Body,
    /// Retries per task (attempts = retries + 1).
    pub(crate) retries: u32,
    /// At most this many tasks at once.
    pub(crate) max_parallel: Option<usize>,
}

impl Dag {
    fn new(names: Vec<String>, deps: Vec<Vec<u32>>) -> Self {
        Dag {
            names,
            deps,
            body: Body::Noop,
            retries: 0,
            max_parallel: None,
        }
    }

    /// How many tasks.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }

    /// How many dependency edges.
    #[cfg(test)]
    pub(crate) fn edge_count(&self) -> usize {
        self.deps.iter().map(Vec::len).sum()
    }

    /// A fingerprint of the graph, the same in bench/taskflow/bench.cpp: FNV-1a over
    /// `(i << 32) | j` for every dependency `j` of every task `i`, in order, mixed as one
    /// 64-bit word each.
    pub(crate) fn checksum(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (i, deps) in self.deps.iter().enumerate() {
            for &j in deps {
                h = (h ^ ((i as u64) << 32 | u64::from(j))).wrapping_mul(0x100_0000_01b3);
            }
        }
        h
    }

    /// Each task's dependents (the reverse of `deps`).
    pub(crate) fn dependents(&self) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); self.len()];
        for (i, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                out[d as usize].push(i as u32);
            }
        }
        out
    }

    /// The graph as legato task specs (names and dependencies only).
    pub(crate) fn specs(&self) -> Vec<TaskSpec> {
        self.names
            .iter()
            .zip(&self.deps)
            .map(|(name, deps)| {
                TaskSpec::new(name.clone()).after(deps.iter().map(|&j| &self.names[j as usize]))
            })
            .collect()
    }
}

/// Names `t0 … t{n-1}`.
fn t_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("t{i}")).collect()
}

/// W1 wide: `n` independent no-op tasks plus a sink `sink` that depends on all of them.
pub(crate) fn wide(n: usize) -> Dag {
    let mut names = t_names(n);
    names.push("sink".to_owned());
    let mut deps = vec![Vec::new(); n];
    deps.push((0..n as u32).collect());
    Dag::new(names, deps)
}

/// W2 chain: `n` no-op tasks, each depending on the previous one.
pub(crate) fn chain(n: usize) -> Dag {
    let deps = (0..n as u32)
        .map(|i| if i == 0 { Vec::new() } else { vec![i - 1] })
        .collect();
    Dag::new(t_names(n), deps)
}

/// W3 random DAG of `n` no-op tasks: for `i > 0`, `k = 1 + next() % 3`, then `k` times
/// `j = next() % i`, and task `i` depends on `tj` unless already chosen.
pub(crate) fn random_dag(n: usize) -> Dag {
    let mut lcg = Lcg::new();
    let mut deps = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let mut chosen: Vec<u32> = Vec::with_capacity(3);
        if i > 0 {
            let k = 1 + lcg.next() % 3;
            for _ in 0..k {
                let j = (lcg.next() % i) as u32;
                if !chosen.contains(&j) {
                    chosen.push(j);
                }
            }
        }
        deps.push(chosen);
    }
    Dag::new(t_names(n), deps)
}

/// graph-scale's DAG (not W3): `n` tasks with exactly three distinct dependencies each
/// from `t3` on, so 100,000 tasks have 299,994 edges (`3n - 6`). Task `i` draws
/// `j = next() % i` until it holds three distinct values; `t1` depends on `t0` and `t2` on
/// `t0` and `t1`.
pub(crate) fn scale_dag(n: usize) -> Dag {
    let mut lcg = Lcg::new();
    let mut deps = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let chosen: Vec<u32> = if i < 3 {
            (0..i as u32).collect()
        } else {
            let mut chosen = Vec::with_capacity(3);
            while chosen.len() < 3 {
                let j = (lcg.next() % i) as u32;
                if !chosen.contains(&j) {
                    chosen.push(j);
                }
            }
            chosen
        };
        deps.push(chosen);
    }
    Dag::new(t_names(n), deps)
}

/// W4 sleep: 200 tasks `l{L}_{i}` in 4 layers of 50, each sleeping `sleep`; for `L > 0`
/// each task draws `a = next() % 50`, `b = next() % 50` and depends on `l{L-1}_a` and
/// `l{L-1}_b` (once when `a = b`); `max_parallel = 50`.
pub(crate) fn layers(sleep: Duration) -> Dag {
    const LAYERS: u32 = 4;
    const WIDTH: u32 = 50;
    let mut lcg = Lcg::new();
    let mut names = Vec::new();
    let mut deps = Vec::new();
    for l in 0..LAYERS {
        for i in 0..WIDTH {
            names.push(format!("l{l}_{i}"));
            let mut d = Vec::new();
            if l > 0 {
                let a = (lcg.next() % WIDTH as u64) as u32;
                let b = (lcg.next() % WIDTH as u64) as u32;
                d.push((l - 1) * WIDTH + a);
                if b != a {
                    d.push((l - 1) * WIDTH + b);
                }
            }
            deps.push(d);
        }
    }
    let mut dag = Dag::new(names, deps);
    dag.body = Body::Sleep(sleep);
    dag.max_parallel = Some(WIDTH as usize);
    dag
}

/// W5 retry: `n` independent tasks that fail twice and succeed on the third attempt
/// (retries 2, no delay).
pub(crate) fn retry(n: usize) -> Dag {
    let mut dag = Dag::new(t_names(n), vec![Vec::new(); n]);
    dag.body = Body::FailTwice;
    dag.retries = 2;
    dag
}

/// W6 priority: 300 tasks; for `i > 0`: `k = next() % 4`, then k times
/// `j = i - 1 - next() % min(i, 10)`, depend on `tj` unless already chosen; task i sleeps
/// `1 + next() % 20` ms (drawn after its dependencies); `max_parallel = 4`. Returns the
/// dependencies and each task's sleep.
pub(crate) fn priority_dag() -> (Vec<Vec<u32>>, Vec<Duration>) {
    let mut lcg = Lcg::new();
    let mut deps = Vec::with_capacity(300);
    let mut sleeps = Vec::with_capacity(300);
    for i in 0..300u64 {
        let mut chosen: Vec<u32> = Vec::new();
        if i > 0 {
            for _ in 0..lcg.next() % 4 {
                let j = (i - 1 - lcg.next() % i.min(10)) as u32;
                if !chosen.contains(&j) {
                    chosen.push(j);
                }
            }
        }
        deps.push(chosen);
        sleeps.push(Duration::from_millis(1 + lcg.next() % 20));
    }
    (deps, sleeps)
}

/// W6's lower bound on the makespan: max(critical path 553 ms, total work 3,221 ms / 4).
pub(crate) const W6_BOUND_MS: f64 = 805.25;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_matches_the_agreed_sequence() {
        let mut lcg = Lcg::new();
        let s1 = 42u64
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let s2 = s1
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        assert_eq!(lcg.next(), s1 >> 33);
        assert_eq!(lcg.next(), s2 >> 33);
    }

    fn check_back_edges(dag: &Dag, counts: std::ops::RangeInclusive<usize>) {
        assert!(dag.deps[0].is_empty());
        for (i, deps) in dag.deps.iter().enumerate().skip(1) {
            assert!(counts.contains(&deps.len()), "task {i}: {deps:?}");
            for (a, &d) in deps.iter().enumerate() {
                assert!((d as usize) < i);
                assert!(!deps[..a].contains(&d));
            }
        }
    }

    #[test]
    fn random_dag_only_points_back_and_never_repeats_a_dependency() {
        let dag = random_dag(1000);
        assert_eq!(dag.names[999], "t999");
        check_back_edges(&dag, 1..=3);
    }

    #[test]
    fn scale_dag_has_three_distinct_dependencies_per_task() {
        let dag = scale_dag(1000);
        check_back_edges(&dag, 1..=3);
        assert!(dag.deps[3..].iter().all(|d| d.len() == 3));
        assert_eq!(dag.edge_count(), 3 * 1000 - 6);
    }

    #[test]
    fn w6_has_designs_totals() {
        let (deps, sleeps) = priority_dag();
        let total: Duration = sleeps.iter().sum();
        assert_eq!(total, Duration::from_millis(3221));
        // The critical path: the longest chain of sleeps.
        let mut longest = vec![Duration::ZERO; deps.len()];
        for i in 0..deps.len() {
            let before = deps[i].iter().map(|&d| longest[d as usize]).max();
            longest[i] = before.unwrap_or_default() + sleeps[i];
        }
        assert_eq!(longest.iter().max(), Some(&Duration::from_millis(553)));
        assert!((W6_BOUND_MS - 3221.0 / 4.0).abs() < 1e-9);
    }

    #[test]
    fn the_checksum_tells_graphs_apart() {
        let (w3, w1) = (random_dag(10_000), wide(10_000));
        assert_eq!(w3.checksum(), random_dag(10_000).checksum());
        assert_ne!(w3.checksum(), w1.checksum());
        // Dependencies in another order, or one dependency changed.
        let i = (0..w3.len()).find(|&i| w3.deps[i].len() > 1).unwrap();
        let mut reordered = w3.clone();
        reordered.deps[i].reverse();
        assert_ne!(reordered.checksum(), w3.checksum());
        let mut changed = w3.clone();
        changed.deps[9999][0] ^= 1;
        assert_ne!(changed.checksum(), w3.checksum());
    }

    #[test]
    fn the_small_workloads_have_their_shapes() {
        let w1 = wide(10);
        assert_eq!((w1.len(), w1.edge_count()), (11, 10));
        assert_eq!(w1.dependents()[3], vec![10]);
        let w2 = chain(5);
        assert_eq!(w2.deps[4], vec![3]);
        let w4 = layers(Duration::from_millis(10));
        assert_eq!(w4.len(), 200);
        assert_eq!(w4.names[50], "l1_0");
        assert!(w4.deps[50..].iter().all(|d| (1..=2).contains(&d.len())));
        assert!(w4.deps[50..100].iter().flatten().all(|&d| d < 50));
        let w5 = retry(4);
        assert_eq!((w5.len(), w5.retries, w5.edge_count()), (4, 2, 0));
    }
}

//! The implementations under test: legato, the hand-rolled tokio runner (the floor), the
//! `dagx` crate (with the `dagx` feature) and the `dagrs` crate (with the `dagrs` feature).
//!
//! Each one is handed a [`Dag`] (names and dependencies). What a user writes once is done
//! outside the timed region: adding the tasks to a legato `Flow`, the tasks and their
//! dependencies to a dagx `DagRunner`, the nodes and edges to a dagrs `Graph`. One run is timed:
//! legato's `flow.run()` (which builds and validates its `Graph`), the hand-rolled runner
//! counting in-degrees and dependents and running, dagx's `run()`, dagrs's `async_start()`. Then the run is checked (every task ran, with the expected number of
//! attempts) outside the timed region.

use crate::workload::{Body, Dag};
use std::time::{Duration, Instant};

/// An implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Impl {
    Legato,
    HandRolled,
    Dagx,
    Dagrs,
}

impl Impl {
    /// Every implementation, legato first, the floor second.
    pub(crate) const ALL: [Impl; 4] = [Impl::Legato, Impl::HandRolled, Impl::Dagx, Impl::Dagrs];

    /// The name used in tables and in `results.json`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Impl::Legato => "legato",
            Impl::HandRolled => "hand-rolled",
            Impl::Dagx => "dagx",
            Impl::Dagrs => "dagrs",
        }
    }

    /// The implementation of that name.
    pub(crate) fn parse(name: &str) -> Option<Impl> {
        Impl::ALL.into_iter().find(|i| i.name() == name)
    }
}

/// The tokio runtime every implementation runs on: multi-thread, two workers, timers on.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))
}

/// Runs `dag` once with `imp` on `rt` and returns the time the run took (preparation and
/// checking not included).
///
/// The run's future is driven by `block_on`, as `#[tokio::main]` drives `main`.
///
/// # Errors
///
/// Why the implementation cannot run this workload, or how the run went wrong.
pub(crate) fn time_one(
    imp: Impl,
    dag: &Dag,
    rt: &tokio::runtime::Runtime,
) -> Result<Duration, String> {
    match imp {
        Impl::Legato => {
            let flow = legato_runner::flow(dag)?;
            let start = Instant::now();
            let report = rt.block_on(flow.run());
            let took = start.elapsed();
            legato_runner::check(dag, report)?;
            Ok(took)
        }
        Impl::HandRolled => {
            // Counting in-degrees and listing dependents is part of its run, as building the
            // `Graph` is part of legato's.
            let start = Instant::now();
            let prepared = std::sync::Arc::new(hand_rolled::Prepared::new(dag));
            let outcome = rt.block_on(hand_rolled::run(prepared));
            let took = start.elapsed();
            hand_rolled::check(dag, outcome)?;
            Ok(took)
        }
        Impl::Dagx => dagx_peer::time_one(dag, rt),
        Impl::Dagrs => dagrs_peer::time_one(dag, rt),
    }
}

/// legato: a `Flow` with one task per node of the DAG, run with `flow.run().await`.
pub(crate) mod legato_runner {
    use super::{Body, Dag};
    use legato::{BoxError, Flow, FlowError, RunReport, Status};

    /// The flow of `dag`: each task's body does what [`Body::attempt`] does.
    pub(crate) fn flow(dag: &Dag) -> Result<Flow, String> {
        let mut flow = Flow::new();
        if let Some(n) = dag.max_parallel {
            flow.max_parallel(n);
        }
        let err = |e: legato::GraphError| e.to_string();
        for (name, deps) in dag.names.iter().zip(&dag.deps) {
            let task = match dag.body {
                Body::Noop => flow
                    .task(name.as_str(), |_| async { Ok::<(), BoxError>(()) })
                    .map_err(err)?,
                Body::Sleep(d) => flow
                    .task(name.as_str(), move |_| async move {
                        tokio::time::sleep(d).await;
                        Ok::<(), BoxError>(())
                    })
                    .map_err(err)?,
                Body::FailTwice => flow
                    .task(name.as_str(), |cx| async move {
                        // The same error as the hand-rolled runner's and dagrs's bodies.
                        if cx.attempt() <= 2 {
                            Err::<(), &'static str>("transient failure")
                        } else {
                            Ok(())
                        }
                    })
                    .map_err(err)?,
            };
            task.after(deps.iter().map(|&j| &dag.names[j as usize]))
                .retries(dag.retries);
        }
        Ok(flow)
    }

    /// Checks that every task succeeded, after the expected number of attempts.
    pub(crate) fn check(dag: &Dag, report: Result<RunReport, FlowError>) -> Result<(), String> {
        let report = report.map_err(|e| format!("legato: {e}"))?;
        let attempts = dag.retries + 1;
        let expected = if dag.body == Body::FailTwice {
            attempts
        } else {
            1
        };
        let bad = report
            .tasks
            .iter()
            .find(|t| t.status != Status::Succeeded || t.attempts != expected);
        match bad {
            _ if report.tasks.len() != dag.len() => Err(format!(
                "legato ran {} tasks, not {}",
                report.tasks.len(),
                dag.len()
            )),
            Some(t) => Err(format!(
                "legato: task {} ended {:?} after {} attempts",
                t.name, t.status, t.attempts
            )),
            None => Ok(()),
        }
    }
}

/// The floor: the obvious runner anyone would write on tokio, in about 40 lines. Tasks whose
/// in-degree reaches 0 join a ready queue; while fewer than `max_parallel` run, the next ready
/// task is `tokio::spawn`ed; it runs its attempts (retries without delay) and reports its
/// completion over an unbounded mpsc channel to the coordinating future, which decrements its
/// dependents' in-degrees. Every hop from one task to the next crosses threads (spawn onto a
/// worker, send back to the coordinator).
pub(crate) mod hand_rolled {
    use super::{Body, Dag};
    use std::collections::VecDeque;
    use std::sync::Arc;
    use tokio::sync::mpsc;

    /// The DAG as the runner wants it: in-degrees and dependents.
    #[derive(Debug)]
    pub(crate) struct Prepared {
        indegree: Vec<u32>,
        dependents: Vec<Vec<u32>>,
        body: Body,
        retries: u32,
        max_parallel: usize,
    }

    impl Prepared {
        pub(crate) fn new(dag: &Dag) -> Self {
            Prepared {
                indegree: dag.deps.iter().map(|d| d.len() as u32).collect(),
                dependents: dag.dependents(),
                body: dag.body,
                retries: dag.retries,
                max_parallel: dag.max_parallel.unwrap_or(usize::MAX),
            }
        }
    }

    /// What a run did: tasks completed, attempts made in all.
    #[derive(Debug)]
    pub(crate) struct Outcome {
        completed: usize,
        attempts: u64,
    }

    /// Runs every task once its dependencies are done.
    pub(crate) async fn run(dag: Arc<Prepared>) -> Outcome {
        let n = dag.indegree.len();
        let mut indegree = dag.indegree.clone();
        let mut ready: VecDeque<u32> = (0..n as u32)
            .filter(|&i| indegree[i as usize] == 0)
            .collect();
        let (tx, mut rx) = mpsc::unbounded_channel::<(u32, u32)>();
        let (mut running, mut completed, mut attempts) = (0usize, 0usize, 0u64);
        loop {
            while running < dag.max_parallel {
                let Some(i) = ready.pop_front() else { break };
                let (tx, body, retries) = (tx.clone(), dag.body, dag.retries);
                tokio::spawn(async move {
                    let mut attempt = 1;
                    while body.attempt(attempt).await.is_err() && attempt <= retries {
                        attempt += 1;
                    }
                    let _ = tx.send((i, attempt));
                });
                running += 1;
            }
            if running == 0 {
                break;
            }
            let Some((i, tries)) = rx.recv().await else {
                break;
            };
            (running, completed, attempts) = (running - 1, completed + 1, attempts + tries as u64);
            for &j in &dag.dependents[i as usize] {
                indegree[j as usize] -= 1;
                if indegree[j as usize] == 0 {
                    ready.push_back(j);
                }
            }
        }
        Outcome {
            completed,
            attempts,
        }
    }

    /// Checks that every task ran, after the expected number of attempts.
    pub(crate) fn check(dag: &Dag, outcome: Outcome) -> Result<(), String> {
        let per_task = if dag.body == Body::FailTwice { 3 } else { 1 };
        if outcome.completed != dag.len() || outcome.attempts != (per_task * dag.len()) as u64 {
            return Err(format!(
                "hand-rolled: {} tasks completed in {} attempts, not {} in {}",
                outcome.completed,
                outcome.attempts,
                dag.len(),
                per_task * dag.len()
            ));
        }
        Ok(())
    }
}

/// dagrs (the crate, 0.9): a `Graph` of nodes joined by channels. dagrs starts every node of a
/// graph without loops or branches at once, as its own tokio task; a node waits for its
/// predecessors by receiving one message from each of its input channels, and signals its
/// successors by broadcasting one message when it is done. So each node here receives from
/// every input, runs the body, and broadcasts. Retries are dagrs's own (`Node::max_retries`,
/// with `retry_delay_ms` set to 0). dagrs has no limit on parallelism, so W4's
/// `max_parallel = 50` is a semaphore the node takes after its inputs arrived.
#[cfg(feature = "dagrs")]
mod dagrs_peer {
    use super::{Body, Dag};
    use dagrs::async_trait::async_trait;
    use dagrs::{
        Content, EnvVar, Graph, InChannels, Node, NodeId, NodeName, NodeTable, OutChannels, Output,
    };
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::sync::Semaphore;

    struct BenchNode {
        id: NodeId,
        name: NodeName,
        input: InChannels,
        output: OutChannels,
        body: Body,
        retries: u32,
        attempt: u32,
        inputs_received: bool,
        limit: Option<Arc<Semaphore>>,
    }

    #[async_trait]
    impl Node for BenchNode {
        fn id(&self) -> NodeId {
            self.id
        }

        fn name(&self) -> NodeName {
            self.name.clone()
        }

        fn input_channels(&mut self) -> &mut InChannels {
            &mut self.input
        }

        fn output_channels(&mut self) -> &mut OutChannels {
            &mut self.output
        }

        async fn run(&mut self, _env: Arc<EnvVar>) -> Output {
            if !self.inputs_received {
                // One message from each predecessor: they are all done.
                self.input.map(|_| ()).await;
                self.inputs_received = true;
            }
            let _permit = match &self.limit {
                Some(s) => Some(s.acquire().await.expect("the semaphore is never closed")),
                None => None,
            };
            self.attempt += 1;
            if let Err(e) = self.body.attempt(self.attempt).await {
                return Output::execution_failed(e);
            }
            self.output.broadcast(Content::new(())).await;
            Output::empty()
        }

        fn max_retries(&self) -> u32 {
            self.retries
        }

        fn retry_delay_ms(&self, _attempt: u32) -> u64 {
            0
        }
    }

    /// The dagrs graph of `dag` (built inside the runtime, as dagrs expects).
    fn graph(dag: &Dag) -> Result<Graph, String> {
        let err = |e: dagrs::DagrsError| format!("dagrs: {e}");
        let mut table = NodeTable::new();
        let limit = dag.max_parallel.map(|n| Arc::new(Semaphore::new(n)));
        let mut graph = Graph::new();
        let mut ids = Vec::with_capacity(dag.len());
        for name in &dag.names {
            let node = BenchNode {
                id: table.alloc_id_for(name),
                name: name.clone(),
                input: InChannels::default(),
                output: OutChannels::default(),
                body: dag.body,
                retries: dag.retries,
                attempt: 0,
                inputs_received: false,
                limit: limit.clone(),
            };
            ids.push(graph.add_node(node).map_err(err)?);
        }
        for (from, to) in dag.dependents().iter().enumerate() {
            if !to.is_empty() {
                graph
                    .add_edge(ids[from], to.iter().map(|&t| ids[t as usize]))
                    .map_err(err)?;
            }
        }
        Ok(graph)
    }

    pub(super) fn time_one(dag: &Dag, rt: &tokio::runtime::Runtime) -> Result<Duration, String> {
        let mut graph = rt.block_on(async { graph(dag) })?;
        let start = Instant::now();
        let report = rt.block_on(graph.async_start());
        let took = start.elapsed();
        let report = report.map_err(|e| format!("dagrs: {e}"))?;
        if report.status != dagrs::CompletionStatus::Succeeded {
            return Err(format!("dagrs: the run ended {:?}", report.status));
        }
        // Dropping a graph of 10,000 nodes and their channels is not part of the run.
        drop(graph);
        Ok(took)
    }
}

/// Without the `dagrs` feature, dagrs is not compiled in.
#[cfg(not(feature = "dagrs"))]
mod dagrs_peer {
    use super::Dag;
    use std::time::Duration;

    pub(super) fn time_one(_: &Dag, _: &tokio::runtime::Runtime) -> Result<Duration, String> {
        Err("not built: run with `--features dagrs` (as `make bench` does)".to_owned())
    }
}

/// dagx (the crate, 0.3): a `DagRunner` of typed tasks. A task's dependencies are a tuple of
/// up to 8 handles, whose outputs it receives; so every node here is one of nine task types,
/// by its number of inputs, each returning how many attempts it made (a `u32`). A task with
/// more than 8 dependencies (W1's and wide-1m's sink) waits for them through a tree of no-op
/// join tasks of 8 inputs each, which is how a dagx user has to write it. dagx runs the graph
/// layer by layer (every task of a topological level spawned, then awaited, before the next
/// level; a level of one task runs inline); tasks are spawned with `tokio::spawn`. dagx has no
/// retries: the task loops over its attempts, as the hand-rolled runner does. It has no limit
/// on parallelism: W4's `max_parallel = 50` is a semaphore the task takes first, as for dagrs.
#[cfg(feature = "dagx")]
pub(crate) mod dagx_peer {
    use super::{Body, Dag};
    use dagx::{task, DagRunner, Task, TaskHandle};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tokio::sync::Semaphore;

    /// What every task does: takes a permit (W4), then runs its attempts.
    #[derive(Clone)]
    struct Work {
        body: Body,
        retries: u32,
        limit: Option<Arc<Semaphore>>,
    }

    impl Work {
        /// Runs the attempts; returns how many were made.
        async fn run(&self) -> u32 {
            let _permit = match &self.limit {
                Some(s) => Some(s.acquire().await.expect("the semaphore is never closed")),
                None => None,
            };
            let mut attempt = 1;
            while self.body.attempt(attempt).await.is_err() && attempt <= self.retries {
                attempt += 1;
            }
            attempt
        }
    }

    /// A task type of `N` inputs (the dependencies' attempt counts, unused).
    macro_rules! node {
        ($name:ident $(, $input:ident)*) => {
            struct $name(Work);

            #[task]
            impl $name {
                // dagx passes each input as an argument: 8 inputs are 9 arguments.
                #[allow(clippy::too_many_arguments)]
                async fn run(&self $(, $input: &u32)*) -> u32 {
                    $(let _ = $input;)*
                    self.0.run().await
                }
            }
        };
    }

    node!(N0);
    node!(N1, a);
    node!(N2, a, b);
    node!(N3, a, b, c);
    node!(N4, a, b, c, d);
    node!(N5, a, b, c, d, e);
    node!(N6, a, b, c, d, e, f);
    node!(N7, a, b, c, d, e, f, g);
    node!(N8, a, b, c, d, e, f, g, h);

    /// Adds a task doing `work` after `deps` (at most 8).
    fn add(dag: &DagRunner, work: Work, deps: &[TaskHandle<u32>]) -> TaskHandle<u32> {
        match deps {
            [] => dag.add_task(N0(work)).into(),
            [a] => dag.add_task(N1(work)).depends_on(a),
            [a, b] => dag.add_task(N2(work)).depends_on((a, b)),
            [a, b, c] => dag.add_task(N3(work)).depends_on((a, b, c)),
            [a, b, c, d] => dag.add_task(N4(work)).depends_on((a, b, c, d)),
            [a, b, c, d, e] => dag.add_task(N5(work)).depends_on((a, b, c, d, e)),
            [a, b, c, d, e, f] => dag.add_task(N6(work)).depends_on((a, b, c, d, e, f)),
            [a, b, c, d, e, f, g] => dag.add_task(N7(work)).depends_on((a, b, c, d, e, f, g)),
            [a, b, c, d, e, f, g, h] => dag.add_task(N8(work)).depends_on((a, b, c, d, e, f, g, h)),
            _ => unreachable!("at most 8 inputs per dagx task"),
        }
    }

    /// The dagx graph of `dag`: the handles of its tasks, and how many join tasks it needed.
    fn graph(dag: &Dag) -> (DagRunner, Vec<TaskHandle<u32>>, usize) {
        let runner = DagRunner::new();
        let work = Work {
            body: dag.body,
            retries: dag.retries,
            limit: dag.max_parallel.map(|n| Arc::new(Semaphore::new(n))),
        };
        let join = Work {
            body: Body::Noop,
            retries: 0,
            limit: None,
        };
        let mut handles: Vec<TaskHandle<u32>> = Vec::with_capacity(dag.len());
        let mut joins = 0;
        for deps in &dag.deps {
            let mut inputs: Vec<TaskHandle<u32>> =
                deps.iter().map(|&d| handles[d as usize]).collect();
            while inputs.len() > 8 {
                inputs = inputs
                    .chunks(8)
                    .map(|c| add(&runner, join.clone(), c))
                    .collect();
                joins += inputs.len();
            }
            handles.push(add(&runner, work.clone(), &inputs));
        }
        (runner, handles, joins)
    }

    /// How many join tasks dagx needs for `dag` (0 when no task has more than 8 dependencies).
    pub(crate) fn joins(dag: &Dag) -> usize {
        dag.deps
            .iter()
            .map(|d| {
                let (mut n, mut joins) = (d.len(), 0);
                while n > 8 {
                    n = n.div_ceil(8);
                    joins += n;
                }
                joins
            })
            .sum()
    }

    pub(super) fn time_one(dag: &Dag, rt: &tokio::runtime::Runtime) -> Result<Duration, String> {
        let (runner, handles, _) = graph(dag);
        let start = Instant::now();
        let result = rt.block_on(runner.run(|fut| {
            tokio::spawn(fut);
        }));
        let took = start.elapsed();
        result.map_err(|e| format!("dagx: {e}"))?;
        let per_task = if dag.body == Body::FailTwice {
            dag.retries + 1
        } else {
            1
        };
        for (i, h) in handles.iter().enumerate() {
            let attempts: u32 = runner.get(*h).map_err(|e| format!("dagx: {e}"))?;
            if attempts != per_task {
                return Err(format!(
                    "dagx: task {} made {attempts} attempts, not {per_task}",
                    dag.names[i]
                ));
            }
        }
        // Dropping the runner and its outputs is not part of the run.
        drop(runner);
        Ok(took)
    }
}

/// Without the `dagx` feature, dagx is not compiled in.
#[cfg(not(feature = "dagx"))]
pub(crate) mod dagx_peer {
    use super::Dag;
    use std::time::Duration;

    pub(super) fn time_one(_: &Dag, _: &tokio::runtime::Runtime) -> Result<Duration, String> {
        Err("not built: run with `--features dagx` (as `make bench` does)".to_owned())
    }

    pub(crate) fn joins(_: &Dag) -> usize {
        0
    }
}

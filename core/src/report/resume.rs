//! Which tasks a resumed run restores from a report: one rule for every door.

use super::RunReport;
use crate::event::Status;
use crate::graph::{Graph, GraphError, TaskId};

impl RunReport {
    /// The tasks a run of `graph` resuming this report restores ([`Scheduler::restore`](crate::scheduler::Scheduler::restore)):
    /// each static task of the report (calls, which have a parent, are not resumed) that
    /// succeeded, as `(its id in graph, its index in self.tasks)`, in report order. Every
    /// static task's name is checked first.
    ///
    /// # Errors
    ///
    /// [`GraphError::UnknownTask`] naming the first task of the report that `graph` does not
    /// have (a report of another flow), with the closest name suggested.
    ///
    /// # Examples
    ///
    /// ```
    /// use legato::event::Status;
    /// use legato::graph::{GraphBuilder, TaskId, TaskSpec};
    /// use legato::report::{RunReport, TaskReport};
    ///
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("build")).unwrap();
    /// b.add(TaskSpec::new("test").after(["build"])).unwrap();
    /// let graph = b.build().unwrap();
    /// let mut report = RunReport::default();
    /// let mut build = TaskReport::new(TaskId::from_report_index(0), "build");
    /// build.status = Status::Succeeded;
    /// let mut test = TaskReport::new(TaskId::from_report_index(1), "test");
    /// test.status = Status::Failed;
    /// report.tasks = vec![build, test];
    /// assert_eq!(report.restorable(&graph).unwrap(), [(graph.resolve("build").unwrap(), 0)]);
    /// report.tasks[0].name = "biuld".into();
    /// assert_eq!(
    ///     report.restorable(&graph).unwrap_err().to_string(),
    ///     "Task \"biuld\" not found (did you mean \"build\"?)"
    /// );
    /// ```
    pub fn restorable(&self, graph: &Graph) -> Result<Vec<(TaskId, usize)>, GraphError> {
        let mut out = Vec::new();
        for (i, t) in self.tasks.iter().enumerate() {
            if t.parent.is_some() {
                continue;
            }
            let id = graph.resolve(&t.name)?;
            if t.status == Status::Succeeded {
                out.push((id, i));
            }
        }
        Ok(out)
    }
}

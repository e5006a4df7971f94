//! The declared graph of a `Flow`: names, dependencies and options, validated by the core.
//!
//! Python keeps the bodies; this keeps the specs and builds the core [`Graph`] once per change.

use crate::convert::Options;
use crate::errors::graph_error;
use legato::graph::{Graph, GraphBuilder, TaskSpec};
use pyo3::prelude::*;
use std::sync::Arc;

/// The graph part of a flow (internal; `legato.Flow` wraps it).
#[pyclass(module = "legato._legato")]
pub struct FlowCore {
    specs: Vec<TaskSpec>,
    names: GraphBuilder,
    graph: Option<Arc<Graph>>,
}

impl FlowCore {
    /// The validated graph (built once until the next change).
    pub(crate) fn graph(&mut self) -> PyResult<Arc<Graph>> {
        if let Some(g) = &self.graph {
            return Ok(g.clone());
        }
        let edges = self.specs.iter().map(|s| s.deps().len()).sum();
        let mut b = GraphBuilder::with_capacity(self.specs.len(), edges);
        for s in &self.specs {
            b.add_ref(s).map_err(|e| graph_error(&e))?;
        }
        let g = Arc::new(b.build().map_err(|e| graph_error(&e))?);
        self.graph = Some(g.clone());
        Ok(g)
    }
}

#[pymethods]
impl FlowCore {
    #[new]
    fn new() -> Self {
        FlowCore {
            specs: Vec::new(),
            names: GraphBuilder::new(),
            graph: None,
        }
    }

    /// Adds a task; refuses a duplicate or invalid name. Returns its index.
    #[pyo3(signature = (name, deps, options = None, description = None))]
    fn add(
        &mut self,
        name: String,
        deps: Vec<String>,
        options: Option<PyRef<'_, Options>>,
        description: Option<String>,
    ) -> PyResult<usize> {
        self.names
            .add(TaskSpec::new(name.clone()))
            .map_err(|e| graph_error(&e))?;
        let mut spec = TaskSpec::new(name).after(deps);
        if let Some(o) = options {
            spec = spec.options((*o.inner).clone());
        }
        if let Some(d) = description {
            spec = spec.description(d);
        }
        self.specs.push(spec);
        self.graph = None;
        Ok(self.specs.len() - 1)
    }

    /// Adds dependencies to task `index` (repeats are ignored).
    fn add_deps(&mut self, index: usize, deps: Vec<String>) -> PyResult<()> {
        let spec = self
            .specs
            .get_mut(index)
            .ok_or_else(|| pyo3::exceptions::PyIndexError::new_err("no such task"))?;
        let mut s = std::mem::replace(spec, TaskSpec::new(""));
        let missing: Vec<String> = deps.into_iter().filter(|d| !s.deps().contains(d)).collect();
        s = s.after(missing);
        *spec = s;
        self.graph = None;
        Ok(())
    }

    /// The names in declaration order.
    fn names(&self) -> Vec<String> {
        self.specs.iter().map(|s| s.name().to_owned()).collect()
    }

    /// The dependencies of task `index`.
    fn deps(&self, index: usize) -> Vec<String> {
        self.specs
            .get(index)
            .map(|s| s.deps().to_vec())
            .unwrap_or_default()
    }

    /// The description of task `index`.
    fn description(&self, index: usize) -> Option<String> {
        self.specs
            .get(index)
            .and_then(|s| s.get_description().map(str::to_owned))
    }

    fn __len__(&self) -> usize {
        self.specs.len()
    }

    /// Validates the whole graph (cycle, missing dependency) and the targets.
    fn check(&mut self, targets: Vec<String>) -> PyResult<()> {
        let g = self.graph()?;
        if !targets.is_empty() {
            g.select(&targets).map_err(|e| graph_error(&e))?;
        }
        Ok(())
    }

    /// The dry run: levels of names, in order, for `targets` (all when empty).
    fn plan(&mut self, targets: Vec<String>) -> PyResult<Vec<Vec<String>>> {
        let g = self.graph()?;
        let sel = if targets.is_empty() {
            g.all()
        } else {
            g.select(&targets).map_err(|e| graph_error(&e))?
        };
        Ok(g.plan(&sel)
            .names(&g)
            .into_iter()
            .map(|l| l.into_iter().map(str::to_owned).collect())
            .collect())
    }

    /// A drawing of the graph: `"ascii"`, `"mermaid"` or `"dot"`.
    fn render(&mut self, format: &str) -> PyResult<String> {
        let g = self.graph()?;
        Ok(match format {
            "ascii" => g.to_ascii(),
            "mermaid" => g.to_mermaid(),
            "dot" => g.to_dot(),
            other => {
                return Err(crate::errors::value_error(
                    "format",
                    format!("unknown format {other:?}"),
                ))
            }
        })
    }
}

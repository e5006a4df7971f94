//! The declared graph of a `Flow`: names, dependencies and options, validated by the core's one
//! flow builder ([`legato::define::FlowDef`]).
//!
//! Python keeps the bodies (functions, parameter injection); positions here are the tasks'
//! ids in the built graph, as Python's step list is in the same order.

use crate::convert::Options;
use crate::errors::graph_error;
use legato::define::FlowDef;
use legato::graph::{Graph, TaskSpec};
use legato::render::Format;
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::sync::Arc;

/// The graph part of a flow (internal; `legato.Flow` wraps it).
#[pyclass(module = "legato._legato")]
pub struct FlowCore {
    pub(crate) def: FlowDef<()>,
}

impl FlowCore {
    /// The validated graph (built once until the next change).
    pub(crate) fn graph(&mut self) -> PyResult<Arc<Graph>> {
        self.def.graph().map_err(|e| graph_error(&e))
    }

    fn check_index(&self, index: usize) -> PyResult<()> {
        if index >= self.def.len() {
            return Err(pyo3::exceptions::PyIndexError::new_err("no such task"));
        }
        Ok(())
    }
}

#[pymethods]
impl FlowCore {
    #[new]
    fn new() -> Self {
        FlowCore {
            def: FlowDef::new(),
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
        let mut spec = TaskSpec::new(name);
        if let Some(o) = options {
            spec = spec.options((*o.inner).clone());
        }
        if let Some(d) = description {
            spec = spec.description(d);
        }
        // Dependencies as positions in the flow, with no shared string made for each.
        self.def
            .add_after(spec, deps.iter().map(String::as_str), ())
            .map_err(|e| graph_error(&e))
    }

    /// Adds dependencies to task `index` (repeats are ignored).
    fn add_deps(&mut self, index: usize, deps: Vec<String>) -> PyResult<()> {
        self.check_index(index)?;
        self.def.add_deps(index, &deps);
        Ok(())
    }

    /// The names in declaration order.
    fn names(&self) -> Vec<String> {
        self.def.names().map(str::to_owned).collect()
    }

    /// The dependencies of task `index`.
    fn deps(&self, index: usize) -> PyResult<Vec<String>> {
        self.check_index(index)?;
        Ok(self
            .def
            .spec(index)
            .deps()
            .iter()
            .map(|d| d.to_string())
            .collect())
    }

    /// The description of task `index`.
    fn description(&self, index: usize) -> PyResult<Option<String>> {
        self.check_index(index)?;
        Ok(self.def.spec(index).get_description().map(str::to_owned))
    }

    fn __len__(&self) -> usize {
        self.def.len()
    }

    /// Validates the whole graph (cycle, missing dependency) and the targets.
    fn check(&mut self, targets: Vec<String>) -> PyResult<()> {
        self.def.select(&targets).map_err(|e| graph_error(&e))?;
        Ok(())
    }

    /// The position of the step named `name`; `UnknownTaskError` (DESIGN's text, with a
    /// suggestion when a close name exists) when there is none.
    fn position(&self, name: &str) -> PyResult<usize> {
        self.def.position(name).map_err(|e| graph_error(&e))
    }

    /// The dry run: levels of names, in order, for `targets` (all when empty). Out of memory
    /// is `MemoryError` (see [`crate::mem`]).
    fn plan<'py>(
        &mut self,
        py: Python<'py>,
        targets: Vec<String>,
    ) -> PyResult<Bound<'py, pyo3::types::PyList>> {
        // Rust's levels of strings, then Python's (a str object and a list slot a name).
        let estimate = self.size_estimate()?;
        crate::mem::room("plan()", estimate.saturating_mul(3))?;
        let levels = crate::mem::guarded("plan()", || {
            self.def.plan(&targets).map_err(|e| graph_error(&e))
        })?;
        crate::mem::name_levels(py, "plan()", &levels)
    }

    /// A drawing of the graph: `"ascii"`, `"mermaid"` or `"dot"`. Out of memory is
    /// `MemoryError` (see [`crate::mem`]).
    fn render<'py>(&mut self, py: Python<'py>, format: &str) -> PyResult<Bound<'py, PyString>> {
        let f = match format {
            "ascii" => Format::Ascii,
            "mermaid" => Format::Mermaid,
            "dot" => Format::Dot,
            other => {
                return Err(crate::errors::value_error(
                    "format",
                    format!("unknown format {other:?}"),
                ))
            }
        };
        let estimate = self.size_estimate()?;
        let what = format!("to_{format}()");
        let mut err = None;
        let out = crate::mem::text(py, &what, estimate, || match self.def.render(f) {
            Ok(s) => s,
            Err(e) => {
                err = Some(graph_error(&e));
                String::new()
            }
        })?;
        match err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

impl FlowCore {
    /// About how many bytes a drawing or a plan of the whole graph takes: its names (twice: a
    /// node and its label), an edge's two names, a line's markup and indentation.
    fn size_estimate(&mut self) -> PyResult<usize> {
        let g = self.graph()?;
        let n = g.len().max(1);
        let names: usize = g
            .ids()
            .map(|id| g.name(id).len() + g.description(id).map_or(0, str::len))
            .sum();
        let per_edge = 2 * names / n + 16;
        Ok(names
            .saturating_mul(2)
            .saturating_add(g.edge_count().saturating_mul(per_edge))
            .saturating_add(n.saturating_mul(48)))
    }
}

/// Checks a task name by the core's one rule ([`legato::graph::validate_name`]: not empty, no
/// control characters, no whitespace at either end) and, first, that it is valid Unicode (a
/// lone surrogate cannot cross): a `ValueError` whose message names `argument`, as
/// `name: Invalid task name " x": a task name must not start or end with whitespace`.
#[pyfunction]
pub(crate) fn check_name(argument: &str, name: &Bound<'_, PyAny>) -> PyResult<()> {
    let s = name.cast::<PyString>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(format!(
            "{argument}: expected a str, got {}",
            crate::convert::type_name(name)
        ))
    })?;
    let Ok(text) = s.to_cow() else {
        // Shown as JSON shows it (the Node door's wording): the surrogate escaped.
        let shown = name
            .py()
            .import("json")?
            .call_method1("dumps", (name,))?
            .extract::<String>()?;
        return Err(crate::errors::value_error(
            argument,
            format!(
                "Invalid task name {shown}: a task name must not contain lone surrogates (it is not valid Unicode)"
            ),
        ));
    };
    legato::graph::validate_name(&text)
        .map_err(|e| crate::errors::value_error(argument, e.to_string()))
}

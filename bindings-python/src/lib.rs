//! `legato._legato`: the native part of the Python package `legato`.
//!
//! - [`errors`]: the exception tree.
//! - [`convert`]: options from Python values (`Backoff`, seconds, retries), checked once.
//! - [`flowdef`]: the declared graph of a `Flow`, validated by the core.
//! - [`run`]: the driver of one run on the caller's asyncio loop; [`pool`]: the worker pool
//!   for sync callables.
//! - [`report`]: `RunReport` / `TaskReport`.
//!
//! The public Python API (`Flow`, `Orchestrator`, hooks) is in `python/legato/`, over these.

mod convert;
mod errors;
mod flowdef;
mod pool;
mod report;
mod run;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _legato(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<convert::Backoff>()?;
    m.add_class::<convert::Options>()?;
    m.add_class::<flowdef::FlowCore>()?;
    m.add_class::<run::Run>()?;
    m.add_class::<run::Bodies>()?;
    m.add_class::<run::TaskContext>()?;
    m.add_class::<report::RunReport>()?;
    m.add_class::<report::TaskReport>()?;
    m.add_class::<report::TaskMap>()?;
    m.add_function(wrap_pyfunction!(convert::task_options, m)?)?;
    m.add_function(wrap_pyfunction!(convert::run_options, m)?)?;
    m.add_function(wrap_pyfunction!(run::_init, m)?)?;
    m.add_function(wrap_pyfunction!(run::_shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(run::_block_worker, m)?)?;
    m.add_function(wrap_pyfunction!(run::_unblock_worker, m)?)?;
    m.add_function(wrap_pyfunction!(run::current, m)?)?;
    m.add_function(wrap_pyfunction!(run::_current_any, m)?)?;
    m.add_function(wrap_pyfunction!(report::_restore_report, m)?)?;
    m.add_function(wrap_pyfunction!(pool::_worker_take, m)?)?;
    m.add_function(wrap_pyfunction!(pool::_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(pool::_worker_done, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

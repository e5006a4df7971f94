//! `legato._legato`: the native part of the Python package `legato`.
//!
//! - [`errors`]: the exception tree.
//! - [`convert`]: options from Python values (`Backoff`, seconds, retries), checked once.
//! - [`flowdef`]: the declared graph of a `Flow`, validated by the core.
//! - [`driver`]: the driver of one run on the caller's asyncio loop (or, blocking, on the
//!   caller's thread), with the worker pool for sync callables.
//! - [`report`]: `RunReport` / `TaskReport`.
//! - [`mem`]: large allocations that fail as `MemoryError`.
//!
//! The public Python API (`Flow`, `Orchestrator`, hooks) is in `python/legato/`, over these.

mod convert;
mod driver;
mod errors;
mod flowdef;
mod mem;
mod report;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _legato(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<convert::Backoff>()?;
    m.add_class::<convert::Options>()?;
    m.add_class::<convert::Rules>()?;
    m.add_class::<flowdef::FlowCore>()?;
    m.add_class::<driver::run::Run>()?;
    m.add_class::<driver::run::Bodies>()?;
    m.add_class::<driver::context::TaskContext>()?;
    m.add_class::<report::RunReport>()?;
    m.add_class::<report::TaskReport>()?;
    m.add_class::<report::TaskMap>()?;
    m.add_function(wrap_pyfunction!(convert::task_options, m)?)?;
    m.add_function(wrap_pyfunction!(convert::run_options, m)?)?;
    m.add_function(wrap_pyfunction!(convert::run_rules, m)?)?;
    m.add_function(wrap_pyfunction!(flowdef::check_name, m)?)?;
    m.add_function(wrap_pyfunction!(driver::_init, m)?)?;
    m.add_function(wrap_pyfunction!(driver::pool::_shutdown, m)?)?;
    m.add_function(wrap_pyfunction!(driver::pool::_block_worker, m)?)?;
    m.add_function(wrap_pyfunction!(driver::pool::_unblock_worker, m)?)?;
    m.add_function(wrap_pyfunction!(driver::pool::_worker_awaits_loop, m)?)?;
    m.add_function(wrap_pyfunction!(driver::pool::_worker_loop, m)?)?;
    m.add_function(wrap_pyfunction!(driver::context::current, m)?)?;
    m.add_function(wrap_pyfunction!(driver::context::_current_any, m)?)?;
    m.add_function(wrap_pyfunction!(report::_restore_report, m)?)?;
    m.add_function(wrap_pyfunction!(driver::pool::_worker_take, m)?)?;
    m.add_function(wrap_pyfunction!(driver::pool::_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(driver::pool::_worker_done, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

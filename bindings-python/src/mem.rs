//! Large allocations that fail as Python's `MemoryError`: never a Rust panic across the FFI
//! (pyo3's `PyString::new` panics when CPython cannot allocate the string, which reached users
//! as `pyo3_runtime.PanicException`), and as far as can be, never the abort of a failed Rust
//! allocation.
//!
//! A drawing, a plan or a report's JSON/HTML is built in two copies (Rust's string, then
//! Python's): before building it, the room for both (and slack) is reserved once and let go
//! ([`room`]), a fallible reservation; the Python string is made with the allocation checked
//! ([`py_str`]); and a panic left in the building (a capacity overflow) is a Python exception
//! ([`guarded`]).

use pyo3::exceptions::{PyMemoryError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

/// Fails with `MemoryError` unless `bytes` can be allocated now (the room is let go at once).
pub(crate) fn room(what: &str, bytes: usize) -> PyResult<()> {
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(bytes).map_err(|_| {
        PyMemoryError::new_err(format!(
            "{what}: out of memory (about {bytes} bytes needed)"
        ))
    })
}

/// A Python `str` from `s`; a failed allocation raises `MemoryError` (Python's own error).
pub(crate) fn py_str<'py>(py: Python<'py>, s: &str) -> PyResult<Bound<'py, PyString>> {
    let len = isize::try_from(s.len()).map_err(|_| PyMemoryError::new_err("string too long"))?;
    // SAFETY: `s` is valid UTF-8 of `len` bytes; a NULL result sets a Python exception, which
    // `from_owned_ptr_or_err` takes; a non-NULL one is a new reference to a str.
    unsafe {
        let p = pyo3::ffi::PyUnicode_FromStringAndSize(s.as_ptr().cast(), len);
        Ok(Bound::from_owned_ptr_or_err(py, p)?.cast_into_unchecked())
    }
}

/// Runs `f`; a panic in it becomes a Python exception: `MemoryError` for a capacity overflow
/// (a size beyond what can be allocated), else `RuntimeError` naming it an internal error.
pub(crate) fn guarded<T>(what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if msg.contains("capacity overflow") || msg.contains("memory") {
                Err(PyMemoryError::new_err(format!(
                    "{what}: out of memory ({msg})"
                )))
            } else {
                Err(PyRuntimeError::new_err(format!(
                    "{what}: legato internal error: {msg}"
                )))
            }
        }
    }
}

/// A drawing or document of about `estimate` bytes, built by `f` with room for it checked
/// first, as a Python `str`.
pub(crate) fn text<'py>(
    py: Python<'py>,
    what: &str,
    estimate: usize,
    f: impl FnOnce() -> String,
) -> PyResult<Bound<'py, PyString>> {
    guarded(what, || {
        // Rust's string while it grows (up to twice its size), then Python's copy.
        room(what, estimate.saturating_mul(3))?;
        let s = f();
        py_str(py, &s)
    })
}

/// A list of lists of names (a plan) as Python objects, every allocation checked.
pub(crate) fn name_levels<'py>(
    py: Python<'py>,
    what: &str,
    levels: &[Vec<String>],
) -> PyResult<Bound<'py, PyList>> {
    guarded(what, || {
        let out = PyList::empty(py);
        for level in levels {
            let l = PyList::empty(py);
            for n in level {
                l.append(py_str(py, n)?)?;
            }
            out.append(l)?;
        }
        Ok(out)
    })
}

//! Errors that cross into JS: each carries a stable `code` the facade maps to its classes,
//! and no Rust panic ever crosses (see [`guard`]).

use legato::graph::GraphError;
use legato::policy::{OptionError, OptionErrorKind};
use napi::Error;

/// The error type of this crate's functions: its status string becomes the JS error's `code`.
pub type JsResult<T> = std::result::Result<T, Error<String>>;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A JS error whose `code` is `code` (the facade turns known codes into its own classes).
pub(crate) fn coded(code: &str, message: impl Into<String>) -> Error<String> {
    Error::new(code.to_owned(), message.into())
}

/// A graph error: the code is `ERR_LEGATO_<KIND>`, the message the core's exact text.
pub(crate) fn graph_error(e: &GraphError) -> Error<String> {
    let code = match e.kind() {
        "cycle" => "ERR_LEGATO_CYCLE",
        "missing_dependency" => "ERR_LEGATO_MISSING_DEPENDENCY",
        "duplicate_task" => "ERR_LEGATO_DUPLICATE_TASK",
        "unknown_task" => "ERR_LEGATO_UNKNOWN_TASK",
        "invalid_option" => "ERR_OUT_OF_RANGE",
        _ => "ERR_LEGATO_INVALID_NAME",
    };
    coded(code, e.to_string())
}

/// An option refused by the core's one validation: [`OptionErrorKind::InvalidType`] →
/// `ERR_INVALID_ARG_TYPE` (a `TypeError`), [`OptionErrorKind::InvalidValue`] →
/// `ERR_OUT_OF_RANGE` (a `RangeError`); the message names the argument.
pub(crate) fn option_error(e: &OptionError) -> Error<String> {
    let code = match e.kind() {
        OptionErrorKind::InvalidType => "ERR_INVALID_ARG_TYPE",
        _ => "ERR_OUT_OF_RANGE",
    };
    coded(code, format!("{}: {}", e.argument(), e.message()))
}

/// A wrong value for `argument` (the facade throws a `RangeError`).
pub(crate) fn range_error(argument: &str, message: impl std::fmt::Display) -> Error<String> {
    coded("ERR_OUT_OF_RANGE", format!("{argument}: {message}"))
}

/// Runs `f`, turning a panic into a JS error (`ERR_LEGATO_PANIC`) instead of unwinding
/// across the FFI boundary.
pub(crate) fn guard<T>(f: impl FnOnce() -> JsResult<T>) -> JsResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(coded(
                "ERR_LEGATO_PANIC",
                format!("legato internal error: {msg}"),
            ))
        }
    }
}

//! The per-task entry points as raw Node-API functions.
//!
//! A `#[napi]` function with arguments costs ~0.3 µs a call in napi-rs 3 (a native-borrow scope
//! opened and closed, each argument's type checked and converted), a raw Node-API callback a
//! tenth of that. The two functions on the per-task path — [`flow_add`] (once per step) and
//! [`run_step`] (once per batch: once per task in a chain) — are registered here as raw
//! callbacks under the same names; everything else stays `#[napi]`. They parse their
//! arguments with a handful of Node-API calls, run the same guarded Rust code, and throw an
//! `Error` whose `code` is the `napi::Error`'s status, as napi-rs would.
//!
//! - `flowAdd(flow: number, name: string, after?: string | null, options?: number,
//!   description?: string | null): number`
//! - `runStep(run: number, nowMs: number, input: ArrayBuffer | Uint32Array, nIn: number,
//!   out: ArrayBuffer | Uint32Array, msgs?: string[] | null): number`
//!
//! Trailing arguments left out cost nothing (the usual step has no options, no description,
//! and a batch no error messages). Their TypeScript declarations, with docs, are
//! `src/raw.d.ts`, which the generator puts at the top of `native.d.ts`.

use crate::errors::{coded, JsResult};
use napi::bindgen_prelude::{Env, Object};
use napi::{sys, JsValue};
use std::cell::RefCell;
use std::ffi::CString;
use std::ptr;

thread_local! {
    /// The buffer names are read into (one Node-API call for a name that fits).
    static NAME_BUF: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
    /// The buffer strings' UTF-16 code units are read into.
    static WIDE_BUF: RefCell<Vec<u16>> = RefCell::new(vec![0; 256]);
}

unsafe fn status(s: sys::napi_status, what: &str) -> JsResult<()> {
    if s == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(coded("ERR_INVALID_ARG_TYPE", format!("{what}: wrong type")))
    }
}

/// The first `N` arguments and how many were given (at least `min`; those not given are
/// `undefined`): trailing optional arguments cost no Node-API call when left out.
unsafe fn args_upto<const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    min: usize,
) -> JsResult<([sys::napi_value; N], usize)> {
    let mut argv = [ptr::null_mut(); N];
    let mut argc = N;
    status(
        sys::napi_get_cb_info(
            env,
            info,
            &mut argc,
            argv.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        ),
        "arguments",
    )?;
    if argc < min {
        return Err(coded(
            "ERR_INVALID_ARG_TYPE",
            format!("expected at least {min} arguments, got {argc}"),
        ));
    }
    Ok((argv, argc))
}

unsafe fn u32_of(env: sys::napi_env, v: sys::napi_value, what: &str) -> JsResult<u32> {
    let mut out = 0u32;
    status(sys::napi_get_value_uint32(env, v, &mut out), what)?;
    Ok(out)
}

unsafe fn f64_of(env: sys::napi_env, v: sys::napi_value, what: &str) -> JsResult<f64> {
    let mut out = 0f64;
    status(sys::napi_get_value_double(env, v, &mut out), what)?;
    Ok(out)
}

unsafe fn is_nullish(env: sys::napi_env, v: sys::napi_value) -> bool {
    let mut t = 0;
    sys::napi_typeof(env, v, &mut t);
    t == sys::ValueType::napi_null || t == sys::ValueType::napi_undefined
}

/// Reads a JS string as UTF-8 into a reused buffer: its UTF-16 code units are copied (one
/// Node-API call when they fit; V8's UTF-8 writer costs more for the short names read here)
/// and encoded, lone surrogates as U+FFFD as Node-API's UTF-8 read does. `f` must not read
/// another string (the buffers are borrowed while it runs).
unsafe fn with_str<T>(
    env: sys::napi_env,
    v: sys::napi_value,
    what: &str,
    f: impl FnOnce(&str) -> JsResult<T>,
) -> JsResult<T> {
    WIDE_BUF.with_borrow_mut(|wide| {
        // Reads the string into `wide`; the number of units written.
        let read = |wide: &mut Vec<u16>| -> JsResult<usize> {
            let mut written = 0usize;
            status(
                sys::napi_get_value_string_utf16(
                    env,
                    v,
                    wide.as_mut_ptr(),
                    wide.len(),
                    &mut written,
                ),
                what,
            )?;
            Ok(written)
        };
        let mut written = read(wide)?;
        // Node-API keeps a unit for the NUL: a string that filled the rest may be cut short.
        if written + 1 >= wide.len() {
            let mut len = 0usize;
            status(
                sys::napi_get_value_string_utf16(env, v, ptr::null_mut(), 0, &mut len),
                what,
            )?;
            wide.resize(len + 1, 0);
            written = read(wide)?;
        }
        let units = &wide[..written];
        NAME_BUF.with_borrow_mut(|buf| {
            buf.clear();
            if units.iter().all(|&u| u < 0x80) {
                buf.extend(units.iter().map(|&u| u as u8));
            } else {
                let mut tmp = [0u8; 4];
                for c in char::decode_utf16(units.iter().copied()) {
                    let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
                    buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
            }
            let s = std::str::from_utf8(buf)
                .map_err(|_| coded("ERR_INVALID_ARG_TYPE", format!("{what}: not UTF-8")))?;
            f(s)
        })
    })
}

unsafe fn string_of(env: sys::napi_env, v: sys::napi_value, what: &str) -> JsResult<String> {
    with_str(env, v, what, |s| Ok(s.to_owned()))
}

/// The `u32` words of an `ArrayBuffer` (the driver passes its buffers' `.buffer`: one cheap
/// Node-API call, where a typed array's info costs a dozen type checks and its buffer's
/// handle) or of a `Uint32Array` (its view: offset and length respected).
unsafe fn u32s_of<'a>(
    env: sys::napi_env,
    v: sys::napi_value,
    what: &str,
) -> JsResult<&'a mut [u32]> {
    let mut data: *mut std::ffi::c_void = ptr::null_mut();
    let mut len = 0usize;
    if sys::napi_get_arraybuffer_info(env, v, &mut data, &mut len) == sys::Status::napi_ok {
        if data.is_null() || len < 4 {
            return Ok(&mut []);
        }
        if data.align_offset(std::mem::align_of::<u32>()) != 0 {
            return Err(coded(
                "ERR_INVALID_ARG_TYPE",
                format!("{what}: a misaligned ArrayBuffer"),
            ));
        }
        // SAFETY: V8 gives the buffer's data pointer and byte length; JS is single-threaded
        // and does not run during this call.
        return Ok(std::slice::from_raw_parts_mut(data.cast::<u32>(), len / 4));
    }
    let mut kind = 0;
    let mut buffer = ptr::null_mut();
    let mut offset = 0usize;
    status(
        sys::napi_get_typedarray_info(
            env,
            v,
            &mut kind,
            &mut len,
            &mut data,
            &mut buffer,
            &mut offset,
        ),
        what,
    )?;
    if kind != sys::TypedarrayType::uint32_array {
        return Err(coded(
            "ERR_INVALID_ARG_TYPE",
            format!("{what}: must be a Uint32Array or an ArrayBuffer"),
        ));
    }
    if len == 0 || data.is_null() {
        return Ok(&mut []);
    }
    // SAFETY: V8 gives the data pointer of the view (offset applied) and its element count;
    // JS is single-threaded and does not run during this call.
    Ok(std::slice::from_raw_parts_mut(data.cast::<u32>(), len))
}

unsafe fn strings_of(
    env: sys::napi_env,
    v: sys::napi_value,
    what: &str,
) -> JsResult<Option<Vec<String>>> {
    if is_nullish(env, v) {
        return Ok(None);
    }
    let mut n = 0u32;
    status(sys::napi_get_array_length(env, v, &mut n), what)?;
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut e = ptr::null_mut();
        status(sys::napi_get_element(env, v, i, &mut e), what)?;
        out.push(string_of(env, e, what)?);
    }
    Ok(Some(out))
}

/// Throws `e` (its status is the JS error's `code`) and returns `undefined`'s stand-in.
unsafe fn throw(env: sys::napi_env, e: napi::Error<String>) -> sys::napi_value {
    let code = CString::new(e.status.as_str()).unwrap_or_default();
    let msg = CString::new(e.reason.replace('\0', " ")).unwrap_or_default();
    sys::napi_throw_error(env, code.as_ptr(), msg.as_ptr());
    ptr::null_mut()
}

unsafe fn number(env: sys::napi_env, x: f64) -> sys::napi_value {
    let mut v = ptr::null_mut();
    sys::napi_create_double(env, x, &mut v);
    v
}

unsafe fn finish(env: sys::napi_env, r: JsResult<f64>) -> sys::napi_value {
    match r {
        Ok(x) => number(env, x),
        Err(e) => throw(env, e),
    }
}

unsafe extern "C" fn flow_add_raw(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let r = (|| -> JsResult<f64> {
        let ([flow, name, after, opts, description], argc) = args_upto::<5>(env, info, 2)?;
        let flow = u32_of(env, flow, "flow")?;
        let opts = if argc > 3 {
            u32_of(env, opts, "options")?
        } else {
            0
        };
        let description = if argc > 4 && !is_nullish(env, description) {
            Some(string_of(env, description, "description")?)
        } else {
            None
        };
        // The name is read straight into the shared string the core keeps.
        let name: std::sync::Arc<str> = with_str(env, name, "name", |s| Ok(s.into()))?;
        if argc < 3 || is_nullish(env, after) {
            crate::flow::flow_add(env, flow, name, opts, description, None)
        } else {
            // Read into the shared buffer: the names are copied once, by the core.
            with_str(env, after, "after", |a| {
                crate::flow::flow_add(env, flow, name, opts, description, Some(a))
            })
        }
        .map(f64::from)
    })();
    finish(env, r)
}

unsafe extern "C" fn run_step_raw(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let r = (|| -> JsResult<f64> {
        let ([id, now, input, n_in, out, msgs], argc) = args_upto::<6>(env, info, 5)?;
        let id = u32_of(env, id, "run")?;
        let now = f64_of(env, now, "nowMs")?;
        let input = u32s_of(env, input, "input")?;
        let n_in = u32_of(env, n_in, "nIn")?;
        let out = u32s_of(env, out, "out")?;
        let msgs = if argc > 5 {
            strings_of(env, msgs, "msgs")?
        } else {
            None
        };
        crate::driver::run_step(id, now, input, n_in, msgs, out)
    })();
    finish(env, r)
}

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

extern "C" {
    /// mimalloc's option setter (linked in by the `mimalloc` crate, the global allocator).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t`.
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Adds the raw functions to the module's exports (and sets the allocator's purge delay).
#[napi(module_exports)]
pub fn raw_exports(exports: Object, env: Env) -> napi::Result<()> {
    // SAFETY: sets a number in mimalloc's option table (see the crate docs in lib.rs).
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 1000) };
    let fns: [(&str, Callback); 2] = [("flowAdd", flow_add_raw), ("runStep", run_step_raw)];
    for (name, cb) in fns {
        let cname = CString::new(name).map_err(|e| napi::Error::from_reason(e.to_string()))?;
        let mut f = ptr::null_mut();
        // SAFETY: plain Node-API calls on the loading thread, with valid pointers.
        unsafe {
            let s = sys::napi_create_function(
                env.raw(),
                cname.as_ptr(),
                name.len() as isize,
                Some(cb),
                ptr::null_mut(),
                &mut f,
            );
            if s != sys::Status::napi_ok {
                return Err(napi::Error::from_reason(format!("cannot make {name}")));
            }
            let s = sys::napi_set_named_property(env.raw(), exports.raw(), cname.as_ptr(), f);
            if s != sys::Status::napi_ok {
                return Err(napi::Error::from_reason(format!("cannot export {name}")));
            }
        }
    }
    Ok(())
}

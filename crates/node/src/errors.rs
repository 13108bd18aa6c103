//! Maps core errors and panics to JS errors carrying a stable `code` property.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// The `code` a JS error gets. napi-rs copies it to `err.code`.
#[derive(Debug, Clone, Copy)]
pub struct Code(pub &'static str);

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// Result type of every binding: failures become JS errors with `err.code`. Bindings spell it
/// out as `Result<T, Code>` because the napi macro recognises that form.
pub type JsResult<T> = napi::Result<T, Code>;

/// Builds a JS error with a code and a message.
pub fn js_error(code: &'static str, message: impl Into<String>) -> napi::Error<Code> {
    napi::Error::new(Code(code), message.into())
}

/// Converts a core error into a JS error with the core's stable code.
pub fn from_core(err: hf_tasks_core::Error) -> napi::Error<Code> {
    js_error(err.code(), err.to_string())
}

/// Runs `f`, turning a core error into a coded JS error and a panic into `ERR_PANIC`, so that
/// no panic ever unwinds into Node.
pub fn guard<T>(f: impl FnOnce() -> hf_tasks_core::Result<T>) -> JsResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(from_core(e)),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(js_error(
                "ERR_PANIC",
                format!("internal error in native code: {what}"),
            ))
        }
    }
}

/// Converts a JS number that must be a non-negative integer index or size.
pub fn to_usize(v: u32) -> usize {
    v as usize
}

/// Converts a JS number given as a dimension or count: it must be a non-negative integer no
/// larger than 2^53 (JS numbers wrap or truncate silently under a `u32` conversion).
pub fn dim_arg(v: f64, name: &str) -> hf_tasks_core::Result<usize> {
    const MAX_SAFE: f64 = 9_007_199_254_740_991.0;
    if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= MAX_SAFE && v <= usize::MAX as f64 {
        Ok(v as usize)
    } else {
        Err(hf_tasks_core::Error::Dims(format!(
            "{name} must be a non-negative integer, got {v}"
        )))
    }
}

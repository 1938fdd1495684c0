//! Public methods other objects can call: the [`Methods`] trait that
//! [`#[methods]`](crate::methods) implements, and how the export finds it.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// The methods of a class that other objects may call by name ([`Stub::call`](crate::Stub::call)).
///
/// Implemented by [`#[methods]`](crate::methods) on an `impl` block: each `pub fn` taking `&self`
/// or `&mut self` becomes callable; its arguments are decoded from the call's JSON array, its
/// result (a value, or the `Ok` of a `Result`) encoded as JSON. Like every event, a call runs as
/// one transaction: an `Err` discards its writes and reaches the caller as
/// [`CallErrorKind::CalleeFailed`](crate::CallErrorKind::CalleeFailed).
pub trait Methods {
    /// Runs `method` with `args` (a JSON array); `None` if the class has no such method.
    fn call_method(&mut self, method: &str, args: &[u8]) -> Option<Result<Vec<u8>>>;
}

/// Decodes the arguments of `method` (a JSON array) into the tuple of its parameters.
#[doc(hidden)]
pub fn decode_args<T: DeserializeOwned>(method: &str, args: &[u8]) -> Result<T> {
    serde_json::from_slice(args).map_err(|e| Error::msg(format!("bad arguments for {method}: {e}")))
}

/// Checks that a method without parameters got an empty JSON array.
#[doc(hidden)]
pub fn decode_no_args(method: &str, args: &[u8]) -> Result<()> {
    let args: Vec<serde::de::IgnoredAny> = decode_args(method, args)?;
    if args.is_empty() {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "bad arguments for {method}: it takes none, {} given",
            args.len()
        )))
    }
}

/// Encodes a method's result.
#[doc(hidden)]
pub fn encode_result<T: Serialize>(method: &str, value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value)
        .map_err(|e| Error::msg(format!("cannot encode the result of {method}: {e}")))
}

/// How the export calls a class's methods: the dispatch of [`Methods`] if the class has it,
/// none otherwise (chosen at compile time, by method resolution on [`Probe`]).
pub type Dispatch<T> = fn(&mut T, &str, &[u8]) -> Option<Result<Vec<u8>>>;

#[doc(hidden)]
pub struct Probe<T>(PhantomData<T>);

impl<T> Probe<T> {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Probe(PhantomData)
    }
}

#[doc(hidden)]
pub trait ViaMethods<T> {
    fn dispatcher(&self) -> Dispatch<T>;
}

impl<T: Methods> ViaMethods<T> for Probe<T> {
    fn dispatcher(&self) -> Dispatch<T> {
        |object, method, args| object.call_method(method, args)
    }
}

#[doc(hidden)]
pub trait NoMethods<T> {
    fn dispatcher(&self) -> Dispatch<T>;
}

impl<T> NoMethods<T> for &Probe<T> {
    fn dispatcher(&self) -> Dispatch<T> {
        |_, _, _| None
    }
}

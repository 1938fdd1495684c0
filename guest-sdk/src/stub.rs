//! Calling other objects: [`Namespace`] (IDs of a binding), [`Stub`] (one object) and
//! [`CallError`] (why a call produced no answer).

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::holdfast::object::{calls, objects, types as wit};
use crate::{Error, Request, Response, Result};

/// Why a call to another object produced no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallErrorKind {
    /// No such namespace, or a malformed ID or one of another namespace.
    BadAddress,
    /// The callee's class has no public method of that name.
    NoSuchMethod,
    /// The callee's handler or method returned an error; nothing of its event was kept. The
    /// message is the callee's.
    CalleeFailed,
    /// The callee trapped or broke a limit (CPU time, memory); nothing of its event was kept.
    CalleeTrapped,
    /// The call would wait for an object that waits for this one in the same chain of calls
    /// (A -> B -> A): a waiting object cannot be entered again.
    Cycle,
    /// The call would close a circle of objects waiting for each other from different chains.
    Deadlock,
    /// The chain of calls is deeper than the host allows (`runtime.max_call_depth`).
    TooDeep,
    /// No answer within the host's limit (`runtime.call_timeout_ms`); the call may still take
    /// effect.
    Timeout,
    /// The callee's mailbox is full.
    Overloaded,
    /// The host could not run the callee's event or make it durable.
    Unavailable,
    /// The host refused the request or arguments.
    InvalidArgument,
    /// The arguments could not be encoded, or the result could not be decoded into the type
    /// asked for (nothing was sent, or the call's effects are kept: see the message).
    Encoding,
}

/// A call to another object that produced no answer: the kind, and a message for people that
/// names the objects involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    pub kind: CallErrorKind,
    pub message: String,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CallError {}

impl From<calls::CallError> for CallError {
    fn from(e: calls::CallError) -> Self {
        use calls::CallErrorKind as K;
        let kind = match e.kind {
            K::BadAddress => CallErrorKind::BadAddress,
            K::NoSuchMethod => CallErrorKind::NoSuchMethod,
            K::CalleeFailed => CallErrorKind::CalleeFailed,
            K::CalleeTrapped => CallErrorKind::CalleeTrapped,
            K::Cycle => CallErrorKind::Cycle,
            K::Deadlock => CallErrorKind::Deadlock,
            K::TooDeep => CallErrorKind::TooDeep,
            K::Timeout => CallErrorKind::Timeout,
            K::Overloaded => CallErrorKind::Overloaded,
            K::Unavailable => CallErrorKind::Unavailable,
            K::InvalidArgument => CallErrorKind::InvalidArgument,
        };
        CallError {
            kind,
            message: e.message,
        }
    }
}

/// The objects of one binding (namespace) of this host: their IDs and [`Stub`]s.
///
/// Get one with [`State::binding`](crate::State::binding) (or, in a worker,
/// [`Env::binding`](crate::Env::binding)). It does not check that the binding exists; IDs and
/// calls do.
#[derive(Clone, Debug)]
pub struct Namespace {
    name: String,
}

impl Namespace {
    pub(crate) fn new(name: &str) -> Self {
        Namespace {
            name: name.to_owned(),
        }
    }

    /// The binding's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ID that `name` maps to: always the same for the same binding and name.
    pub fn id_from_name(&self, name: &str) -> Result<String> {
        objects::id_from_name(&self.name, name).map_err(Error::msg)
    }

    /// A fresh random ID.
    pub fn new_unique_id(&self) -> Result<String> {
        objects::new_unique_id(&self.name).map_err(Error::msg)
    }

    /// The stub of the object with `id` (64 hexadecimal characters, of this namespace).
    pub fn get(&self, id: &str) -> Stub {
        Stub {
            to: wit::Address {
                namespace: self.name.clone(),
                id: id.to_owned(),
                name: None,
            },
        }
    }

    /// The stub of the object named `name` (its ID is [`id_from_name`](Self::id_from_name)).
    pub fn get_by_name(&self, name: &str) -> Result<Stub> {
        Ok(Stub {
            to: wit::Address {
                namespace: self.name.clone(),
                id: self.id_from_name(name)?,
                name: Some(name.to_owned()),
            },
        })
    }
}

/// Another object, to call.
///
/// Each call is delivered to the callee as its own event, in order with its other traffic, and
/// runs atomically there; the answer arrives once the callee's writes are durable. The calling
/// event then goes on (its own writes commit, or are discarded, separately). While it waits, its
/// CPU time limit does not run and it is not evicted.
///
/// A call that would wait in a circle fails at once ([`CallErrorKind::Cycle`],
/// [`CallErrorKind::Deadlock`]): an object waiting in a call cannot be entered again.
#[derive(Clone, Debug)]
pub struct Stub {
    to: wit::Address,
}

impl Stub {
    /// The callee's ID.
    pub fn id(&self) -> &str {
        &self.to.id
    }

    /// Sends `req` to the callee's `fetch`. Any response is `Ok`, whatever its status; `Err`
    /// means the callee produced none (it failed, trapped, or the call was refused).
    pub fn fetch(&self, req: Request) -> Result<Response, CallError> {
        calls::fetch(&self.to, &req.into_wit())
            .map(Response::from_wit)
            .map_err(CallError::from)
    }

    /// Calls the callee's public method `method` (see
    /// [`#[methods]`](crate::methods)) with `args`, a tuple of the arguments (`()`, `(a,)`,
    /// `(a, b)`, ...), and decodes its result as `R`.
    ///
    /// ```no_run
    /// # fn example(state: &holdfast_sdk::State) -> holdfast_sdk::Result<()> {
    /// let counter = state.binding("counter").get_by_name("alice")?;
    /// let value: i64 = counter.call("increment", (5,))?;
    /// # Ok(()) }
    /// ```
    pub fn call<A: Serialize, R: DeserializeOwned>(
        &self,
        method: &str,
        args: A,
    ) -> Result<R, CallError> {
        let encoding = |message: String| CallError {
            kind: CallErrorKind::Encoding,
            message,
        };
        let args = match serde_json::to_value(args) {
            Ok(serde_json::Value::Array(a)) => a,
            Ok(serde_json::Value::Null) => Vec::new(),
            Ok(one) => vec![one],
            Err(e) => {
                return Err(encoding(format!(
                    "cannot encode the arguments of {method}: {e}"
                )));
            }
        };
        let args = serde_json::to_vec(&args).expect("JSON values encode");
        let result = calls::call(&self.to, method, &args)?;
        serde_json::from_slice(&result).map_err(|e| {
            encoding(format!(
                "the result of {method} is not the type asked for (its effects are kept): {e}"
            ))
        })
    }
}

//! [`Worker`], the stateless entry point, and [`Env`], what it reaches.

use crate::{Namespace, Request, Response, Result};

/// A worker: the component that receives every client request outside `/_/` when the host's
/// config names one (`[worker]`), and routes it, usually to objects through [`Stub`]s.
///
/// Mark the implementing struct with [`#[worker]`](crate::worker). The host reuses an instance
/// for many requests, one at a time, and may start several; nothing in it is durable (keep state
/// in objects). [`Request::url`] is the whole path and query.
///
/// [`Stub`]: crate::Stub
pub trait Worker {
    /// Creates the worker, before an instance's first request.
    fn new(env: Env) -> Self
    where
        Self: Sized;

    /// Handles a client's request. An `Err` answers 500 with its message.
    fn fetch(&mut self, req: Request) -> Result<Response>;
}

/// What a worker (or an object, through [`State`](crate::State)) reaches: the bindings and the
/// configured vars.
#[derive(Clone, Debug, Default)]
pub struct Env {
    _private: (),
}

impl Env {
    pub(crate) fn new() -> Self {
        Env { _private: () }
    }

    /// The objects of `binding`.
    pub fn binding(&self, binding: &str) -> Namespace {
        Namespace::new(binding)
    }

    /// The configured var `name` (`[vars]` of the host's config).
    pub fn var(&self, name: &str) -> Option<String> {
        crate::bindings::holdfast::object::environment::vars()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }
}

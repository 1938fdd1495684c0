//! Exporting a [`DurableObject`] as the component's `handler`: the `__export_durable_object!`
//! macro that `#[durable_object]` expands to, and the runtime functions it calls.
//!
//! The object lives in a thread-local slot declared by the macro in the user's crate (a component
//! instance is single-threaded). It is created with [`DurableObject::new`] on the first event and
//! kept for the life of the instance.
//!
//! The runtime functions turn the WIT values into the SDK's types: a request into a [`Request`],
//! a socket ID (`u64`) into a [`WebSocket`], a message into a [`Message`](crate::Message), and an
//! `Err` into its message.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::bindings::holdfast::object::types as wit;
use crate::methods::Dispatch;
use crate::{DurableObject, Request, Result, State, WebSocket};

/// Where the macro keeps the object: empty until the first event.
pub type Slot<T> = LocalKey<RefCell<Option<T>>>;

/// Exports `$ty` (a type implementing [`DurableObject`], named by a plain identifier) as the
/// component's `holdfast:object/handler`. Used by `#[durable_object]`; call it directly only when
/// the attribute cannot be used. At most once per component.
///
/// Each export of the WIT `handler` forwards to the runtime function of the same name in
/// `$crate::__rt`, which calls the matching [`DurableObject`] method: `fetch`, `alarm`, and
/// `websocket-message` / `websocket-close` / `websocket-error`, whose `socket: u64` reaches the
/// object as a [`WebSocket`].
#[doc(hidden)]
#[macro_export]
macro_rules! __export_durable_object {
    ($ty:ident) => {
        const _: () = {
            ::std::thread_local! {
                static __HOLDFAST_OBJECT: ::std::cell::RefCell<::std::option::Option<$ty>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            struct __HoldfastHandler;

            impl $crate::bindings::exports::holdfast::object::handler::Guest for __HoldfastHandler {
                fn fetch(
                    req: $crate::bindings::holdfast::object::types::Request,
                ) -> ::std::result::Result<
                    $crate::bindings::holdfast::object::types::Response,
                    ::std::string::String,
                > {
                    $crate::__rt::fetch(&__HOLDFAST_OBJECT, req)
                }

                fn alarm(
                    info: $crate::bindings::holdfast::object::types::AlarmInfo,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__rt::alarm(&__HOLDFAST_OBJECT, info)
                }

                fn websocket_message(
                    socket: u64,
                    msg: $crate::bindings::holdfast::object::types::Message,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__rt::websocket_message(&__HOLDFAST_OBJECT, socket, msg)
                }

                fn websocket_close(
                    socket: u64,
                    code: u16,
                    reason: ::std::string::String,
                    was_clean: bool,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__rt::websocket_close(
                        &__HOLDFAST_OBJECT,
                        socket,
                        code,
                        reason,
                        was_clean,
                    )
                }

                fn websocket_error(
                    socket: u64,
                    error: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__rt::websocket_error(&__HOLDFAST_OBJECT, socket, error)
                }

                fn call(
                    method: ::std::string::String,
                    args: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<u8>,
                    $crate::bindings::holdfast::object::types::MethodError,
                > {
                    #[allow(unused_imports)]
                    use $crate::__rt::{NoMethods as _, ViaMethods as _};
                    let dispatch = (&$crate::__rt::Probe::<$ty>::new()).dispatcher();
                    $crate::__rt::call(&__HOLDFAST_OBJECT, dispatch, method, args)
                }
            }

            impl $crate::bindings::exports::holdfast::object::worker_handler::Guest
                for __HoldfastHandler
            {
                fn fetch(
                    _: $crate::bindings::holdfast::object::types::Request,
                ) -> ::std::result::Result<
                    $crate::bindings::holdfast::object::types::Response,
                    ::std::string::String,
                > {
                    ::std::result::Result::Err($crate::__rt::NOT_A_WORKER.into())
                }

                fn wait_until() -> ::std::result::Result<(), ::std::string::String> {
                    ::std::result::Result::Ok(())
                }
            }

    $crate::bindings::export!(__HoldfastHandler with_types_in $crate::bindings);
        };
    };
}

/// Exports `$ty` (a type implementing [`Worker`](crate::Worker)) as the component's
/// `holdfast:object/worker-handler`. Used by `#[worker]`. The class export of such a component
/// answers every event with an error (it implements no class).
#[doc(hidden)]
#[macro_export]
macro_rules! __export_worker {
    ($ty:ident) => {
        const _: () = {
            ::std::thread_local! {
                static __HOLDFAST_WORKER: ::std::cell::RefCell<::std::option::Option<$ty>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }

            struct __HoldfastWorker;

            impl $crate::bindings::exports::holdfast::object::worker_handler::Guest
                for __HoldfastWorker
            {
                fn fetch(
                    req: $crate::bindings::holdfast::object::types::Request,
                ) -> ::std::result::Result<
                    $crate::bindings::holdfast::object::types::Response,
                    ::std::string::String,
                > {
                    $crate::__rt::worker_fetch(&__HOLDFAST_WORKER, req)
                }

                fn wait_until() -> ::std::result::Result<(), ::std::string::String> {
                    ::std::result::Result::Ok(())
                }
            }

            impl $crate::bindings::exports::holdfast::object::handler::Guest for __HoldfastWorker {
                fn fetch(
                    _: $crate::bindings::holdfast::object::types::Request,
                ) -> ::std::result::Result<
                    $crate::bindings::holdfast::object::types::Response,
                    ::std::string::String,
                > {
                    ::std::result::Result::Err($crate::__rt::NOT_A_CLASS.into())
                }

                fn alarm(
                    _: $crate::bindings::holdfast::object::types::AlarmInfo,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    ::std::result::Result::Err($crate::__rt::NOT_A_CLASS.into())
                }

                fn websocket_message(
                    _: u64,
                    _: $crate::bindings::holdfast::object::types::Message,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    ::std::result::Result::Err($crate::__rt::NOT_A_CLASS.into())
                }

                fn websocket_close(
                    _: u64,
                    _: u16,
                    _: ::std::string::String,
                    _: bool,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    ::std::result::Result::Err($crate::__rt::NOT_A_CLASS.into())
                }

                fn websocket_error(
                    _: u64,
                    _: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    ::std::result::Result::Err($crate::__rt::NOT_A_CLASS.into())
                }

                fn call(
                    _: ::std::string::String,
                    _: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<
                    ::std::vec::Vec<u8>,
                    $crate::bindings::holdfast::object::types::MethodError,
                > {
                    ::std::result::Result::Err(
                        $crate::bindings::holdfast::object::types::MethodError::Failed(
                            $crate::__rt::NOT_A_CLASS.into(),
                        ),
                    )
                }
            }

    $crate::bindings::export!(__HoldfastWorker with_types_in $crate::bindings);
        };
    };
}

/// What the unused export of a class's component answers.
pub const NOT_A_WORKER: &str = "this component implements a Durable Object class, not a worker";
/// What the unused export of a worker's component answers.
pub const NOT_A_CLASS: &str = "this component implements a worker, not a Durable Object class";

/// Runs a request on the worker in `slot`, creating it first on the instance's first request.
pub fn worker_fetch<T: crate::Worker + 'static>(
    slot: &'static Slot<T>,
    req: wit::Request,
) -> std::result::Result<wit::Response, String> {
    slot.with(|cell| {
        let mut worker = cell
            .try_borrow_mut()
            .map_err(|_| "holdfast-sdk: a request arrived while another was running".to_string())?;
        let worker = worker.get_or_insert_with(|| T::new(crate::Env::new()));
        worker
            .fetch(Request::from_wit(req))
            .map(|r| r.into_wit())
            .map_err(|e| e.to_string())
    })
}

/// Runs `event` on the object in `slot`, creating the object first if this is the first event.
/// An `Err` becomes its message, which the host reports (and for which it discards the writes).
fn with_object<T, R>(
    slot: &'static Slot<T>,
    event: impl FnOnce(&mut T) -> Result<R>,
) -> std::result::Result<R, String>
where
    T: DurableObject + 'static,
{
    slot.with(|cell| {
        // Events never overlap, so the slot is never borrowed here; refuse rather than panic.
        let mut object = cell
            .try_borrow_mut()
            .map_err(|_| "holdfast-sdk: an event arrived while another was running".to_string())?;
        let object = object.get_or_insert_with(|| T::new(State::new()));
        event(object).map_err(|error| error.to_string())
    })
}

pub fn fetch<T: DurableObject + 'static>(
    slot: &'static Slot<T>,
    req: wit::Request,
) -> std::result::Result<wit::Response, String> {
    with_object(slot, |object| object.fetch(Request::from_wit(req))).map(|r| r.into_wit())
}

pub fn alarm<T: DurableObject + 'static>(
    slot: &'static Slot<T>,
    info: wit::AlarmInfo,
) -> std::result::Result<(), String> {
    with_object(slot, |object| object.alarm(info.into()))
}

pub fn websocket_message<T: DurableObject + 'static>(
    slot: &'static Slot<T>,
    socket: u64,
    msg: wit::Message,
) -> std::result::Result<(), String> {
    with_object(slot, |object| {
        object.websocket_message(WebSocket::from_id(socket), msg.into())
    })
}

pub fn websocket_close<T: DurableObject + 'static>(
    slot: &'static Slot<T>,
    socket: u64,
    code: u16,
    reason: String,
    was_clean: bool,
) -> std::result::Result<(), String> {
    with_object(slot, |object| {
        object.websocket_close(WebSocket::from_id(socket), code, reason, was_clean)
    })
}

pub fn websocket_error<T: DurableObject + 'static>(
    slot: &'static Slot<T>,
    socket: u64,
    error: String,
) -> std::result::Result<(), String> {
    with_object(slot, |object| {
        object.websocket_error(WebSocket::from_id(socket), error)
    })
}

pub fn call<T: DurableObject + 'static>(
    slot: &'static Slot<T>,
    dispatch: Dispatch<T>,
    method: String,
    args: Vec<u8>,
) -> std::result::Result<Vec<u8>, wit::MethodError> {
    let mut missing = false;
    let result = with_object(slot, |object| match dispatch(object, &method, &args) {
        Some(r) => r,
        None => {
            missing = true;
            let class = std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("the class");
            Err(crate::Error::msg(format!(
                "{class} has no public method `{method}` (expose methods with #[holdfast_sdk::methods])"
            )))
        }
    });
    result.map_err(|m| {
        if missing {
            wit::MethodError::NoSuchMethod(m)
        } else {
            wit::MethodError::Failed(m)
        }
    })
}

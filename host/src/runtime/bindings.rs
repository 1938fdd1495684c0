//! Generated bindings of the `holdfast:object/durable-object` world (wit/).
//!
//! Imports are synchronous and trappable (a database failure traps the guest: it is a host
//! failure, not something the guest can handle); exports are async so that guests run on
//! wasmtime fibers and yield to tokio at epoch ticks.

wasmtime::component::bindgen!({
    world: "durable-object",
    path: "../wit",
    imports: { default: trappable },
    exports: { default: async },
});

pub use self::holdfast::object::{context, objects, storage, types, websockets};
pub use exports::holdfast::object::handler;

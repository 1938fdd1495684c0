//! Generated bindings of the WIT worlds (wit/): `durable-object` for classes, `worker` for the
//! stateless entry point (sharing the interfaces of the first).
//!
//! Imports are synchronous and trappable (a database failure traps the guest: it is a host
//! failure, not something the guest can handle), except the calls to other objects, outbound
//! HTTP requests and the point-in-time recovery calls that wait for the object's commits, which
//! are async: the guest's fiber is suspended while the callee runs, and its thread serves others.
//! Exports are async so that guests run on wasmtime fibers and yield to tokio at epoch ticks.

wasmtime::component::bindgen!({
    world: "durable-object",
    path: "../wit",
    imports: {
        "holdfast:object/calls.fetch": async | trappable,
        "holdfast:object/calls.call": async | trappable,
        "holdfast:object/outbound.fetch": async | trappable,
        "holdfast:object/storage.get-current-bookmark": async | trappable,
        "holdfast:object/storage.on-next-session-restore-bookmark": async | trappable,
        "holdfast:object/storage.snapshot": async | trappable,
        "holdfast:object/storage.on-next-session-restore": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub use self::holdfast::object::{
    calls, context, environment, objects, outbound, sql, storage, types, websockets,
};
pub use exports::holdfast::object::handler;

/// The `worker` world, its imports shared with the durable-object world's.
pub mod worker {
    wasmtime::component::bindgen!({
        world: "worker",
        path: "../wit",
        exports: { default: async },
        with: {
            "holdfast:object/types": super::types,
            "holdfast:object/objects": super::objects,
            "holdfast:object/calls": super::calls,
            "holdfast:object/environment": super::environment,
            "holdfast:object/outbound": super::outbound,
        },
        imports: { default: trappable },
    });
}

/// The `shared-object` world: only its `hosting` export is used (a class whose component
/// exports it may host many objects per instance); the rest is the durable-object world's.
pub mod shared {
    wasmtime::component::bindgen!({
        world: "shared-object",
        path: "../wit",
        exports: { default: async },
        with: {
            "holdfast:object/types": super::types,
            "holdfast:object/storage": super::storage,
            "holdfast:object/sql": super::sql,
            "holdfast:object/context": super::context,
            "holdfast:object/objects": super::objects,
            "holdfast:object/calls": super::calls,
            "holdfast:object/environment": super::environment,
            "holdfast:object/websockets": super::websockets,
            "holdfast:object/outbound": super::outbound,
        },
        imports: { default: trappable },
    });
    pub use self::holdfast::object::hosting_context;
    pub use exports::holdfast::object::hosting;
}

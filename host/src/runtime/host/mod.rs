//! The WIT import traits, one file per interface. Thin: each call forwards to the domain logic
//! ([`ObjectStorage`](crate::store::ObjectStorage), [`Namespaces`](crate::id::Namespaces),
//! [`Hub`](crate::sockets::Hub), the [`Outbound`](crate::runtime::Outbound) port) and translates
//! types. What a class's store alone has (storage, context, sockets) is implemented on
//! [`StoreData`](super::store_data::StoreData); what workers have too (IDs, calls, vars) on
//! [`Reach`](super::store_data::Reach), which both kinds of store carry.

mod calls;
mod context;
mod environment;
mod hosting_context;
mod objects;
mod outbound;
mod sql;
mod storage;
mod websockets;
mod worker_context;

impl super::bindings::types::Host for super::store_data::Reach {}

//! The WIT import traits, implemented on the store data, one file per interface. Thin: each call
//! forwards to the domain logic ([`ObjectStorage`](crate::store::ObjectStorage),
//! [`Namespaces`](crate::id::Namespaces), [`Hub`](crate::sockets::Hub)) and translates types.

mod context;
mod objects;
mod storage;
mod websockets;

impl super::bindings::types::Host for super::store_data::StoreData {}

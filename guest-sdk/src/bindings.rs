//! Bindings generated from `wit/holdfast.wit` (world `application`: the class exports and the
//! worker export, so one crate can hold either; the unused one answers with an error).
//!
//! This module is the only place in the crate that contains `unsafe` code; everything else wraps
//! it in safe, documented types. It is public only so that `__export_durable_object!`, expanded
//! in the user's crate, can reach the generated export machinery.

wit_bindgen::generate!({
    world: "application",
    path: "../wit",
    pub_export_macro: true,
    default_bindings_module: "holdfast_sdk::bindings",
});

//! A WebAssembly component with no Holdfast exports: the host must refuse to start with it.

/// Something for the module to contain.
pub fn answer() -> u32 {
    42
}

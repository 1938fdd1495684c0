//! Procedural macros of `holdfast-sdk`. Use them through `holdfast_sdk`, which re-exports them.

use proc_macro::TokenStream;
use quote::quote;
use syn::{Item, parse_macro_input};

/// Exports a struct as the component's Durable Object class.
///
/// Put it on the struct that implements `holdfast_sdk::DurableObject`; the struct is kept as it
/// is and the component's `handler` export is generated for it. One per component. The struct
/// must not be generic (the component exports one concrete class).
///
/// ```ignore
/// #[holdfast_sdk::durable_object]
/// struct Counter {
///     state: holdfast_sdk::State,
/// }
/// ```
#[proc_macro_attribute]
pub fn durable_object(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = parse_macro_input!(input as Item);
    match expand(args, item) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand(args: proc_macro2::TokenStream, item: Item) -> syn::Result<proc_macro2::TokenStream> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "#[durable_object] takes no arguments",
        ));
    }
    let Item::Struct(item) = item else {
        return Err(syn::Error::new_spanned(
            item,
            "#[durable_object] must be put on a struct that implements \
             holdfast_sdk::DurableObject",
        ));
    };
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.generics,
            "#[durable_object] cannot export a generic struct: a component exports one \
             concrete class",
        ));
    }
    let ident = &item.ident;
    Ok(quote! {
        #item
        ::holdfast_sdk::__export_durable_object!(#ident);
    })
}

//! Procedural macros of `holdfast-sdk`. Use them through `holdfast_sdk`, which re-exports them.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{FnArg, ImplItem, Item, ItemImpl, ReturnType, Type, Visibility, parse_macro_input};

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

/// Exports a struct as the component's worker (the stateless entry point).
///
/// Put it on the struct that implements `holdfast_sdk::Worker`. One per component, and not in a
/// component that also exports a class with `#[durable_object]`.
#[proc_macro_attribute]
pub fn worker(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = parse_macro_input!(input as Item);
    let expanded = (|| {
        if !args.is_empty() {
            return Err(syn::Error::new_spanned(
                args,
                "#[worker] takes no arguments",
            ));
        }
        let Item::Struct(item) = item else {
            return Err(syn::Error::new_spanned(
                item,
                "#[worker] must be put on a struct that implements holdfast_sdk::Worker",
            ));
        };
        if !item.generics.params.is_empty() {
            return Err(syn::Error::new_spanned(
                &item.generics,
                "#[worker] cannot export a generic struct",
            ));
        }
        let ident = &item.ident;
        Ok(quote! {
            #item
            ::holdfast_sdk::__export_worker!(#ident);
        })
    })();
    match expanded {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// Makes the public methods of an `impl` block callable by other objects
/// (`Stub::call("name", (args,))`).
///
/// Every `pub fn` of the block that takes `&self` or `&mut self` is exposed under its own name.
/// Its parameters are decoded from the call's JSON array (each must implement
/// `serde::Deserialize`); its result, a value or a `Result` whose `Ok` implements
/// `serde::Serialize`, is encoded as JSON. An `Err` fails the call's event (its writes are
/// discarded) and reaches the caller with its message. Other functions of the block stay private.
///
/// ```ignore
/// #[holdfast_sdk::methods]
/// impl Counter {
///     pub fn increment(&mut self, by: i64) -> holdfast_sdk::Result<i64> { /* ... */ }
/// }
/// ```
#[proc_macro_attribute]
pub fn methods(args: TokenStream, input: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = parse_macro_input!(input as ItemImpl);
    match expand_methods(args, item) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

fn expand_methods(
    args: proc_macro2::TokenStream,
    item: ItemImpl,
) -> syn::Result<proc_macro2::TokenStream> {
    if !args.is_empty() {
        return Err(syn::Error::new_spanned(
            args,
            "#[methods] takes no arguments",
        ));
    }
    if let Some((_, path, _)) = &item.trait_ {
        return Err(syn::Error::new_spanned(
            path,
            "#[methods] goes on an inherent impl block (impl MyClass { ... }), not a trait impl",
        ));
    }
    if !item.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.generics,
            "#[methods] cannot be put on a generic impl block",
        ));
    }
    let self_ty = &item.self_ty;
    let mut arms = Vec::new();
    for it in &item.items {
        let ImplItem::Fn(f) = it else { continue };
        if !matches!(f.vis, Visibility::Public(_)) {
            continue;
        }
        let Some(FnArg::Receiver(_)) = f.sig.inputs.first() else {
            continue;
        };
        let name = &f.sig.ident;
        let name_str = name.to_string();
        let mut params = Vec::new();
        let mut types = Vec::new();
        for (i, arg) in f.sig.inputs.iter().skip(1).enumerate() {
            let FnArg::Typed(pt) = arg else { continue };
            params.push(format_ident!("__arg{}", i));
            types.push((*pt.ty).clone());
        }
        let is_result = match &f.sig.output {
            ReturnType::Type(_, ty) => match &**ty {
                Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Result"),
                _ => false,
            },
            ReturnType::Default => false,
        };
        let invoke = if is_result {
            quote! { self.#name(#(#params),*)? }
        } else {
            quote! { self.#name(#(#params),*) }
        };
        let decode = if params.is_empty() {
            quote! { ::holdfast_sdk::__rt::decode_no_args(#name_str, args)?; }
        } else {
            quote! {
                let (#(#params,)*): (#(#types,)*) =
                    ::holdfast_sdk::__rt::decode_args(#name_str, args)?;
            }
        };
        arms.push(quote! {
            #name_str => ::std::option::Option::Some((|| {
                #decode
                let __result = #invoke;
                ::holdfast_sdk::__rt::encode_result(#name_str, &__result)
            })()),
        });
    }
    Ok(quote! {
        #item

        impl ::holdfast_sdk::Methods for #self_ty {
            fn call_method(
                &mut self,
                method: &str,
                args: &[u8],
            ) -> ::std::option::Option<::holdfast_sdk::Result<::std::vec::Vec<u8>>> {
                match method {
                    #(#arms)*
                    _ => ::std::option::Option::None,
                }
            }
        }
    })
}

//! The `#[transaction]` attribute of `ocelot-client`. Use it through
//! `ocelot_client::attr::transaction`, not from this crate directly (it lives under `attr`
//! because the crate root's `transaction` is the `transaction!` macro).
//!
//! ```ignore
//! #[ocelot_client::attr::transaction]                 // type "Method", name "module::fn"
//! fn load_order(id: u64) -> Order { .. }
//!
//! #[ocelot_client::attr::transaction(type = "SQL", name = "OrderDao.insert")]
//! async fn insert(order: &Order) -> Result<(), DbError> { .. }
//! ```
//!
//! A sync function gets a guard for its whole body. An async function's body is wrapped in
//! `ocelot_client::in_transaction(..)`, so the tree survives `.await` points and the task
//! moving between threads; no guard is ever held across an `.await`.
//!
//! A function that returns an `Err` (from `return`, `?` or its tail) ends its transaction
//! failed, the error type's short name as status (`ParseIntError`: no module path or generic
//! arguments, the same name `error!` gives), as a Java method that throws fails CAT's
//! transaction; a status the body set itself is kept. (Not for `-> impl Trait`, whose type
//! the attribute cannot name.)

use proc_macro::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{parse_macro_input, ItemFn, LitStr, Token};

/// `type = "..."` and `name = "..."`, both optional, in any order.
struct Args {
    type_: Option<LitStr>,
    name: Option<LitStr>,
}

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args {
            type_: None,
            name: None,
        };
        while !input.is_empty() {
            let key: syn::Ident = if input.peek(Token![type]) {
                let t: Token![type] = input.parse()?;
                syn::Ident::new("type", t.span)
            } else {
                input.parse()?
            };
            input.parse::<Token![=]>()?;
            let value: LitStr = input.parse()?;
            let slot = match key.to_string().as_str() {
                "type" => &mut args.type_,
                "name" => &mut args.name,
                _ => {
                    return Err(syn::Error::new(
                        key.span(),
                        "unknown argument: expected `type = \"..\"` or `name = \"..\"`",
                    ))
                }
            };
            if slot.is_some() {
                return Err(syn::Error::new(key.span(), "argument given twice"));
            }
            *slot = Some(value);
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}

/// Records the function as a CAT transaction: type `Method` (or `type = ".."`), name
/// `module::function` (or `name = ".."`). Works on sync and async functions.
#[proc_macro_attribute]
pub fn transaction(attr: TokenStream, item: TokenStream) -> TokenStream {
    let args = parse_macro_input!(attr as Args);
    let function = parse_macro_input!(item as ItemFn);
    expand(args, function).into()
}

fn expand(args: Args, function: ItemFn) -> proc_macro2::TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    let type_ = match args.type_ {
        Some(t) => quote!(#t),
        None => quote!("Method"),
    };
    let fn_name = sig.ident.to_string();
    let name = match args.name {
        Some(n) => quote!(#n),
        None => quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
    };
    if sig.asyncness.is_some() {
        // An async block's output is the type of its first `return`: the unreachable one
        // below pins it to the declared return type, so that `?` and `return
        // Err(Box::new(e))` in the body convert errors as they do in the original function
        // (a `let` with the type after the block would be too late).
        let output = match &sig.output {
            syn::ReturnType::Default => quote!(()),
            syn::ReturnType::Type(_, ty) => quote!(#ty),
        };
        // A body that returns an `Err` fails its transaction: the inner async block keeps a
        // `return` in the body from skipping the check.
        let typed_body = if returns_impl_trait(&sig.output) {
            quote!(#block)
        } else {
            quote!({
                let __ocelot_output: #output = async move {
                    // Never runs: its `return` comes first, so it types the block's output.
                    #[allow(unreachable_code, clippy::diverging_sub_expression)]
                    if false {
                        let __ocelot_declared: #output = loop {};
                        return __ocelot_declared;
                    }
                    #block
                }
                .await;
                #FAIL_ON_ERR
                __ocelot_output
            })
        };
        quote! {
            #(#attrs)*
            #vis #sig {
                ::ocelot_client::in_transaction(#type_, #name, async move #typed_body).await
            }
        }
    } else if returns_impl_trait(&sig.output) {
        quote! {
            #(#attrs)*
            #vis #sig {
                let __ocelot_guard = ::ocelot_client::transaction!(#type_, #name);
                #block
            }
        }
    } else {
        let output = match &sig.output {
            syn::ReturnType::Default => quote!(()),
            syn::ReturnType::Type(_, ty) => quote!(#ty),
        };
        // The body runs in a closure so that a `return` in it comes back here, where an
        // `Err` fails the transaction before the guard ends it. The closure names the return
        // type, so a `return` in the body coerces as it does in the original function.
        quote! {
            #(#attrs)*
            #vis #sig {
                let __ocelot_guard = ::ocelot_client::transaction!(#type_, #name);
                #[allow(clippy::redundant_closure_call)]
                let __ocelot_output: #output = (move || -> #output #block)();
                #FAIL_ON_ERR
                __ocelot_output
            }
        }
    }
}

/// Whether the function returns `impl Trait` (whose type cannot be named for the check).
fn returns_impl_trait(output: &syn::ReturnType) -> bool {
    matches!(output, syn::ReturnType::Type(_, ty) if matches!(**ty, syn::Type::ImplTrait(_)))
}

/// Fails the innermost transaction (the attribute's own, once the body is done) when
/// `__ocelot_output` is an `Err`, naming the error type; other results change nothing.
const FAIL_ON_ERR: FailOnErr = FailOnErr;

struct FailOnErr;

impl quote::ToTokens for FailOnErr {
    fn to_tokens(&self, tokens: &mut proc_macro2::TokenStream) {
        tokens.extend(quote! {
            {
                #[allow(unused_imports)]
                use ::ocelot_client::__private::{
                    DebugResultStatus as _, NoStatus as _, ResultStatus as _,
                };
                if let ::core::option::Option::Some(status) =
                    (&&&::ocelot_client::__private::StatusOf(&__ocelot_output)).__ocelot_status()
                {
                    ::ocelot_client::__private::fail_innermost(status);
                }
            }
        });
    }
}

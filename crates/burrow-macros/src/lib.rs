//! `#[burrow::main]`: runs `fn main` as the main goroutine of a burrow
//! runtime (use it through the `burrow` facade).
//!
//! The macro is written against `proc_macro` alone (no `syn`): it only
//! needs to split a function into its signature and its body block and
//! wrap the body in `burrow::Runtime::run`, which keeps the build light.

use proc_macro::{Delimiter, Group, TokenStream, TokenTree};

/// Runs the annotated function inside a burrow runtime:
///
/// ```ignore
/// #[burrow::main]
/// fn main() {
///     let h = burrow::go(|| 6 * 7);
///     println!("{}", h.join().unwrap());
/// }
/// ```
///
/// expands to a `main` that builds a runtime with the defaults
/// (`BURROW_MAXPROCS` or the CPU count) and runs the body as its main
/// goroutine, returning the body's value. The body becomes a `move`
/// closure that must be `Send + 'static`. Takes no arguments.
#[proc_macro_attribute]
pub fn main(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error("#[burrow::main] takes no arguments");
    }
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();
    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        _ => return error("#[burrow::main] must be placed on a function with a body"),
    };
    let is_fn = tokens
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"));
    let is_async = tokens
        .iter()
        .any(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"));
    if !is_fn || is_async {
        return error("#[burrow::main] must be placed on a plain (non-async) fn");
    }
    // `::burrow::__run_main(move || { body })`, keeping the body's tokens
    // (and spans) as written.
    let mut run: TokenStream = "::burrow::__run_main".parse().expect("path parses");
    let mut closure: TokenStream = "move ||".parse().expect("closure head parses");
    closure.extend([TokenTree::Group(body)]);
    run.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        closure,
    ))]);
    let mut out: TokenStream = tokens.into_iter().collect();
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, run))]);
    out
}

fn error(msg: &str) -> TokenStream {
    format!("::core::compile_error!({msg:?});")
        .parse()
        .expect("compile_error parses")
}

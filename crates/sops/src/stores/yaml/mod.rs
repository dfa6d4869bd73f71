//! The YAML store: a go-yaml v3 compatible reader ([`parse`]), scalar resolver
//! ([`resolve`]) and emitter ([`emit`], with the string styles of `style`).

pub mod emit;
pub mod parse;
pub mod resolve;
mod style;

//! The YAML store: a go-yaml v3 compatible reader ([`parse`]), scalar resolver
//! ([`resolve`]) and emitter ([`emit`]).

pub mod emit;
pub mod parse;
pub mod resolve;

//! How much untrusted input Lockstep's parsers accept, defined once.
//!
//! Any file Lockstep reads may be someone else's: a tenant's repository, a SealedSecret
//! posted to the controller, a file handed to the CLI. A 559-byte YAML alias bomb expands
//! to 387 million nodes and `/dev/zero` never ends, so every parser of such input works
//! within [`LIMITS`]:
//! - the SOPS stores of `lockstep-sops` (their own YAML loader counts nesting, aliases and
//!   what alias expansion copies);
//! - render's manifests and kustomizations in `lockstep-engine`, and SealedSecret and Secret
//!   manifests in `lockstep-sealed`, through serde-saphyr with [`yaml_budget`];
//! - the age `enc` of a SOPS file in `lockstep-keys` ([`Limits::max_age_enc_bytes`]);
//! - the pgp `enc` of a SOPS file in `lockstep-keys` ([`Limits::max_pgp_enc_bytes`]);
//! - JSON, without duplicate keys ([`json::from_str`]);
//! - whole files and streams, read with [`read_file`] and [`read_bounded`] (the CLI's
//!   inputs, the files the decrypt stage reads from a repository).
//!
//! The crates that parse do not depend on each other, so the numbers live here, below all
//! of them. A breach is an error naming what was exceeded and the limit ([`Exceeded`]);
//! each parser adds the file and the place.

pub mod json;
mod read;

pub use read::{ReadError, read_bounded, read_file};

/// The limits, one field per kind of resource. [`LIMITS`] is the one value in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest file or stream read whole. sops files and SealedSecrets are far smaller
    /// (a Kubernetes object is at most 1.5 MiB); this is room for a large sops-encrypted
    /// binary, and a stop for `/dev/zero` or a wrong path.
    pub max_input_bytes: usize,
    /// Deepest nesting of mappings and sequences (YAML and JSON).
    pub max_depth: usize,
    /// Most alias uses (`*name`) in one YAML stream.
    pub max_aliases: usize,
    /// Most nodes (mappings, sequences, scalars) a YAML stream may expand to through its
    /// aliases. serde-saphyr counts every node, written or replayed from an alias, so for
    /// manifests this caps the whole stream; the SOPS loader counts the nodes alias
    /// expansion adds, because a SOPS file's own size is already bounded by
    /// [`Limits::max_input_bytes`] and sops has no node limit (files with millions of keys
    /// exist).
    pub max_nodes: usize,
    /// Most bytes of scalar text, counted like [`Limits::max_nodes`].
    pub max_scalar_bytes: usize,
    /// Largest armored age file in the `enc` of one SOPS age entry. sops writes one
    /// recipient stanza per entry (about 400 bytes armored, about 1.2 KiB for an RSA-4096
    /// SSH key); the age crate re-parses its header for every line it reads, so decrypting
    /// an entry costs time quadratic in its size.
    pub max_age_enc_bytes: usize,
    /// Largest armored OpenPGP message in the `enc` of one SOPS pgp entry. gpg writes one
    /// encrypted session key per recipient and a 32-byte literal (about 600 bytes armored
    /// for an RSA-4096 key); anything far larger is not a file sops made, and each
    /// encrypted session key in it costs a private-key operation to try.
    pub max_pgp_enc_bytes: usize,
}

/// The limits every parser of untrusted input applies.
///
/// The YAML numbers are serde-saphyr's defaults, which render used before they were
/// shared; Go sops refuses an alias bomb too ("excessive aliasing").
pub const LIMITS: Limits = Limits {
    max_input_bytes: 256 << 20,
    max_depth: 64,
    max_aliases: 50_000,
    max_nodes: 250_000,
    max_scalar_bytes: 64 << 20,
    max_age_enc_bytes: 16 << 10,
    max_pgp_enc_bytes: 16 << 10,
};

/// serde-saphyr's budget with [`LIMITS`]: for every YAML document parsed with serde-saphyr
/// (render's manifests and kustomizations, SealedSecrets, Secrets).
pub fn yaml_budget() -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(LIMITS.max_input_bytes);
    budget.max_depth = LIMITS.max_depth;
    budget.max_aliases = LIMITS.max_aliases;
    budget.max_nodes = LIMITS.max_nodes;
    budget.max_total_scalar_bytes = LIMITS.max_scalar_bytes;
    budget
}

/// serde-saphyr options with [`yaml_budget`] and otherwise serde-saphyr's defaults
/// (duplicate keys refused).
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: Some(yaml_budget()),
    }
}

/// Which limit an input exceeded. Its `Display` says what and the limit, never input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exceeded {
    /// Larger than [`Limits::max_input_bytes`].
    InputBytes,
    /// Nested deeper than [`Limits::max_depth`].
    Depth,
    /// More aliases than [`Limits::max_aliases`].
    Aliases,
    /// Aliases expand to more nodes than [`Limits::max_nodes`].
    AliasNodes,
    /// Aliases expand to more text than [`Limits::max_scalar_bytes`].
    AliasBytes,
    /// An age `enc` larger than [`Limits::max_age_enc_bytes`].
    AgeEncBytes,
    /// A pgp `enc` larger than [`Limits::max_pgp_enc_bytes`].
    PgpEncBytes,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let l = LIMITS;
        match self {
            Exceeded::InputBytes => write!(f, "larger than {}", bytes(l.max_input_bytes)),
            Exceeded::Depth => write!(f, "nested deeper than {} levels", l.max_depth),
            Exceeded::Aliases => {
                write!(f, "excessive aliasing: more than {} aliases", l.max_aliases)
            }
            Exceeded::AliasNodes => write!(
                f,
                "excessive aliasing: aliases expand to more than {} nodes",
                l.max_nodes
            ),
            Exceeded::AliasBytes => write!(
                f,
                "excessive aliasing: aliases expand to more than {} of text",
                bytes(l.max_scalar_bytes)
            ),
            Exceeded::AgeEncBytes => write!(
                f,
                "armored age data key larger than {} (sops writes one recipient, under 2 KiB)",
                bytes(l.max_age_enc_bytes)
            ),
            Exceeded::PgpEncBytes => write!(
                f,
                "armored OpenPGP data key larger than {} (sops writes one recipient, under 2 KiB)",
                bytes(l.max_pgp_enc_bytes)
            ),
        }
    }
}

/// A byte count as people read it (`256 MiB`, `16 KiB`, `100 bytes`).
pub fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_limit() {
        assert_eq!(Exceeded::InputBytes.to_string(), "larger than 256 MiB");
        assert!(Exceeded::AliasNodes.to_string().contains("250000 nodes"));
        assert!(
            Exceeded::AliasNodes
                .to_string()
                .starts_with("excessive aliasing")
        );
        assert_eq!(bytes(16 << 10), "16 KiB");
        assert_eq!(bytes(1000), "1000 bytes");
    }

    #[test]
    fn yaml_budget_refuses_an_alias_bomb() {
        let mut bomb = String::from("a0: &a0 lol\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(",");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = serde_saphyr::from_str_with_options::<serde_json::Value>(&bomb, yaml_options())
            .unwrap_err();
        assert!(err.to_string().contains("budget"), "{err}");
    }
}

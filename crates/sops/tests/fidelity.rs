//! Loading a sops-written file and emitting it again gives the same bytes, so rewriting a
//! file keeps `git diff` quiet. Files in the 3.13 layout must match entirely; older ones
//! in their data part (their metadata is rewritten in the 3.13 layout, on purpose).

use lockstep_sops::{EmitOptions, EncryptedFile};

use crate::util::*;

fn reemit(rel: &str, opts: &EmitOptions) -> (String, String) {
    let original = String::from_utf8(read(rel)).unwrap();
    let file = EncryptedFile::load(original.as_bytes(), format_of(rel)).unwrap();
    let again = String::from_utf8(file.emit(format_of(rel), opts).unwrap()).unwrap();
    (original, again)
}

fn yaml_indent(n: usize) -> EmitOptions {
    EmitOptions {
        yaml_indent: n,
        ..Default::default()
    }
}

/// The part of a file before its metadata.
fn data_part<'a>(text: &'a str, marker: &str) -> &'a str {
    &text[..text.find(marker).unwrap_or_else(|| panic!("no {marker:?}"))]
}

macro_rules! whole {
    ($name:ident, $file:expr, $opts:expr) => {
        #[test]
        fn $name() {
            let (original, again) = reemit($file, &$opts);
            assert_eq!(again, original);
        }
    };
}

macro_rules! data {
    ($name:ident, $file:expr, $opts:expr, $marker:expr) => {
        #[test]
        fn $name() {
            let (original, again) = reemit($file, &$opts);
            assert_eq!(data_part(&again, $marker), data_part(&original, $marker));
        }
    };
}

whole!(
    operator_v3_13_1_yaml,
    "age/sops-secrets-operator_v3.13.1_maconly.enc.yaml",
    yaml_indent(4)
);
whole!(
    getsops_v3_13_1_yaml,
    "pgp/getsops_functional-tests_format.enc.yaml",
    yaml_indent(4)
);
whole!(
    getsops_v3_13_1_json,
    "pgp/getsops_functional-tests_format.enc.json",
    EmitOptions::default()
);
whole!(
    getsops_v3_13_1_env,
    "pgp/getsops_functional-tests_format.enc.env",
    EmitOptions::default()
);
whole!(
    getsops_v3_13_2_ini,
    "pgp/getsops_functional-tests_format.enc.ini",
    EmitOptions::default()
);

data!(
    fluxcd_v3_7_0_yaml,
    "age/fluxcd_v3.7.0.enc.yaml",
    yaml_indent(4),
    "\nsops:"
);
data!(
    helm_v3_7_1_yaml,
    "age/helm-secrets_v3.7.1.enc.yaml",
    yaml_indent(4),
    "\nsops:"
);
data!(
    operator_v3_7_3_yaml,
    "age/sops-secrets-operator_v3.7.3_encsuffix.enc.yaml",
    yaml_indent(4),
    "\nsops:"
);
data!(
    operator_v3_12_1_yaml,
    "age/sops-secrets-operator_v3.12.1_encsuffix.enc.yaml",
    yaml_indent(4),
    "\nsops:"
);
data!(
    sops_nix_v3_7_1_yaml,
    "age/sops-nix_v3.7.1_age+pgp.enc.yaml",
    yaml_indent(4),
    "\nsops:"
);
data!(
    fluxcd_v3_9_0_indent2_yaml,
    "age/fluxcd_v3.9.0_indent2.enc.yaml",
    yaml_indent(2),
    "\nsops:"
);
data!(
    fluxcd_v3_10_2_indent2_yaml,
    "age/fluxcd_v3.10.2_indent2.enc.yaml",
    yaml_indent(2),
    "\nsops:"
);
data!(
    getsops_example_v3_10_2_yaml,
    "pgp/getsops_example.yaml",
    yaml_indent(4),
    "\nsops:"
);
data!(
    getsops_example_v3_5_0_json,
    "pgp/getsops_example.json",
    EmitOptions::default(),
    "\t\"sops\":"
);
data!(
    fluxcd_v3_9_0_binary,
    "age/fluxcd_v3.9.0_binary.enc.txt",
    EmitOptions::default(),
    "\t\"sops\":"
);
data!(
    fluxcd_v3_9_0_env,
    "age/fluxcd_v3.9.0.enc.env",
    EmitOptions::default(),
    "sops_"
);
data!(
    sops_nix_v3_7_3_env,
    "pgp/sops-nix_secrets.env",
    EmitOptions::default(),
    "sops_"
);
data!(
    sops_nix_v3_7_3_ini,
    "pgp/sops-nix_secrets.ini",
    EmitOptions::default(),
    "[sops]"
);
data!(
    unattributed_v3_12_2_ini,
    "unattributed/v3.12.2_age.enc.ini",
    EmitOptions::default(),
    "[sops]"
);
data!(
    getsops_example_v3_5_0_ini,
    "pgp/getsops_example.ini",
    EmitOptions::default(),
    "[sops]"
);

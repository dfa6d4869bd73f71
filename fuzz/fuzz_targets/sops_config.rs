//! `.sops.yaml` (a repository file: `lockstep rotate` and every SOPS verb read it) and the
//! `--extract`/`set` path syntax.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lockstep_sops::config::Config;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    let _ = lockstep_sops::path::parse(text);
    if let Ok(config) = Config::parse(text, Path::new("/repo/.sops.yaml")) {
        for file in ["/repo/secret.yaml", "/repo/a/b.enc.json", "/elsewhere/x.env"] {
            let _ = config.creation_rule(Path::new(file), &BTreeMap::new());
        }
    }
});

//! Command-line flags. Names and defaults follow the Bitnami controller where they exist
//! (`--key-prefix`, `--key-renew-period`, `--listen-addr`, …), so its deployment manifests
//! translate one to one.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The in-cluster controller: unseals SealedSecrets and owns the sealing keys.
#[derive(Debug, Parser)]
#[command(name = "lockstep-controller", version, about)]
pub struct Flags {
    /// Namespace holding the sealing key Secrets (the controller's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kube-system")]
    pub namespace: String,

    /// Watch SealedSecrets in every namespace; `--all-namespaces=false` watches only
    /// `--namespace` (as the Bitnami flag of the same name).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub all_namespaces: bool,

    /// Name prefix of the key Secrets (`generateName`), as the Bitnami controller's.
    #[arg(long, default_value = "sealed-secrets-key")]
    pub key_prefix: String,

    /// How often a new sealing key is made; `0s` disables renewal. Go duration syntax
    /// (`720h`), as the Bitnami controller takes it.
    #[arg(long, default_value = "720h", value_parser = parse_duration)]
    pub key_renew_period: Duration,

    /// Size of new RSA sealing keys in bits.
    #[arg(long, default_value_t = 4096)]
    pub key_size: usize,

    /// Address of the certificate / verify / re-encrypt API and `/healthz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen_addr: SocketAddr,

    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub listen_metrics_addr: SocketAddr,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Installs the global tracing subscriber; `RUST_LOG` selects levels (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Parses a Go duration (`720h`, `90m`, `1h30m`, `45s`, `0`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: expected e.g. 720h, 90m or 45s"))?;
        number.clear();
        total += value
            * match unit.as_str() {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return Err(format!("invalid duration {text:?}: unknown unit {unit:?}")),
            };
    }
    if !number.is_empty() {
        return Err(format!(
            "invalid duration {text:?}: missing unit after {number}"
        ));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(parse_duration("720h"), Ok(Duration::from_secs(720 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("3d").is_err());
    }
}

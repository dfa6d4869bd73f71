//! A cluster's address and credentials kept as Argo CD keeps them: a Secret labelled
//! `argocd.argoproj.io/secret-type: cluster` with `server`, `name` and `config`, a JSON
//! document of `bearerToken` or `username`/`password`, and `tlsClientConfig` (`caData`,
//! `certData`, `keyData` as base64 of PEM, `serverName`, `insecure`). Read as the
//! kubeconfig it stands for, so the one kubeconfig path builds the client.
//!
//! Argo CD's cloud and plugin logins (`awsAuthConfig`, `execProviderConfig`) and its
//! `proxyUrl` run code or reach out beyond the cluster: refused by name, as is the
//! `namespaces` scoping Lockstep would not enforce.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use kube::config::{
    AuthInfo, Cluster, Context, Kubeconfig, NamedAuthInfo, NamedCluster, NamedContext,
};
use serde::Deserialize;

/// The `config` entry, as far as it is served; every other key is refused by name.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClusterConfig {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    bearer_token: Option<String>,
    #[serde(default)]
    tls_client_config: TlsClientConfig,
    #[serde(default)]
    disable_compression: bool,
    #[serde(flatten)]
    unserved: BTreeMap<String, serde_json::Value>,
}

/// `tlsClientConfig`: the byte fields are base64 in JSON, as Go marshals `[]byte`, which
/// is how a kubeconfig carries them too.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TlsClientConfig {
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    server_name: Option<String>,
    #[serde(default)]
    cert_data: Option<String>,
    #[serde(default)]
    key_data: Option<String>,
    #[serde(default)]
    ca_data: Option<String>,
}

/// The kubeconfig that `data`, an Argo CD cluster Secret's entries, stands for.
///
/// # Errors
/// What is missing, unreadable or not served, naming the entry or field and never a
/// value.
pub fn kubeconfig(data: &BTreeMap<String, ByteString>) -> Result<Kubeconfig, String> {
    let text = |key: &str| -> Result<Option<&str>, String> {
        data.get(key)
            .map(|v| std::str::from_utf8(&v.0).map_err(|_| format!("{key} is not UTF-8 text")))
            .transpose()
    };
    let server = text("server")?.ok_or("it has no server entry")?;
    if text("namespaces")?.is_some_and(|n| !n.trim().is_empty()) {
        return Err(
            "its namespaces entry (a cluster scoped to some namespaces) is not \
                    served by Lockstep; remove it"
                .into(),
        );
    }
    // A bad document is named, not quoted: it holds the credentials.
    let config: ClusterConfig = match text("config")? {
        Some(config) => serde_json::from_str(config)
            .map_err(|_| "its config entry is not Argo CD's cluster config JSON")?,
        None => ClusterConfig::default(),
    };
    if !config.unserved.is_empty() {
        let fields: Vec<&str> = config.unserved.keys().map(String::as_str).collect();
        return Err(format!(
            "config.{} not served by Lockstep; give the cluster a bearerToken, \
             username/password or client certificate instead",
            fields.join(", config.")
        ));
    }
    let tls = config.tls_client_config;
    let cluster = Cluster {
        server: Some(server.to_owned()),
        insecure_skip_tls_verify: Some(tls.insecure),
        certificate_authority_data: tls.ca_data,
        tls_server_name: tls.server_name,
        disable_compression: Some(config.disable_compression),
        ..Cluster::default()
    };
    let auth_info = AuthInfo {
        username: config.username,
        password: config.password.map(Into::into),
        token: config.bearer_token.map(Into::into),
        client_certificate_data: tls.cert_data,
        client_key_data: tls.key_data.map(Into::into),
        ..AuthInfo::default()
    };
    let name = text("name")?.unwrap_or(server).to_owned();
    Ok(Kubeconfig {
        clusters: vec![NamedCluster {
            name: name.clone(),
            cluster: Some(cluster),
            other: BTreeMap::new(),
        }],
        auth_infos: vec![NamedAuthInfo {
            name: name.clone(),
            auth_info: Some(auth_info),
            other: BTreeMap::new(),
        }],
        contexts: vec![NamedContext {
            name: name.clone(),
            context: Some(Context {
                cluster: name.clone(),
                user: Some(name.clone()),
                ..Context::default()
            }),
            other: BTreeMap::new(),
        }],
        current_context: Some(name),
        ..Kubeconfig::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(entries: &[(&str, &str)]) -> BTreeMap<String, ByteString> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
            .collect()
    }

    /// A token, a CA and a server name land where a kubeconfig keeps them.
    #[test]
    fn argo_cd_cluster_secret_reads_as_a_kubeconfig() {
        let config = r#"{"bearerToken": "Pq8-token", "tlsClientConfig":
            {"insecure": false, "caData": "Q0E=", "serverName": "api.internal"}}"#;
        let kubeconfig = kubeconfig(&data(&[
            ("name", "prod"),
            ("server", "https://prod.example:6443"),
            ("config", config),
            ("project", "team-a"),
        ]))
        .unwrap();
        assert_eq!(kubeconfig.current_context.as_deref(), Some("prod"));
        let cluster = kubeconfig.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://prod.example:6443"));
        assert_eq!(cluster.certificate_authority_data.as_deref(), Some("Q0E="));
        assert_eq!(cluster.tls_server_name.as_deref(), Some("api.internal"));
        assert_eq!(cluster.insecure_skip_tls_verify, Some(false));
        let auth = kubeconfig.auth_infos[0].auth_info.as_ref().unwrap();
        use secrecy::ExposeSecret;
        assert_eq!(
            auth.token.as_ref().map(|t| t.expose_secret()),
            Some("Pq8-token")
        );
    }

    /// What Lockstep does not serve is named, and no credential is ever quoted.
    #[test]
    fn unserved_logins_and_bad_documents_are_named_not_quoted() {
        let server = ("server", "https://prod.example");
        let exec = r#"{"bearerToken": "Pq8", "execProviderConfig": {"command": "x"}}"#;
        let err = kubeconfig(&data(&[server, ("config", exec)])).unwrap_err();
        assert!(
            err.starts_with("config.execProviderConfig not served"),
            "{err}"
        );
        let err = kubeconfig(&data(&[server, ("config", "{Pq8")])).unwrap_err();
        assert!(err.contains("not Argo CD's cluster config JSON") && !err.contains("Pq8"));
        let err = kubeconfig(&data(&[("config", "{}")])).unwrap_err();
        assert_eq!(err, "it has no server entry");
        let err = kubeconfig(&data(&[server, ("namespaces", "a,b")])).unwrap_err();
        assert!(err.contains("namespaces entry"), "{err}");
    }
}

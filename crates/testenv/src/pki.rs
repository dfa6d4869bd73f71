//! The certificates and keys a local control plane needs: a CA, the API server's serving
//! certificate for 127.0.0.1 (and, for a control plane with a node, the address Pods reach
//! it on), the client certificate it shows kubelets, and the service-account signing key.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::{Error, Result};

/// The files written by [`write`].
#[derive(Clone, Debug)]
pub(crate) struct Pki {
    pub(crate) ca_cert: PathBuf,
    pub(crate) ca_pem: String,
    pub(crate) serving_cert: PathBuf,
    pub(crate) serving_key: PathBuf,
    pub(crate) kubelet_client_cert: PathBuf,
    pub(crate) kubelet_client_key: PathBuf,
    pub(crate) service_account_key: PathBuf,
    pub(crate) service_account_pub: PathBuf,
}

/// Generates fresh keys and certificates into `dir`, the serving certificate valid for
/// `extra_names` too. Each control plane has its own, so no two test runs trust each
/// other's servers.
pub(crate) fn write(dir: &Path, extra_names: &[String]) -> Result<Pki> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "lockstep-testenv-ca");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    // In-cluster clients (a Pod's service account) connect to the `kubernetes` Service:
    // its ClusterIP, the first address of the test control plane's service range.
    let names = [
        "127.0.0.1",
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "10.96.0.1",
    ];
    let names = names
        .map(String::from)
        .into_iter()
        .chain(extra_names.iter().cloned());
    let mut serving_params = CertificateParams::new(names.collect::<Vec<_>>())?;
    serving_params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    let serving_key = KeyPair::generate()?;
    let serving = serving_params.signed_by(&serving_key, &ca)?;

    // What the API server shows a kubelet (logs, exec, port-forward): a member of
    // system:masters, as kubeadm's apiserver-kubelet-client.
    let mut kubelet_client_params = CertificateParams::new(Vec::<String>::new())?;
    kubelet_client_params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver-kubelet-client");
    kubelet_client_params
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    let kubelet_client_key = KeyPair::generate()?;
    let kubelet_client = kubelet_client_params.signed_by(&kubelet_client_key, &ca)?;

    let service_account = KeyPair::generate()?;

    let pki = Pki {
        ca_cert: dir.join("ca.crt"),
        ca_pem: ca.pem(),
        serving_cert: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        kubelet_client_cert: dir.join("apiserver-kubelet-client.crt"),
        kubelet_client_key: dir.join("apiserver-kubelet-client.key"),
        service_account_key: dir.join("service-account.key"),
        service_account_pub: service_account_public_key(dir),
    };
    write_file(&pki.ca_cert, &pki.ca_pem)?;
    write_file(&pki.serving_cert, &serving.pem())?;
    write_file(&pki.serving_key, &serving_key.serialize_pem())?;
    write_file(&pki.kubelet_client_cert, &kubelet_client.pem())?;
    write_file(&pki.kubelet_client_key, &kubelet_client_key.serialize_pem())?;
    write_file(&pki.service_account_key, &service_account.serialize_pem())?;
    write_file(&pki.service_account_pub, &service_account.public_key_pem())?;
    Ok(pki)
}

/// Where [`write`] puts the ServiceAccount token public key in `dir`.
pub(crate) fn service_account_public_key(dir: &Path) -> PathBuf {
    dir.join("service-account.pub")
}

pub(crate) fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(Error::io(format!("writing {}", path.display())))
}

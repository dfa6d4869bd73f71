//! Talking to the sealed-secrets controller through the API server's service proxy, the way
//! kubeseal does for `--fetch-cert`, `--validate` and `--re-encrypt` (and for sealing
//! without `--cert`): read the controller's Service for the name of its first port, then
//! send the request to `/api/v1/namespaces/{ns}/services/http:{name}:{port}/proxy/v1/…`.
//! Works with the Bitnami controller and `lockstep-controller` alike.

use anyhow::{Context as _, bail};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};

use crate::cmd::cluster::KubeFlags;

/// Which controller, and how to reach the API server (kubeconfig, `KUBECONFIG` or in-cluster).
#[derive(Debug)]
pub(crate) struct ControllerRef<'a> {
    /// `--controller-namespace`.
    pub namespace: &'a str,
    /// `--controller-name`: the Service's name.
    pub name: &'a str,
    /// `--kubeconfig` and `--context`.
    pub kube: &'a KubeFlags,
}

/// A connection to the controller's HTTP API through the service proxy.
pub(crate) struct Controller {
    runtime: tokio::runtime::Runtime,
    client: kube::Client,
    services: kube::core::Request,
    /// `http:<name>:<port name>`, the proxy's way of naming the Service's port.
    target: String,
    what: String,
}

impl Controller {
    /// Builds the client and looks the Service up.
    pub(crate) fn connect(controller: &ControllerRef<'_>) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the async runtime")?;
        let what = format!("service {}/{}", controller.namespace, controller.name);
        let (client, port) = runtime.block_on(async {
            let client = controller.kube.client().await?;
            let services: Api<Service> = Api::namespaced(client.clone(), controller.namespace);
            let service = match services.get(controller.name).await {
                Ok(service) => service,
                // kubeseal's advice, not kube-rs' dump of the Status.
                Err(kube::Error::Api(status)) if status.code == 404 => bail!(
                    "cannot get sealed secret {what}: not found; name the controller's Service \
                     with --controller-name and --controller-namespace, or seal offline with --cert"
                ),
                Err(kube::Error::Api(status)) => bail!(
                    "cannot get sealed secret {what}: {} {}: {}",
                    status.code,
                    status.reason,
                    status.message
                ),
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot get sealed secret {what}"));
                }
            };
            let port = service
                .spec
                .and_then(|spec| spec.ports)
                .and_then(|ports| ports.into_iter().next())
                .with_context(|| format!("{what} has no ports"))?;
            anyhow::Ok((client, port.name.unwrap_or_default()))
        })?;
        Ok(Self {
            runtime,
            client,
            services: kube::core::Request::new(format!(
                "/api/v1/namespaces/{}/services",
                controller.namespace
            )),
            target: format!("http:{}:{port}", controller.name),
            what,
        })
    }

    /// `GET /v1/cert.pem`: the certificate the controller seals with now.
    pub(crate) fn cert(&self) -> anyhow::Result<Vec<u8>> {
        let request = self
            .services
            .get_subresource("proxy/v1/cert.pem", &self.target)?;
        let text = self
            .runtime
            .block_on(self.client.request_text(request))
            .with_context(|| format!("cannot fetch certificate from {}", self.what))?;
        Ok(text.into_bytes())
    }

    /// `POST /v1/verify`: whether the controller can unseal `sealed` (its bytes as read).
    pub(crate) fn verify(&self, sealed: Vec<u8>) -> anyhow::Result<()> {
        match self.post("proxy/v1/verify", sealed) {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                bail!("unable to decrypt sealed secret")
            }
            Err(err) => Err(err).context(format!("cannot validate sealed secret ({})", self.what)),
        }
    }

    /// `POST /v1/rotate`: `sealed` re-encrypted with the controller's newest key (JSON).
    pub(crate) fn rotate(&self, sealed: Vec<u8>) -> anyhow::Result<String> {
        match self.post("proxy/v1/rotate", sealed) {
            Ok(json) => Ok(json),
            Err(kube::Error::Api(status)) if status.code == 409 => bail!("unable to rotate secret"),
            Err(err) => Err(err).context(format!("cannot re-encrypt secret ({})", self.what)),
        }
    }

    fn post(&self, path: &str, body: Vec<u8>) -> Result<String, kube::Error> {
        let request = self
            .services
            .create_subresource(path, &self.target, &PostParams::default(), body)
            .map_err(kube::Error::BuildRequest)?;
        self.runtime.block_on(self.client.request_text(request))
    }
}

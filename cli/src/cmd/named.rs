//! The `Sync` a verb names (`reconcile`, `tree`, `history`, …): its name, `-n` and the
//! cluster flags, and reading it with an error that says where to look.

use anyhow::{Context as _, bail};
use clap::Args;
use kube::api::Api;
use lockstep_api::Sync;

use super::cluster::{KubeFlags, Namespace};

/// The Sync a verb acts on.
#[derive(Debug, Args)]
pub struct Target {
    /// The Sync's name.
    pub name: String,

    #[command(flatten)]
    pub namespace: Namespace,

    #[command(flatten)]
    pub kube: KubeFlags,
}

/// The Sync a verb names, as it is, and where it was found.
pub struct Found {
    pub client: kube::Client,
    pub namespace: String,
    pub syncs: Api<Sync>,
    pub sync: Sync,
}

impl Target {
    /// The Sync named, as it is.
    ///
    /// # Errors
    /// When the cluster cannot be reached or read, or there is no such Sync.
    pub async fn read(&self) -> anyhow::Result<Found> {
        let config = self.kube.config().await?;
        let namespace = self.namespace.chosen(&config);
        let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
        let syncs = Api::<Sync>::namespaced(client.clone(), &namespace);
        let sync = syncs
            .get_opt(&self.name)
            .await
            .with_context(|| format!("reading Sync {} in namespace {namespace}", self.name))?;
        match sync {
            Some(sync) => Ok(Found {
                client,
                namespace,
                syncs,
                sync,
            }),
            None => bail!(
                "Sync {} not found in namespace {namespace}; `lockstep get syncs -A` lists them",
                self.name
            ),
        }
    }
}

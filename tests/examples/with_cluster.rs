//! Runs a command against the test environment's control plane: starts etcd,
//! kube-apiserver and kube-controller-manager (from `scripts/install-testenv.sh`), runs its
//! arguments with `KUBECONFIG` pointing at that cluster, and stops everything when the
//! command ends, passing its exit code on. `scripts/ux-review.sh` runs through it.

use std::process::ExitCode;

use lockstep_testenv::{ControlPlane, ControlPlaneOptions};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        anyhow::bail!("usage: with_cluster COMMAND [ARGUMENT...]");
    };
    let plane = ControlPlane::start(ControlPlaneOptions {
        controller_manager: true,
        ..ControlPlaneOptions::default()
    })
    .await?;
    let status = std::process::Command::new(program)
        .args(rest)
        .env("KUBECONFIG", plane.kubeconfig_path())
        .status()?;
    drop(plane);
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    ))
}

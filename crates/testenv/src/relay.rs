//! A TCP relay in front of a server, so a test can take the server "down" (connections
//! refused, open ones cut) and bring it back on the same address without losing what the
//! in-memory server behind it holds (OpenBao's dev mode and moto keep nothing across a
//! restart).

use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::{Error, Result};

/// A relay from a loopback port of its own to `127.0.0.1:<target>`; up until
/// [`Relay::down`]. Its tasks run on the runtime of the test that started it.
#[derive(Debug)]
pub struct Relay {
    port: u16,
    target: u16,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Relay {
    /// Starts relaying to `target` on a free port.
    ///
    /// # Errors
    /// [`Error::Io`] when no loopback port can be bound.
    pub async fn start(target: u16) -> Result<Relay> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(Error::io("binding the relay's port"))?;
        let port = listener
            .local_addr()
            .map_err(Error::io("reading the relay's port"))?
            .port();
        Ok(Relay {
            port,
            target,
            accept: Mutex::new(Some(tokio::spawn(serve(listener, target)))),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops listening and cuts every open connection.
    pub fn down(&self) {
        let mut accept = self.accept.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(task) = accept.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    ///
    /// # Errors
    /// [`Error::Io`] when the port cannot be bound again.
    pub async fn up(&self) -> Result<()> {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(Error::io(format!(
                "binding the relay's port {} again",
                self.port
            )))?;
        let task = tokio::spawn(serve(listener, self.target));
        *self.accept.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.down();
    }
}

/// Accepts and relays connections; aborting this task drops (and so aborts) them all.
async fn serve(listener: TcpListener, target: u16) {
    let mut connections = JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        connections.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

//! A TCP relay in front of a server, so a test can take the server "down" (connections
//! refused, open ones cut) and bring it back on the same address without losing what the
//! in-memory server behind it holds (OpenBao's dev mode keeps nothing across a restart).

use std::sync::Mutex;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A relay from a loopback port of its own to `127.0.0.1:<target>`; up until [`Relay::down`].
pub struct Relay {
    port: u16,
    target: u16,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Relay {
    /// Starts relaying to `target` on a free port.
    pub async fn start(target: u16) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        Relay {
            port,
            target,
            accept: Mutex::new(Some(tokio::spawn(serve(listener, target)))),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops listening and cuts every open connection.
    pub fn down(&self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn up(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        *self.accept.lock().unwrap() = Some(tokio::spawn(serve(listener, self.target)));
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

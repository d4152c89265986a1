//! Run an actix-web service on `127.0.0.1:<port>` (0 = ephemeral) in a background thread with
//! its own actix `System`, for every simulator (tests, `demo`, `bench`, `sandbox`). Generic over
//! what is mounted; the server stops (non-graceful, connections dropped) when the
//! [`SpawnedServer`] is dropped.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};

/// A running background server; dropping it stops the server and joins its thread.
#[derive(Debug)]
pub struct SpawnedServer {
    addr: SocketAddr,
    handle: Option<ServerHandle>,
    thread: Option<JoinHandle<()>>,
}

impl SpawnedServer {
    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // `stop` sends the command at once; the returned future only reports completion.
            drop(handle.stop(false));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serve an `App` configured by `configure` on `127.0.0.1:port` (`0`: an ephemeral port; 2
/// workers, no signal handling, 1 s shutdown timeout). Returns the bound address and the
/// stop-on-drop handle.
/// Errors: binding the port (e.g. `AddrInUse`) or starting the server thread.
pub fn spawn_app<F>(port: u16, configure: F) -> std::io::Result<(SocketAddr, SpawnedServer)>
where
    F: Fn(&mut web::ServiceConfig) + Send + Sync + Clone + 'static,
{
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    let (tx, rx) = mpsc::channel::<std::io::Result<ServerHandle>>();
    let thread = std::thread::Builder::new()
        .name(format!("sandbox-{}", addr.port()))
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || App::new().configure(configure.clone()))
                    .workers(2)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener);
                match server {
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                    Ok(server) => {
                        let server = server.run();
                        let _ = tx.send(Ok(server.handle()));
                        let _ = server.await;
                    }
                }
            });
        })?;
    let handle = match rx.recv() {
        Ok(Ok(handle)) => handle,
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => {
            let _ = thread.join();
            return Err(std::io::Error::other(
                "sandbox server thread ended before starting",
            ));
        }
    };
    Ok((
        addr,
        SpawnedServer {
            addr,
            handle: Some(handle),
            thread: Some(thread),
        },
    ))
}

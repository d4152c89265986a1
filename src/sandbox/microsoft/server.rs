//! Serving an [`MsSim`] on `127.0.0.1` with an ephemeral port, on its own thread and actix System.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer};

use super::MsSim;

/// A running sandbox server. Dropping it (or calling [`SpawnedServer::stop`]) stops the server
/// without waiting for open connections and joins its thread.
#[derive(Debug)]
pub struct SpawnedServer {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl SpawnedServer {
    /// The bound address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop the server now and wait for its thread to end.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for SpawnedServer {
    fn drop(&mut self) {
        // `ServerHandle::stop` sends the command eagerly; the returned future only waits for it.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serve `sim` (Entra, Graph and Workflows on one App) on `127.0.0.1:0` in a new thread with its
/// own actix System. Returns the base URL `http://127.0.0.1:PORT/` and the server guard.
///
/// Errors: binding the socket or starting the thread failed.
pub fn spawn(sim: MsSim) -> std::io::Result<(url::Url, SpawnedServer)> {
    let (tx, rx) = std::sync::mpsc::channel::<std::io::Result<(SocketAddr, ServerHandle)>>();
    let thread = std::thread::Builder::new()
        .name("ms-sandbox".to_string())
        .spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let factory_sim = sim.clone();
                let bound = HttpServer::new(move || {
                    let sim = factory_sim.clone();
                    App::new().configure(move |cfg| sim.configure(cfg))
                })
                .workers(2)
                .disable_signals()
                .shutdown_timeout(1)
                .bind(("127.0.0.1", 0));
                let server = match bound {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let Some(addr) = server.addrs().first().copied() else {
                    let _ = tx.send(Err(std::io::Error::other("no address bound")));
                    return;
                };
                let running = server.run();
                let _ = tx.send(Ok((addr, running.handle())));
                let _ = running.await;
            });
        })?;
    let (addr, handle) = match rx.recv() {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            let _ = thread.join();
            return Err(e);
        }
        Err(_) => {
            let _ = thread.join();
            return Err(std::io::Error::other("sandbox server thread ended early"));
        }
    };
    let url = url::Url::parse(&format!("http://{addr}/")).map_err(std::io::Error::other)?;
    Ok((
        url,
        SpawnedServer {
            addr,
            handle,
            thread: Some(thread),
        },
    ))
}

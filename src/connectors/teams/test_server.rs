//! A scripted HTTP server on `127.0.0.1:0` for this connector's unit tests (actix-web in a
//! background thread). Each request pops the next scripted answer (FIFO) and is recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use url::Url;

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Scripted {
    pub fn json(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Scripted>,
    requests: Vec<Recorded>,
}

type Shared = Arc<Mutex<State>>;

/// The running server; stopped on drop.
pub struct TestServer {
    base: Url,
    state: Shared,
    handle: actix_web::dev::ServerHandle,
}

impl TestServer {
    pub fn start() -> Self {
        let state: Shared = Arc::default();
        let shared = state.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let data = web::Data::new(shared);
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .app_data(web::PayloadConfig::new(1 << 20))
                        .default_service(web::to(answer))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .bind(("127.0.0.1", 0))
                .expect("bind 127.0.0.1:0");
                let addr = server.addrs()[0];
                let server = server.run();
                tx.send((addr, server.handle())).expect("report address");
                let _ = server.await;
            });
        });
        let (addr, handle) = rx.recv().expect("test server started");
        let base = Url::parse(&format!("http://{addr}/")).expect("base url");
        Self {
            base,
            state,
            handle,
        }
    }

    /// `http://127.0.0.1:<port>/`.
    pub fn base(&self) -> Url {
        self.base.clone()
    }

    pub fn push(&self, answer: Scripted) {
        self.state.lock().unwrap().script.push_back(answer);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let scripted = {
        let mut state = state.lock().unwrap();
        state.requests.push(Recorded {
            method: req.method().to_string(),
            path: req.path().to_string(),
            query: req.query_string().to_string(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: body.to_vec(),
        });
        state.script.pop_front()
    };
    let Some(scripted) = scripted else {
        return HttpResponse::InternalServerError().body("unscripted request");
    };
    if !scripted.delay.is_zero() {
        actix_web::rt::time::sleep(scripted.delay).await;
    }
    let status = actix_web::http::StatusCode::from_u16(scripted.status).expect("valid status");
    let mut response = HttpResponse::build(status);
    for (k, v) in &scripted.headers {
        response.insert_header((k.as_str(), v.as_str()));
    }
    response.body(scripted.body)
}

/// A reqwest client for tests (installs the ring provider reqwest needs with
/// `rustls-no-provider`).
pub fn test_client() -> reqwest::Client {
    test_client_with_timeout(Duration::from_secs(5))
}

/// [`test_client`] with a whole-request `timeout`.
pub fn test_client_with_timeout(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("client")
}

/// A port on 127.0.0.1 with nobody listening (connections are refused).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}

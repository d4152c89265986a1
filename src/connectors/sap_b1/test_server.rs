//! A tiny scripted Service Layer for unit tests: canned answers per path under `/b1s/v2/`,
//! served by actix-web on 127.0.0.1 (ephemeral port) in a background thread, and a log of the
//! requests it saw.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Canned {
    pub fn json(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        }
    }
    pub fn text(status: u16, body: &str) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "text/html".into())],
            body: body.as_bytes().to_vec(),
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// Raw query string as sent (percent-encoded).
    pub query: String,
    pub cookie: Option<String>,
    pub prefer: Option<String>,
    pub body: String,
}

#[derive(Default)]
struct State {
    /// Path below `/b1s/v2/` → answers; the last one repeats.
    routes: Mutex<HashMap<String, VecDeque<Canned>>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct TestServer {
    /// `http://127.0.0.1:<port>/b1s/v2/`
    pub base: url::Url,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl TestServer {
    pub fn start() -> Self {
        let state = Arc::new(State::default());
        let data = web::Data::from(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(data.clone())
                        .default_service(web::to(answer))
                })
                .workers(1)
                .disable_signals()
                .shutdown_timeout(0)
                .bind(("127.0.0.1", 0))
                .expect("bind test server");
                let addr = server.addrs()[0];
                let running = server.run();
                tx.send((addr, running.handle())).expect("send addr");
                let _ = running.await;
            });
        });
        let (addr, handle) = rx.recv().expect("test server started");
        Self {
            base: url::Url::parse(&format!("http://{addr}/b1s/v2/")).expect("base url"),
            state,
            handle,
        }
    }

    /// Replace the answers for `path` (below `/b1s/v2/`, without query) by `canned`.
    pub fn on(&self, path: &str, canned: Canned) {
        let mut routes = self.state.routes.lock().expect("routes");
        routes.insert(path.to_string(), VecDeque::from([canned]));
    }

    /// Queue answers for `path`: each is used once, the last one repeats.
    pub fn on_seq(&self, path: &str, answers: Vec<Canned>) {
        let mut routes = self.state.routes.lock().expect("routes");
        routes.insert(path.to_string(), answers.into());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("seen").clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

async fn answer(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    state.seen.lock().expect("seen").push(Seen {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        cookie: header("cookie"),
        prefer: header("prefer"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let key = req.path().trim_start_matches("/b1s/v2/").to_string();
    let canned = {
        let mut routes = state.routes.lock().expect("routes");
        match routes.get_mut(&key) {
            Some(queue) if queue.len() > 1 => queue.pop_front(),
            Some(queue) => queue.front().cloned(),
            None => None,
        }
    };
    let Some(canned) = canned else {
        return HttpResponse::NotFound()
            .content_type("application/json")
            .body(
                r#"{"error":{"code":"-2028","message":"No matching records found (ODBC -2028)"}}"#,
            );
    };
    let status = actix_web::http::StatusCode::from_u16(canned.status).expect("status");
    let mut response = HttpResponse::build(status);
    for (name, value) in &canned.headers {
        response.append_header((name.as_str(), value.as_str()));
    }
    response.body(canned.body)
}

/// A reqwest client like the application's (no cookie store), with the ring provider.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("client")
}

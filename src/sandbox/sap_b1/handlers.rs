//! actix-web routes of the simulated Service Layer under `/b1s/v2`. Each handler extracts
//! cookies/headers, runs the synchronous logic in [`State`](super::state::State) under the
//! mutex, releases it, and only then awaits (login delay) or runs the after-page hook.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

use super::state::{login_body, Cookies, Reply, RequestHeaders};
use super::SapSim;

/// Register the routes on `cfg` (scope `/b1s/v2`, the simulator as scope data).
pub fn configure(sim: &SapSim, cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/b1s/v2")
            .app_data(web::Data::new(sim.clone()))
            .route("/Login", web::post().to(login))
            .route("/Logout", web::post().to(logout))
            .route(
                "/CompanyService_GetCompanyInfo",
                web::post().to(company_info),
            )
            .route("/{resource}/{op}", web::get().to(count))
            .route("/{resource}", web::get().to(get_resource))
            .route("/{resource}", web::post().to(post_record))
            .default_service(web::to(not_found)),
    );
}

/// `scheme://host/b1s/v2/` as the client addressed us, for `@odata.context`.
fn service_root(req: &HttpRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}/b1s/v2/", info.scheme(), info.host())
}

fn cookies(req: &HttpRequest) -> Cookies {
    Cookies {
        b1session: req.cookie("B1SESSION").map(|c| c.value().to_string()),
        routeid: req.cookie("ROUTEID").map(|c| c.value().to_string()),
    }
}

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

const JSON_TYPE: &str = "application/json;odata.metadata=minimal;charset=utf-8";

/// Turn a [`Reply`] into an HTTP response.
fn respond(reply: Reply) -> HttpResponse {
    let status =
        |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply {
        Reply::Json {
            status: code,
            body,
            headers,
        } => {
            let mut builder = HttpResponse::build(status(code));
            builder.insert_header(("OData-Version", "4.0"));
            for (name, value) in headers {
                builder.insert_header((name, value));
            }
            builder.content_type(JSON_TYPE).body(body.to_string())
        }
        Reply::Text { status: code, body } => HttpResponse::build(status(code))
            .content_type("text/plain;charset=utf-8")
            .body(body),
        Reply::Broken { status: code, body } => HttpResponse::build(status(code))
            .content_type(JSON_TYPE)
            .body(body),
        Reply::Error {
            status: code,
            code: sap_code,
            message,
            details,
        } => {
            let body = if details {
                json!({"error": {"code": sap_code, "message": message, "details": []}})
            } else {
                json!({"error": {"code": sap_code, "message": message}})
            };
            HttpResponse::build(status(code))
                .content_type(JSON_TYPE)
                .body(body.to_string())
        }
        Reply::NoContent => HttpResponse::NoContent().finish(),
    }
}

/// The answer with `Date` set from the sandbox clock (the real Apache front end stamps its own
/// clock, RFC 9110 §6.6.1), so clients comparing clocks see the simulated time.
fn dated(sim: &SapSim, mut response: HttpResponse) -> HttpResponse {
    let now = sim.now();
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    if let Ok(text) = now.format(format) {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&text) {
            response
                .headers_mut()
                .insert(actix_web::http::header::DATE, value);
        }
    }
    response
}

/// Decrements the in-flight login counter when a login ends (also if the client went away).
struct LoginInFlight(SapSim);

impl Drop for LoginInFlight {
    fn drop(&mut self) {
        self.0.inner.logins_in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn login(req: HttpRequest, body: web::Bytes, sim: web::Data<SapSim>) -> HttpResponse {
    let root = service_root(&req);
    let config = sim.config().clone();
    if let Some(reply) = sim.lock().login_fault(&root) {
        return respond(reply);
    }
    let credentials: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return respond(Reply::Error {
                status: 400,
                code: "-1000".into(),
                message: "Invalid request body: expected {\"CompanyDB\",\"UserName\",\"Password\"}"
                    .into(),
                details: true,
            })
        }
    };
    let previous = sim.inner.logins_in_flight.fetch_add(1, Ordering::SeqCst);
    let _in_flight = LoginInFlight(sim.get_ref().clone());
    if previous > 0 {
        sim.lock().stats.concurrent_login_rejections += 1;
        return respond(Reply::Error {
            status: 500,
            code: "299".into(),
            message: "SAML Login Failed".into(),
            details: false,
        });
    }
    if !config.login_delay.is_zero() {
        actix_web::rt::time::sleep(config.login_delay).await;
    }
    let outcome = sim.lock().login(&credentials, &config);
    match outcome {
        Err(reply) => respond(reply),
        Ok(id) => {
            let mut response = respond(login_body(&root, &id, config.reported_timeout_minutes));
            let headers = response.headers_mut();
            for cookie in [
                format!("B1SESSION={id};HttpOnly"),
                "ROUTEID=.node1; path=/b1s".to_string(),
            ] {
                if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&cookie) {
                    headers.append(actix_web::http::header::SET_COOKIE, value);
                }
            }
            response
        }
    }
}

async fn logout(req: HttpRequest, sim: web::Data<SapSim>) -> HttpResponse {
    let reply = sim.lock().logout(&cookies(&req), sim.config());
    respond(reply)
}

async fn company_info(req: HttpRequest, sim: web::Data<SapSim>) -> HttpResponse {
    let root = service_root(&req);
    let reply = sim.lock().company_info(&cookies(&req), sim.config(), &root);
    dated(&sim, respond(reply))
}

async fn get_resource(
    req: HttpRequest,
    path: web::Path<String>,
    sim: web::Data<SapSim>,
) -> HttpResponse {
    let root = service_root(&req);
    let headers = RequestHeaders {
        prefer: header(&req, "Prefer"),
        b1s_page_size: header(&req, "B1S-PageSize"),
    };
    let (reply, served) = {
        let mut state = sim.lock();
        if state.serves_record(&path) {
            let reply = state.get_record(&path, req.query_string(), &cookies(&req), sim.config(), &root);
            drop(state);
            return dated(&sim, respond(reply));
        }
        state.get(
            &path,
            req.query_string(),
            &headers,
            &cookies(&req),
            sim.config(),
            &root,
        )
    };
    // The state lock is released here: the hook may call back into the simulator.
    if let Some((entity, page_index)) = served {
        if let Some(hook) = sim.after_page_hook() {
            hook(sim.get_ref(), &entity, page_index);
        }
    }
    dated(&sim, respond(reply))
}

/// `POST {entity}` of a write-back collection (`Activities`, `U_<TABLE>`); an answer held
/// back by a fault is awaited after the state lock is released.
async fn post_record(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    sim: web::Data<SapSim>,
) -> HttpResponse {
    let root = service_root(&req);
    let posted = sim
        .lock()
        .post_record(&path, &body, &cookies(&req), sim.config(), &root);
    if let Some(delay) = posted.delay {
        actix_web::rt::time::sleep(delay).await;
    }
    dated(&sim, respond(posted.reply))
}

async fn count(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    sim: web::Data<SapSim>,
) -> HttpResponse {
    let (entity, op) = path.into_inner();
    if op != "$count" {
        return not_found().await;
    }
    let reply = sim
        .lock()
        .count_request(&entity, req.query_string(), &cookies(&req), sim.config());
    respond(reply)
}

async fn not_found() -> HttpResponse {
    respond(Reply::Error {
        status: 404,
        code: "-1".into(),
        message: "Unrecognized resource path.".into(),
        details: true,
    })
}

//! HTTP handlers of the Twilio simulator (see the module docs of `super`).

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::state::{call_json, message_json, Callback, Region, State, StoredCall, StoredMessage};
use super::{TwilioFault, TwilioSim};

/// Twilio's JSON error answer.
fn error(status: u16, code: u32, message: impl Into<String>) -> HttpResponse {
    let status_code = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status_code).json(json!({
        "code": code,
        "message": message.into(),
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

fn unauthorized() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"Twilio API\""))
        .json(json!({
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }))
}

/// `+`, a non-zero digit, 1 to 14 more digits (E.164).
fn e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|d| {
        (2..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

/// Form or query pairs.
fn pairs(bytes: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Mount the API of `region` below `prefix`.
pub fn mount(sim: &TwilioSim, cfg: &mut web::ServiceConfig, prefix: &str, region: Region) {
    for collection in ["Messages", "Calls"] {
        let (post, list, fetch) = (sim.clone(), sim.clone(), sim.clone());
        cfg.service(
            web::resource(format!("{prefix}/2010-04-01/Accounts/{{account}}/{collection}.json"))
                .route(web::post().to(move |req: HttpRequest, path: web::Path<String>, body: Bytes| {
                    let sim = post.clone();
                    async move { create(&sim, region, collection, &req, &path, &body).await }
                }))
                .route(web::get().to(move |req: HttpRequest, path: web::Path<String>| {
                    let sim = list.clone();
                    async move { read_list(&sim, region, collection, &req, &path) }
                })),
        );
        cfg.service(
            web::resource(format!("{prefix}/2010-04-01/Accounts/{{account}}/{collection}/{{file}}"))
                .route(web::get().to(move |req: HttpRequest, path: web::Path<(String, String)>| {
                    let sim = fetch.clone();
                    async move {
                        let (account, file) = path.into_inner();
                        read_one(&sim, region, collection, &req, &account, &file)
                    }
                })),
        );
    }
}

/// The checks every request passes: auto-advance, a queued status fault, Basic auth for
/// `account` in `region`. `Some` is the answer to send instead.
fn admit(sim: &TwilioSim, region: Region, req: &HttpRequest, account: &str) -> Option<HttpResponse> {
    let made = {
        let mut state = sim.lock();
        match state.config.auto_advance {
            Some(every) if state.last_auto.elapsed() >= every => {
                state.last_auto = std::time::Instant::now();
                Some(state.config.send_callbacks)
            }
            _ => None,
        }
    };
    if made.is_some() {
        sim.advance();
    }
    let mut state = sim.lock();
    if let Some(TwilioFault::Status { .. }) = state.faults.front() {
        if let Some(TwilioFault::Status {
            status,
            code,
            retry_after_secs,
        }) = state.faults.pop_front()
        {
            let text = if status == 429 { "Too Many Requests" } else { "Service Unavailable" };
            let mut answer = error(status, code, text);
            if let Some(secs) = retry_after_secs {
                if let Ok(value) = header::HeaderValue::from_str(&secs.to_string()) {
                    answer.headers_mut().insert(header::RETRY_AFTER, value);
                }
            }
            return Some(answer);
        }
    }
    (!authorized(&state, region, req, account)).then(unauthorized)
}

/// Basic `AccountSid:AuthToken` (the region's token) or `ApiKeySid:Secret` (us1), for the
/// account of the path.
fn authorized(state: &State, region: Region, req: &HttpRequest, account: &str) -> bool {
    let c = &state.config;
    let Some(encoded) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Some(decoded) = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((user, password)) = decoded.split_once(':') else {
        return false;
    };
    let valid = (user == c.account_sid && password == state.auth_token(region))
        || (region == Region::Us1 && user == c.api_key_sid && password == c.api_key_secret);
    valid && account == c.account_sid
}

/// The Twilio error answer to an invalid create; `None` when it is valid.
fn validate(state: &State, collection: &str, form: &[(String, String)]) -> Option<HttpResponse> {
    let c = &state.config;
    let bad = |code, message: String| Some(error(400, code, message));
    let to = get(form, "To").unwrap_or_default();
    let from = get(form, "From");
    if collection == "Messages" {
        if to.is_empty() {
            return bad(21604, "A 'To' phone number is required.".into());
        }
        if !e164(to) || c.invalid.iter().any(|n| n == to) {
            return bad(21211, format!("The 'To' number {to} is not a valid phone number."));
        }
        match (from, get(form, "MessagingServiceSid")) {
            (None, None) => return bad(21603, "A 'From' phone number is required.".into()),
            (Some(f), _) if !c.numbers.iter().any(|n| n == f) => {
                return bad(
                    21606,
                    format!("The From phone number {f} is not a valid, SMS-capable inbound phone number or short code for your account."),
                )
            }
            (None, Some(sid)) if sid != c.messaging_service_sid => {
                return bad(21701, format!("The Messaging Service Sid {sid} is invalid."))
            }
            _ => {}
        }
        let body = get(form, "Body").unwrap_or_default();
        if body.is_empty() {
            return bad(21602, "Message body is required.".into());
        }
        if body.chars().count() > 1600 {
            return bad(21617, "The concatenated message body exceeds the 1600 character limit.".into());
        }
        if c.landlines.iter().any(|n| n == to) {
            return bad(21614, format!("'To' number {to} is not a valid mobile number"));
        }
    } else {
        if to.is_empty() {
            return bad(21201, "No 'To' number is specified".into());
        }
        if !e164(to) || c.invalid.iter().any(|n| n == to) {
            return bad(21211, format!("The 'To' number {to} is not a valid phone number."));
        }
        let Some(f) = from else {
            return bad(21213, "No 'From' number is specified".into());
        };
        if !c.numbers.iter().any(|n| n == f) {
            return bad(21210, format!("The source phone number provided, {f}, is not yet verified for your account."));
        }
        match (get(form, "Twiml"), get(form, "Url"), get(form, "ApplicationSid")) {
            (Some(twiml), _, _) => {
                if twiml.chars().count() > 4000 {
                    return bad(21220, "Twiml exceeds the 4000 character limit.".into());
                }
                if !well_formed_twiml(twiml) {
                    return bad(12100, "Document parse failure".into());
                }
            }
            (None, Some(_), _) | (None, None, Some(_)) => {}
            (None, None, None) => return bad(21205, "Url parameter is required.".into()),
        }
    }
    if let Some(callback) = get(form, "StatusCallback") {
        if url::Url::parse(callback).is_err() {
            return bad(21609, format!("The StatusCallback URL {callback} is not a valid URL."));
        }
    }
    None
}

/// Well-formed XML whose root element is `<Response>`.
fn well_formed_twiml(twiml: &str) -> bool {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(twiml);
    let (mut depth, mut roots, mut root_ok) = (0usize, 0usize, true);
    loop {
        match reader.read_event() {
            Err(_) => return false,
            Ok(Event::Eof) => return depth == 0 && roots == 1 && root_ok,
            Ok(Event::Start(e)) => {
                if depth == 0 {
                    roots += 1;
                    root_ok &= e.name().as_ref() == b"Response";
                }
                depth += 1;
            }
            Ok(Event::Empty(e)) => {
                if depth == 0 {
                    roots += 1;
                    root_ok &= e.name().as_ref() == b"Response";
                }
            }
            Ok(Event::End(_)) => depth = depth.saturating_sub(1),
            Ok(Event::Text(t)) => {
                if t.decode().is_err() || (depth == 0 && !t.iter().all(u8::is_ascii_whitespace)) {
                    return false;
                }
            }
            Ok(Event::GeneralRef(r)) => {
                let name = r.decode().unwrap_or_default();
                let known = ["amp", "lt", "gt", "quot", "apos"].contains(&name.as_ref())
                    || name.starts_with('#');
                if !known {
                    return false;
                }
            }
            Ok(_) => {}
        }
    }
}

async fn create(
    sim: &TwilioSim,
    region: Region,
    collection: &'static str,
    req: &HttpRequest,
    account: &str,
    body: &[u8],
) -> HttpResponse {
    if let Some(answer) = admit(sim, region, req, account) {
        return answer;
    }
    let form = pairs(body);
    let (answer, fault) = {
        let mut state = sim.lock();
        if let Some(answer) = validate(&state, collection, &form) {
            return answer;
        }
        let fault = match state.faults.front() {
            Some(TwilioFault::ErrorAfterStore { .. } | TwilioFault::DelayAfterStore { .. }) => {
                state.faults.pop_front()
            }
            _ => None,
        };
        let now = OffsetDateTime::now_utc();
        let to = get(&form, "To").unwrap_or_default().to_string();
        let callback = get(&form, "StatusCallback").map(str::to_string);
        let account_sid = state.config.account_sid.clone();
        let json = if collection == "Messages" {
            let service = get(&form, "MessagingServiceSid").map(str::to_string);
            let from = match get(&form, "From") {
                Some(f) => f.to_string(),
                None => state.config.numbers.first().cloned().unwrap_or_default(),
            };
            let message = StoredMessage {
                sid: state.sid("SM"),
                region,
                to,
                from,
                messaging_service_sid: service,
                body: get(&form, "Body").unwrap_or_default().to_string(),
                status: "queued".into(),
                error_code: None,
                date_created: now,
                date_sent: None,
                date_updated: now,
                status_callback: callback,
            };
            let json = message_json(&account_sid, &message);
            state.messages.push(message);
            json
        } else {
            let call = StoredCall {
                sid: state.sid("CA"),
                region,
                to,
                from: get(&form, "From").unwrap_or_default().to_string(),
                twiml: get(&form, "Twiml").unwrap_or_default().to_string(),
                status: "queued".into(),
                date_created: now,
                start_time: None,
                end_time: None,
                date_updated: now,
                status_callback: callback,
            };
            let json = call_json(&account_sid, &call);
            state.calls.push(call);
            json
        };
        (json, fault)
    };
    match fault {
        Some(TwilioFault::ErrorAfterStore { status }) => error(status, 20500, "Internal Server Error"),
        Some(TwilioFault::DelayAfterStore { delay }) => {
            tokio::time::sleep(delay).await;
            HttpResponse::Created().json(answer)
        }
        _ => HttpResponse::Created().json(answer),
    }
}

/// A `YYYY-MM-DD` filter value.
fn date(value: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format).ok()
}

/// Does `at` pass the `name`, `name<`, `name>` filters of `query` (dates in GMT)?
/// `Err` names a filter that is not a date.
fn dated(query: &[(String, String)], name: &str, at: Option<OffsetDateTime>, include_null: bool) -> Result<bool, String> {
    let mut ok = true;
    for (key, cmp) in [(name.to_string(), 0), (format!("{name}<"), -1), (format!("{name}>"), 1)] {
        let Some(value) = get(query, &key) else {
            continue;
        };
        let limit = date(value).ok_or_else(|| format!("Invalid {key}: {value}"))?;
        ok &= match at.map(|t| t.date()) {
            None => include_null,
            Some(d) => match cmp {
                0 => d == limit,
                -1 => d <= limit,
                _ => d >= limit,
            },
        };
    }
    Ok(ok)
}

fn read_list(sim: &TwilioSim, region: Region, collection: &str, req: &HttpRequest, account: &str) -> HttpResponse {
    if let Some(answer) = admit(sim, region, req, account) {
        return answer;
    }
    let query = pairs(req.query_string().as_bytes());
    let size: usize = match get(&query, "PageSize").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return error(400, 20001, "Invalid PageSize: must be 1 to 1000"),
    };
    let page: usize = get(&query, "Page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let offset = match get(&query, "PageToken") {
        None => 0,
        Some(token) => match token.strip_prefix("PA").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => return error(400, 20001, "Invalid PageToken"),
        },
    };
    let state = sim.lock();
    let c = &state.config;
    let matches = |to: &str, from: &str| {
        get(&query, "To").is_none_or(|t| t == to) && get(&query, "From").is_none_or(|f| f == from)
    };
    let mut rows: Vec<(OffsetDateTime, Value)> = Vec::new();
    if collection == "Messages" {
        for m in state.messages.iter().filter(|m| m.region == region && matches(&m.to, &m.from)) {
            match dated(&query, "DateSent", m.date_sent, c.date_filter_includes_unsent) {
                Ok(true) => rows.push((m.date_created, message_json(&c.account_sid, m))),
                Ok(false) => {}
                Err(e) => return error(400, 20001, e),
            }
        }
    } else {
        for call in state.calls.iter().filter(|x| x.region == region && matches(&x.to, &x.from)) {
            if get(&query, "Status").is_some_and(|s| s != call.status) {
                continue;
            }
            let passes = dated(&query, "StartTime", call.start_time, false)
                .and_then(|a| dated(&query, "EndTime", call.end_time, false).map(|b| a && b));
            match passes {
                Ok(true) => rows.push((call.date_created, call_json(&c.account_sid, call))),
                Ok(false) => {}
                Err(e) => return error(400, 20001, e),
            }
        }
    }
    // Newest first (stable: later creations first on equal times).
    rows.reverse();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let total = rows.len();
    let records: Vec<Value> = rows.into_iter().skip(offset).take(size).map(|(_, v)| v).collect();
    let path = req.path().to_string();
    let filters: Vec<(String, String)> = query
        .iter()
        .filter(|(k, _)| !["PageSize", "Page", "PageToken"].contains(&k.as_str()))
        .cloned()
        .collect();
    let uri = |page: usize, offset: usize| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.extend_pairs(filters.iter());
        q.append_pair("PageSize", &size.to_string()).append_pair("Page", &page.to_string());
        if offset > 0 {
            q.append_pair("PageToken", &format!("PA{offset}"));
        }
        format!("{path}?{}", q.finish())
    };
    let next = (offset + size < total).then(|| uri(page + 1, offset + size));
    let previous = (page > 0).then(|| uri(page - 1, offset.saturating_sub(size)));
    let key = if collection == "Messages" { "messages" } else { "calls" };
    HttpResponse::Ok().json(json!({
        key: records,
        "end": offset + size.min(total.saturating_sub(offset)).saturating_sub(1),
        "first_page_uri": uri(0, 0),
        "next_page_uri": next,
        "page": page,
        "page_size": size,
        "previous_page_uri": previous,
        "start": offset,
        "uri": uri(page, offset),
    }))
}

fn read_one(sim: &TwilioSim, region: Region, collection: &str, req: &HttpRequest, account: &str, file: &str) -> HttpResponse {
    if let Some(answer) = admit(sim, region, req, account) {
        return answer;
    }
    let sid = file.strip_suffix(".json").unwrap_or(file);
    let state = sim.lock();
    let found = if collection == "Messages" {
        state
            .messages
            .iter()
            .find(|m| m.sid == sid && m.region == region)
            .map(|m| message_json(&state.config.account_sid, m))
    } else {
        state
            .calls
            .iter()
            .find(|c| c.sid == sid && c.region == region)
            .map(|c| call_json(&state.config.account_sid, c))
    };
    match found {
        Some(json) => HttpResponse::Ok().json(json),
        None => error(
            404,
            20404,
            format!("The requested resource {} was not found", req.path()),
        ),
    }
}

/// Is `url` on this machine (`127.0.0.1`, `[::1]` or `localhost`)? The sandbox calls nothing
/// else.
fn local(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
    })
}

/// POST each callback `copies` times with the same idempotency token (best effort, like
/// Twilio's single attempt by default); callbacks to a URL not on 127.0.0.1 are skipped.
pub async fn post_callbacks(callbacks: Vec<Callback>, copies: u32) {
    let client = reqwest::Client::new();
    for cb in callbacks {
        if !local(&cb.url) {
            tracing::debug!(url = %cb.url, "sandbox status callback skipped: not a local URL");
            continue;
        }
        for _ in 0..copies {
            let sent = client
                .post(&cb.url)
                .header("X-Twilio-Signature", &cb.signature)
                .header("I-Twilio-Idempotency-Token", &cb.idempotency_token)
                .form(&cb.params)
                .send()
                .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, "sandbox status callback not delivered");
            }
        }
    }
}

//! Tests of the simulator over real HTTP (`spawn` on 127.0.0.1 + reqwest).

use super::*;
use reqwest::header::HeaderMap;
use serde_json::json;
use std::collections::BTreeSet;
use time::macros::datetime;

const CHANGE_FILTER: &str =
    "(UpdateDate gt '2026-11-20' or (UpdateDate eq '2026-11-20' and UpdateTime ge '14:05:00'))";

struct Harness {
    client: reqwest::Client,
    sim: SapSim,
    base: url::Url,
    _server: SpawnedServer,
}

fn start(config: SapSandboxConfig) -> Harness {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = SapSim::new(config);
    let (base, server) = spawn(sim.clone(), 0).expect("spawn simulator");
    Harness {
        client: new_client(),
        sim,
        base,
        _server: server,
    }
}

fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client")
}

fn credentials() -> Value {
    json!({"CompanyDB": "SBODEMOUS", "UserName": "manager", "Password": "sandbox-password"})
}

impl Harness {
    fn url(&self, rel: &str) -> url::Url {
        self.base.join(rel).expect("relative url")
    }

    async fn login_with(&self, client: &reqwest::Client, body: Value) -> reqwest::Response {
        client
            .post(self.url("Login"))
            .json(&body)
            .send()
            .await
            .expect("login request")
    }

    async fn login(&self) {
        let r = self.login_with(&self.client, credentials()).await;
        assert_eq!(r.status(), 200);
    }

    async fn get(&self, rel: &str, page_size: Option<usize>) -> (u16, HeaderMap, String) {
        let mut req = self.client.get(self.url(rel));
        if let Some(n) = page_size {
            req = req.header("Prefer", format!("odata.maxpagesize={n}"));
        }
        let r = req.send().await.expect("get");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.text().await.expect("body"))
    }

    async fn get_json(&self, rel: &str, page_size: Option<usize>) -> (u16, Value) {
        let (status, _, body) = self.get(rel, page_size).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{rel}: {e}: {body}")),
        )
    }

    /// Follow nextLinks; returns the DocEntry lists of every page (the last one may be empty).
    async fn page_through(&self, first: &str, page_size: Option<usize>) -> Vec<Vec<i64>> {
        let mut pages = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(rel) = next.take() {
            let (status, body) = self.get_json(&rel, page_size).await;
            assert_eq!(status, 200, "{rel}: {body}");
            pages.push(entries(&body));
            next = body["@odata.nextLink"].as_str().map(str::to_string);
            assert!(pages.len() < 100_000, "runaway paging");
        }
        pages
    }
}

fn entries(body: &Value) -> Vec<i64> {
    body["value"]
        .as_array()
        .map(|v| v.iter().filter_map(|d| d["DocEntry"].as_i64()).collect())
        .unwrap_or_default()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn enc(filter: &str) -> String {
    query::percent_encode(filter)
}

#[tokio::test]
async fn login_answers_v2_shape_and_sets_both_cookies() {
    let h = start(SapSandboxConfig {
        reported_timeout_minutes: 25,
        ..Default::default()
    });
    let r = h.login_with(&reqwest::Client::new(), credentials()).await;
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let body: Value = r.json().await.expect("json");
    let id = body["SessionId"].as_str().expect("SessionId").to_string();
    assert_eq!(
        cookies,
        vec![
            format!("B1SESSION={id};HttpOnly"),
            "ROUTEID=.node1; path=/b1s".to_string()
        ]
    );
    assert_eq!(body["Version"], "1000110");
    assert_eq!(body["SessionTimeout"], 25);
    assert!(body["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("/b1s/v2/$metadata#B1Sessions/$entity")));
    assert_eq!(h.sim.stats().logins, 1);
    assert_eq!(h.sim.session_count(), 1);

    // Manual cookies work too (both are required).
    let plain = reqwest::Client::new();
    let ok = plain
        .post(h.url("CompanyService_GetCompanyInfo"))
        .header("Cookie", format!("B1SESSION={id}; ROUTEID=.node1"))
        .send()
        .await
        .expect("keepalive");
    assert_eq!(ok.status(), 200);
    let missing_route = plain
        .post(h.url("CompanyService_GetCompanyInfo"))
        .header("Cookie", format!("B1SESSION={id}"))
        .send()
        .await
        .expect("keepalive");
    assert_eq!(missing_route.status(), 401);
}

#[tokio::test]
async fn login_failures_use_sap_codes() {
    let h = start(SapSandboxConfig::default());
    let mut wrong = credentials();
    wrong["Password"] = json!("nope");
    let r = h.login_with(&h.client, wrong).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error": {"code": "-304", "message": "Fail to NONE-SSO login from SLD.", "details": []}})
    );

    let mut company = credentials();
    company["CompanyDB"] = json!("SBODEMOGB");
    let r = h.login_with(&h.client, company).await;
    assert_eq!(r.status(), 401);
    assert_eq!(error_code(&r.json().await.expect("json")), "-306");

    let r = h
        .client
        .post(h.url("Login"))
        .body("not json")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
    assert_eq!(h.sim.stats().logins, 0);
}

#[tokio::test]
async fn calls_without_a_live_session_are_401_301() {
    let h = start(SapSandboxConfig::default());
    let (status, body) = h.get_json("PurchaseOrders", None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "301");
    assert_eq!(
        body["error"]["message"],
        "Invalid session or session already timeout."
    );
    let bogus = reqwest::Client::new()
        .get(h.url("PurchaseOrders"))
        .header("Cookie", "B1SESSION=forged; ROUTEID=.node1")
        .send()
        .await
        .expect("send");
    assert_eq!(bogus.status(), 401);
    assert_eq!(h.sim.stats().unauthorized_401, 2);
    assert_eq!(h.sim.stats().collection_gets, 0);
}

#[tokio::test]
async fn inactivity_timeout_follows_the_sandbox_clock() {
    let h = start(SapSandboxConfig::default());
    h.sim.set_clock(Some(datetime!(2026-11-20 08:00:00 UTC))); // exact idle arithmetic
    h.login().await;
    // Used every 10 minutes: still valid at 50 minutes.
    for minutes in [10, 20, 30, 40, 50] {
        h.sim.set_time_offset(time::Duration::minutes(minutes));
        let (status, _) = h.get_json("PurchaseOrders", None).await;
        assert_eq!(status, 200, "at {minutes} min");
    }
    // Idle for 30 min exactly: still valid; 31 min: gone.
    h.sim.set_time_offset(time::Duration::minutes(80));
    assert_eq!(h.get_json("PurchaseOrders", None).await.0, 200);
    h.sim.set_time_offset(time::Duration::minutes(111));
    let (status, body) = h.get_json("PurchaseOrders", None).await;
    assert_eq!((status, error_code(&body)), (401, "301"));
    assert_eq!(h.sim.session_count(), 0);

    // Server-side kill.
    h.login().await;
    assert_eq!(h.get_json("PurchaseOrders", None).await.0, 200);
    h.sim.kill_sessions();
    assert_eq!(h.get_json("PurchaseOrders", None).await.0, 401);
}

#[tokio::test]
async fn overlapping_logins_get_500_299() {
    let h = start(SapSandboxConfig {
        login_delay: std::time::Duration::from_millis(300),
        ..Default::default()
    });
    let (a, b) = (new_client(), new_client());
    let first = h.login_with(&a, credentials());
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        h.login_with(&b, credentials()).await
    };
    let (r1, r2) = tokio::join!(first, second);
    assert_eq!(r1.status(), 200);
    assert_eq!(r2.status(), 500);
    let body: Value = r2.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error": {"code": "299", "message": "SAML Login Failed"}})
    );
    let stats = h.sim.stats();
    assert_eq!((stats.logins, stats.concurrent_login_rejections), (1, 1));
    // Serialised logins are fine.
    assert_eq!(h.login_with(&b, credentials()).await.status(), 200);
}

#[tokio::test]
async fn keepalive_and_logout() {
    let h = start(SapSandboxConfig::default());
    h.login().await;
    let r = h
        .client
        .post(h.url("CompanyService_GetCompanyInfo"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["CompanyName"], "OEC Computers");
    assert_eq!(body["Version"], "1000110");
    let r = h.client.post(h.url("Logout")).send().await.expect("send");
    assert_eq!(r.status(), 204);
    let r = h
        .client
        .post(h.url("CompanyService_GetCompanyInfo"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 401);
    let stats = h.sim.stats();
    assert_eq!(
        (stats.keepalives, stats.logouts, stats.unauthorized_401),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn change_filter_handles_the_day_boundary() {
    let h = start(SapSandboxConfig::default());
    // Stamp records at exact times: the session check uses the same clock.
    let stamps = [
        datetime!(2026-11-19 15:00:00 UTC), // 1: earlier day, later time
        datetime!(2026-11-20 14:04:59 UTC), // 2: same day, one second early
        datetime!(2026-11-20 14:05:00 UTC), // 3: exactly the cursor
        datetime!(2026-11-21 09:00:00 UTC), // 4: later day, earlier time: must match
        datetime!(2026-11-20 23:59:59 UTC), // 5
    ];
    for (i, at) in stamps.iter().enumerate() {
        h.sim.set_clock(Some(*at));
        h.sim
            .insert("PurchaseOrders", h.sim.generate("PurchaseOrders", i as u64));
    }
    h.sim.set_clock(Some(datetime!(2026-11-21 10:00:00 UTC)));
    h.login().await;
    let q = format!(
        "PurchaseOrders?$filter={}&$orderby=UpdateDate,UpdateTime,DocEntry",
        enc(CHANGE_FILTER)
    );
    let (status, body) = h.get_json(&q, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(entries(&body), vec![3, 5, 4]);
    assert_eq!(body["value"][2]["UpdateDate"], "2026-11-21T00:00:00Z");
    assert_eq!(body["value"][2]["UpdateTime"], "09:00:00");
    assert_eq!(body["value"][2]["CreationDate"], "2026-11-21T00:00:00Z");
    assert!(body["value"][0]["@odata.etag"]
        .as_str()
        .is_some_and(|e| e.starts_with("W/\"")));

    // The common wrong filter drops the later-day record with an earlier time.
    let wrong = "UpdateDate ge '2026-11-20' and UpdateTime ge '14:05:00'";
    let (_, body) = h
        .get_json(&format!("PurchaseOrders?$filter={}", enc(wrong)), None)
        .await;
    assert_eq!(entries(&body), vec![3, 5]);

    let (_, body) = h
        .get_json(
            &format!("PurchaseOrders?$filter={}", enc("DocEntry gt 3")),
            None,
        )
        .await;
    assert_eq!(entries(&body), vec![4, 5]);
    let (_, body) = h
        .get_json(
            &format!(
                "PurchaseOrders?$filter={}&$orderby=DocEntry%20desc",
                enc("DocEntry le 2 or DocEntry eq 5")
            ),
            None,
        )
        .await;
    assert_eq!(entries(&body), vec![5, 2, 1]);

    // update() bumps the stamp and the etag.
    let before = h.sim.document("PurchaseOrders", 1).expect("doc 1");
    h.sim.set_clock(Some(datetime!(2026-11-22 08:00:00 UTC)));
    assert!(h.sim.update(
        "PurchaseOrders",
        1,
        json!({"Comments": "changed", "DocEntry": 99})
    ));
    let after = h.sim.document("PurchaseOrders", 1).expect("doc 1");
    assert_eq!(after["DocEntry"], 1);
    assert_eq!(after["Comments"], "changed");
    assert_eq!(
        (after["UpdateDate"].as_str(), after["UpdateTime"].as_str()),
        (Some("2026-11-22T00:00:00Z"), Some("08:00:00"))
    );
    assert_eq!(after["CreationDate"], before["CreationDate"]);
    assert!(!h.sim.update("PurchaseOrders", 404, json!({})));
    h.login().await; // the frozen clock jumped a day: the old session idled out
    let (_, body) = h.get_json(&q, None).await;
    assert_eq!(entries(&body), vec![3, 5, 4, 1]);
}

#[tokio::test]
async fn bad_queries_are_400_201() {
    let h = start(SapSandboxConfig::default());
    h.sim
        .insert("VendorPayments", h.sim.generate("VendorPayments", 1));
    h.login().await;
    let cases = [
        (
            "PurchaseOrders?$filter=Nope%20eq%201",
            "Property 'Nope' is invalid",
        ),
        (
            "PurchaseOrders?$filter=DocEntry%20gt",
            "Query string error - Invalid filter condition",
        ),
        (
            "PurchaseOrders?$filter=DocEntry%20gt%20'x'",
            "Query string error - Invalid filter condition",
        ),
        ("PurchaseOrders?$orderby=Nope", "Property 'Nope' is invalid"),
        (
            "PurchaseOrders?$expand=DocumentLines",
            "Query string error - Invalid filter condition",
        ),
        (
            "VendorPayments?$filter=UpdateDate%20gt%20'2026-01-01'",
            "Property 'UpdateDate' is invalid",
        ),
        (
            "VendorPayments?$filter=DocTotal%20gt%200",
            "Property 'DocTotal' is invalid",
        ),
    ];
    for (rel, message) in cases {
        let (status, body) = h.get_json(rel, None).await;
        assert_eq!((status, error_code(&body)), (400, "201"), "{rel}");
        assert_eq!(body["error"]["message"], message, "{rel}");
    }
    let (status, body) = h
        .get_json("VendorPayments?$filter=DocEntry%20gt%200", None)
        .await;
    assert_eq!(status, 200);
    let pay = &body["value"][0];
    assert_eq!(pay["DocType"], "rSupplier");
    assert!(
        pay.get("UpdateDate").is_none()
            && pay.get("DocTotal").is_none()
            && pay["PaymentInvoices"].is_array()
    );
}

#[tokio::test]
async fn paging_follows_next_links_to_the_empty_page() {
    let h = start(SapSandboxConfig::default());
    for seed in 0..40 {
        h.sim
            .insert("PurchaseOrders", h.sim.generate("PurchaseOrders", seed));
    }
    h.login().await;
    let first = format!(
        "PurchaseOrders?$filter={}&$orderby=UpdateDate,UpdateTime,DocEntry",
        enc("DocEntry gt 0")
    );
    let (_, body) = h.get_json(&first, None).await;
    assert_eq!(
        body["@odata.nextLink"],
        "PurchaseOrders?$filter=DocEntry%20gt%200&$orderby=UpdateDate%2CUpdateTime%2CDocEntry&$skip=20"
    );
    let pages = h.page_through(&first, None).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![20, 20, 0],
        "full last page → empty page"
    );
    let all: Vec<i64> = pages.concat();
    assert_eq!(all, (1..=40).collect::<Vec<_>>());

    // Prefer: odata.maxpagesize, partial last page has no nextLink.
    let (_, headers, _) = h.get("PurchaseOrders", Some(15)).await;
    assert_eq!(
        headers
            .get("preference-applied")
            .and_then(|v| v.to_str().ok()),
        Some("odata.maxpagesize=15")
    );
    let pages = h.page_through("PurchaseOrders", Some(15)).await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![15, 15, 10]
    );

    // $top is carried down in the nextLink.
    let (_, body) = h
        .get_json("PurchaseOrders?$top=25&$select=DocEntry,DocNum", None)
        .await;
    assert_eq!(
        body["@odata.nextLink"],
        "PurchaseOrders?$select=DocEntry%2CDocNum&$top=5&$skip=20"
    );
    assert!(body["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("$metadata#PurchaseOrders(DocEntry,DocNum)")));
    let rec = body["value"][0].as_object().expect("record");
    assert_eq!(
        rec.keys().cloned().collect::<BTreeSet<_>>(),
        ["@odata.etag", "DocEntry", "DocNum"]
            .map(String::from)
            .into()
    );
    let pages = h.page_through("PurchaseOrders?$top=25", None).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![20, 5]);

    // $count=true
    let (_, body) = h
        .get_json(
            "PurchaseOrders?$count=true&$filter=DocEntry%20gt%2030",
            None,
        )
        .await;
    assert_eq!(body["@odata.count"], 10);
    assert_eq!(h.sim.stats().collection_gets, 1 + 3 + 1 + 3 + 1 + 2 + 1);
}

#[tokio::test]
async fn count_single_record_and_unknown_resources() {
    let h = start(SapSandboxConfig::default());
    for seed in 0..30 {
        h.sim.insert("Orders", h.sim.generate("Orders", seed));
    }
    h.login().await;
    let (status, headers, body) = h.get("Orders/$count", None).await;
    assert_eq!((status, body.as_str()), (200, "30"));
    assert!(headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/plain")));
    let (_, _, body) = h
        .get("Orders/$count?$filter=DocEntry%20le%2012", None)
        .await;
    assert_eq!(body, "12");

    let (status, headers, body) = h.get("Orders(7)", None).await;
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["DocEntry"], 7);
    assert_eq!(
        headers.get("etag").and_then(|v| v.to_str().ok()),
        doc["@odata.etag"].as_str()
    );
    assert!(doc["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("$metadata#Orders/$entity")));
    let (status, body) = h.get_json("Orders(999)", None).await;
    assert_eq!((status, error_code(&body)), (404, "-2028"));
    let (status, _) = h.get_json("Nonsense", None).await;
    assert_eq!(status, 404);

    // Two series, both numbered from 1: DocNum is not unique across series.
    let mut seen: std::collections::HashMap<i64, BTreeSet<i64>> = Default::default();
    for e in 1..=30 {
        let d = h.sim.document("Orders", e).expect("doc");
        seen.entry(d["DocNum"].as_i64().unwrap_or(0))
            .or_default()
            .insert(d["Series"].as_i64().unwrap_or(0));
    }
    assert!(
        seen.values().any(|series| series.len() == 2),
        "some DocNum shared by two series"
    );
}

#[tokio::test]
async fn injected_faults_apply_once_in_order() {
    let h = start(SapSandboxConfig::default());
    for seed in 0..50 {
        h.sim
            .insert("PurchaseInvoices", h.sim.generate("PurchaseInvoices", seed));
    }
    h.login().await;
    let entity = || "PurchaseInvoices".to_string();
    h.sim.inject(SapFault::MalformedJson { entity: entity() });
    h.sim.inject(SapFault::TruncatedPage { entity: entity() });
    h.sim.inject(SapFault::Status {
        entity: entity(),
        status: 500,
        code: 407,
        message: "Broken node".into(),
    });

    let (status, _, body) = h.get("PurchaseInvoices", None).await;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "malformed: {body}"
    );
    let (status, _, body) = h.get("PurchaseInvoices", None).await;
    assert_eq!(status, 200);
    assert!(
        serde_json::from_str::<Value>(&body).is_err(),
        "truncated: {body}"
    );
    assert!(body.starts_with("{\"@odata.context\""));
    let (status, body) = h.get_json("PurchaseInvoices", None).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"error": {"code": "407", "message": "Broken node", "details": []}})
    );
    assert_eq!(
        h.get_json("PurchaseInvoices", None).await.0,
        200,
        "faults are consumed"
    );

    // The session dies right before page 1 of a paging run.
    h.sim.inject(SapFault::KillSessionBeforePage {
        entity: entity(),
        page_index: 1,
    });
    let (status, body) = h.get_json("PurchaseInvoices", None).await;
    assert_eq!(status, 200);
    let next = body["@odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_string();
    let (status, body) = h.get_json(&next, None).await;
    assert_eq!((status, error_code(&body)), (401, "301"));
    h.login().await;
    let (status, body) = h.get_json(&next, None).await;
    assert_eq!(status, 200);
    assert_eq!(entries(&body), (21..=40).collect::<Vec<_>>());

    // Faults on actions.
    h.sim.inject(SapFault::Status {
        entity: "Login".into(),
        status: 500,
        code: 407,
        message: "Broken node".into(),
    });
    assert_eq!(h.login_with(&h.client, credentials()).await.status(), 500);
    assert_eq!(h.login_with(&h.client, credentials()).await.status(), 200);
}

#[tokio::test]
async fn after_page_hook_can_change_data_while_paging() {
    let h = start(SapSandboxConfig::default());
    for seed in 0..40 {
        h.sim
            .insert("PurchaseOrders", h.sim.generate("PurchaseOrders", seed));
    }
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = calls.clone();
    h.sim.set_after_page_hook(Some(Box::new(
        move |sim: &SapSim, entity: &str, page: usize| {
            if let Ok(mut v) = seen.lock() {
                v.push((entity.to_string(), page));
            }
            if page == 0 {
                // Changing a record already served moves it to the end of an UpdateDate-ordered run.
                sim.set_time_offset(time::Duration::minutes(5));
                sim.update(entity, 2, json!({"Comments": "edited while paging"}));
                sim.insert(entity, sim.generate(entity, 1000));
            }
        },
    )));
    h.login().await;
    let pages = h
        .page_through(
            "PurchaseOrders?$orderby=UpdateDate,UpdateTime,DocEntry",
            None,
        )
        .await;
    let all = pages.concat();
    // Pages of 20, 20, 1: record 2 moved behind the cursor and is served twice, record 21
    // slid into page 0's range and is never served. This is the real $skip hazard.
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![20, 20, 1],
        "{all:?}"
    );
    assert_eq!(all.iter().filter(|e| **e == 2).count(), 2);
    assert!(!all.contains(&21));
    assert_eq!(all.last(), Some(&41));
    assert_eq!(h.sim.count("PurchaseOrders"), 41);
    let calls = calls.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(
        calls.iter().map(|(_, p)| *p).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    h.sim.set_after_page_hook(None);
}

#[tokio::test]
async fn ten_thousand_documents_page_through_quickly() {
    let h = start(SapSandboxConfig::default());
    h.sim.set_clock(Some(datetime!(2026-11-20 14:00:00 UTC)));
    for seed in 0..10_000u64 {
        // Spread update stamps over a few days so the change filter and ordering do real work.
        h.sim
            .set_time_offset(time::Duration::seconds((seed as i64 * 37) % (3 * 86_400)));
        h.sim
            .insert("PurchaseOrders", h.sim.generate("PurchaseOrders", seed));
    }
    h.sim.set_time_offset(time::Duration::days(4));
    h.login().await;
    let started = std::time::Instant::now();
    let first = format!(
        "PurchaseOrders?$filter={}&$orderby=UpdateDate,UpdateTime,DocEntry",
        enc("UpdateDate ge '2026-11-20'")
    );
    let pages = h.page_through(&first, Some(100)).await;
    let by_stamp = started.elapsed();
    let all = pages.concat();
    assert_eq!(all.len(), 10_000);
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 10_000);

    let started = std::time::Instant::now();
    let pages = h
        .page_through(
            &format!(
                "PurchaseOrders?$filter={}&$orderby=DocEntry",
                enc("DocEntry gt 0")
            ),
            None,
        )
        .await;
    let by_key = started.elapsed();
    assert_eq!(pages.concat(), (1..=10_000).collect::<Vec<_>>());
    eprintln!("10,000 docs: by UpdateDate,UpdateTime pages of 100 in {by_stamp:?}; by DocEntry pages of 20 in {by_key:?}");
    assert!(
        by_stamp < std::time::Duration::from_secs(30)
            && by_key < std::time::Duration::from_secs(30)
    );
}

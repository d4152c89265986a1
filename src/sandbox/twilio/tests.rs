//! The Twilio simulator over real HTTP on 127.0.0.1 (ephemeral ports).

use serde_json::Value;

use super::*;

struct Sandbox {
    sim: TwilioSim,
    base: url::Url,
    _server: SpawnedServer,
    http: reqwest::Client,
}

impl Sandbox {
    fn start(config: TwilioSandboxConfig) -> Sandbox {
        let sim = TwilioSim::new(config);
        let (base, server) = spawn(sim.clone(), 0).expect("spawn");
        Sandbox {
            sim,
            base,
            _server: server,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}2010-04-01/Accounts/{}/{tail}", self.base, self.sim.config().account_sid)
    }

    async fn post(&self, tail: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let c = self.sim.config();
        let r = self
            .http
            .post(self.url(tail))
            .basic_auth(&c.account_sid, Some(&c.auth_token))
            .form(form)
            .send()
            .await
            .expect("POST");
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }

    async fn get(&self, tail_and_query: &str) -> (u16, Value) {
        let c = self.sim.config();
        let r = self
            .http
            .get(self.url(tail_and_query))
            .basic_auth(&c.api_key_sid, Some(&c.api_key_secret))
            .send()
            .await
            .expect("GET");
        (r.status().as_u16(), r.json().await.expect("JSON"))
    }
}

const FROM: &str = "+15005550006";

/// A create: collection, form, expected Twilio error code.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u64);

#[tokio::test]
async fn creates_check_required_fields_with_twilio_codes() {
    let s = Sandbox::start(TwilioSandboxConfig::default());
    let cases: [Case; 10] = [
        ("Messages.json", vec![("From", FROM), ("Body", "x")], 21604),
        ("Messages.json", vec![("To", "4915123"), ("From", FROM), ("Body", "x")], 21211),
        ("Messages.json", vec![("To", "+4915123456789"), ("Body", "x")], 21603),
        ("Messages.json", vec![("To", "+4915123456789"), ("From", "+15550001111"), ("Body", "x")], 21606),
        ("Messages.json", vec![("To", "+4915123456789"), ("From", FROM)], 21602),
        ("Messages.json", vec![("To", "+15005550009"), ("From", FROM), ("Body", "x")], 21614),
        ("Calls.json", vec![("From", FROM), ("Twiml", "<Response/>")], 21201),
        ("Calls.json", vec![("To", "+4915123456789"), ("Twiml", "<Response/>")], 21213),
        ("Calls.json", vec![("To", "+4915123456789"), ("From", FROM)], 21205),
        ("Calls.json", vec![("To", "+4915123456789"), ("From", FROM), ("Twiml", "<Response><Say>a & b</Say></Response>")], 12100),
    ];
    for (tail, form, code) in cases {
        let (status, body) = s.post(tail, &form).await;
        assert_eq!((status, body["code"].as_u64()), (400, Some(code)), "{form:?}: {body}");
        assert_eq!(body["more_info"], format!("https://www.twilio.com/docs/errors/{code}"));
    }
    let long = "x".repeat(1601);
    let (status, body) = s.post("Messages.json", &[("To", "+4915123456789"), ("From", FROM), ("Body", &long)]).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(21617)));
    assert!(s.sim.messages().is_empty() && s.sim.calls().is_empty());
}

#[tokio::test]
async fn basic_auth_is_checked_per_account_and_region() {
    let s = Sandbox::start(TwilioSandboxConfig::default());
    let c = s.sim.config();
    let status = |r: reqwest::Response| r.status().as_u16();
    let get = |user: &str, pass: &str, url: String| s.http.get(url).basic_auth(user, Some(pass)).send();
    assert_eq!(status(s.http.get(s.url("Messages.json")).send().await.expect("GET")), 401);
    assert_eq!(status(get(&c.account_sid, "nope", s.url("Messages.json")).await.expect("GET")), 401);
    let other = format!("{}2010-04-01/Accounts/AC{}/Messages.json", s.base, "0".repeat(32));
    assert_eq!(status(get(&c.account_sid, &c.auth_token, other).await.expect("GET")), 401);
    let eu = format!("{}ie1/2010-04-01/Accounts/{}/Messages.json", s.base, c.account_sid);
    assert_eq!(status(get(&c.account_sid, &c.auth_token, eu.clone()).await.expect("GET")), 401);
    assert_eq!(status(get(&c.account_sid, &c.eu_auth_token, eu).await.expect("GET")), 200);
    assert_eq!(status(get(&c.api_key_sid, &c.api_key_secret, s.url("Messages.json")).await.expect("GET")), 200);
}

#[tokio::test]
async fn messages_progress_and_list_filters_follow_the_spec() {
    let s = Sandbox::start(TwilioSandboxConfig::default());
    let callback = "https://gw.example.com/inbound/twilio_sms/ap?mlc_ref=1a2b3c4d";
    let (status, created) = s
        .post("Messages.json", &[("To", "+4915123456789"), ("From", FROM), ("Body", "hi"), ("StatusCallback", callback)])
        .await;
    assert_eq!(status, 201);
    let sid = created["sid"].as_str().expect("sid").to_string();
    assert_eq!(sid.len(), 34);
    assert!(sid.starts_with("SM") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(created["status"], "queued");
    assert_eq!(created["date_sent"], Value::Null);
    let (_, failing) = s.post("Messages.json", &[("To", "+15005550010"), ("From", FROM), ("Body", "x")]).await;

    let today = time::OffsetDateTime::now_utc().date();
    let dated = format!("Messages.json?To=%2B4915123456789&DateSent%3E={today}");
    assert_eq!(s.get(&dated).await.1["messages"].as_array().map(Vec::len), Some(0), "unsent: no date_sent");
    assert_eq!(s.get("Messages.json?To=%2B4915123456789").await.1["messages"][0]["sid"], sid.as_str());

    let made = s.sim.advance();
    assert_eq!(made.len(), 1, "one callback: the message with a StatusCallback");
    assert_eq!(s.get(&dated).await.1["messages"][0]["status"], "sent");
    s.sim.advance();
    let (_, one) = s.get(&format!("Messages/{sid}.json")).await;
    assert_eq!(one["status"], "delivered");
    let (_, failed) = s.get(&format!("Messages/{}.json", failing["sid"].as_str().expect("sid"))).await;
    assert_eq!((failed["status"].as_str(), failed["error_code"].as_u64()), (Some("undelivered"), Some(30003)));
    assert_eq!(s.get("Messages/SM00000000000000000000000000000000.json").await.0, 404);

    let callbacks = s.sim.callbacks();
    assert_eq!(callbacks.len(), 2);
    assert_eq!(callbacks[1].url, callback);
    let status_of = |cb: &Callback| cb.params.iter().find(|(k, _)| k == "MessageStatus").map(|(_, v)| v.clone());
    assert_eq!(status_of(&callbacks[0]).as_deref(), Some("sent"));
    assert_eq!(status_of(&callbacks[1]).as_deref(), Some("delivered"));
    assert_eq!(
        callbacks[1].signature,
        twilio_signature(&s.sim.config().auth_token, callback, &callbacks[1].params)
    );
    assert_ne!(callbacks[0].idempotency_token, callbacks[1].idempotency_token);
}

#[tokio::test]
async fn lists_page_with_next_page_uri() {
    let s = Sandbox::start(TwilioSandboxConfig::default());
    for n in 0..5 {
        let body = format!("m{n}");
        s.post("Messages.json", &[("To", "+4915123456789"), ("From", FROM), ("Body", &body)]).await;
    }
    let (_, page) = s.get("Messages.json?PageSize=2").await;
    let bodies = |p: &Value| p["messages"].as_array().expect("messages").iter().map(|m| m["body"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>();
    assert_eq!(bodies(&page), ["m4", "m3"]);
    let next = page["next_page_uri"].as_str().expect("next").to_string();
    let c = s.sim.config();
    let follow = |uri: String| {
        let url = s.base.join(&uri).expect("join");
        s.http.get(url).basic_auth(&c.account_sid, Some(&c.auth_token)).send()
    };
    let page2: Value = follow(next).await.expect("GET").json().await.expect("JSON");
    assert_eq!(bodies(&page2), ["m2", "m1"]);
    let page3: Value = follow(page2["next_page_uri"].as_str().expect("next").to_string())
        .await.expect("GET").json().await.expect("JSON");
    assert_eq!(bodies(&page3), ["m0"]);
    assert_eq!(page3["next_page_uri"], Value::Null);
    assert_eq!(s.get("Messages.json?PageSize=1001").await.0, 400);
}

#[tokio::test]
async fn calls_progress_to_completed_or_no_answer() {
    let s = Sandbox::start(TwilioSandboxConfig::default());
    let twiml = "<Response><Say voice=\"alice\" language=\"en-US\">Invoice &amp; more</Say></Response>";
    let (status, call) = s.post("Calls.json", &[("To", "+4915123456789"), ("From", FROM), ("Twiml", twiml)]).await;
    assert_eq!(status, 201);
    let sid = call["sid"].as_str().expect("sid").to_string();
    assert!(sid.starts_with("CA") && sid.len() == 34);
    s.post("Calls.json", &[("To", "+15005550011"), ("From", FROM), ("Twiml", twiml)]).await;
    let steps: Vec<Vec<String>> = (0..3)
        .map(|_| {
            s.sim.advance();
            s.sim.calls().into_iter().map(|c| c.status).collect()
        })
        .collect();
    assert_eq!(
        steps,
        [
            vec!["ringing", "ringing"],
            vec!["in-progress", "no-answer"],
            vec!["completed", "no-answer"],
        ]
    );
    let (_, listed) = s.get("Calls.json?Status=completed").await;
    assert_eq!(listed["calls"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["calls"][0]["sid"], sid.as_str());
}

#[tokio::test]
async fn faults_store_then_fail_or_throttle_without_storing() {
    let s = Sandbox::start(TwilioSandboxConfig::default());
    let form = [("To", "+4915123456789"), ("From", FROM), ("Body", "x")];
    s.sim.inject(TwilioFault::Status { status: 429, code: 20429, retry_after_secs: Some(2) });
    let (status, body) = s.post("Messages.json", &form).await;
    assert_eq!((status, body["code"].as_u64()), (429, Some(20429)));
    assert!(s.sim.messages().is_empty());
    s.sim.inject(TwilioFault::ErrorAfterStore { status: 502 });
    assert_eq!(s.post("Messages.json", &form).await.0, 502);
    assert_eq!(s.sim.messages().len(), 1);
}

/// Twilio's published example (twilio.com/docs/usage/security): auth token `12345`.
#[test]
fn signature_matches_twilios_published_example() {
    let params: Vec<(String, String)> = [
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+12349013030"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("To", "+18005551212"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", &params),
        "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    );
}

//! People mapping, @mention and the cards without buttons against both simulators: the Bot
//! Framework one (`src/sandbox/teams_bot`) and the Entra ID + Graph one (`src/sandbox/teams`,
//! `GET /v1.0/users/{upn}`).

use std::time::Duration;

use ml_connector_actors::clock::{Clock, SharedClock};
use ml_connector_actors::{Health, Outcome, SessionHandle, Sink};
use secrecy::SecretString;
use serde_json::{json, Value as Json};

use super::activity::{BotSink, BotTarget};
use super::approver::{ApproverOptions, ApproverSink};
use super::book::CardBook;
use super::config::{parse_credential, parse_destination, DEFAULT_MAX_CARD_VERSION};
use super::decision::DecisionKey;
use super::directory::GraphDirectory;
use super::people::{People, PeopleSettings};
use super::people_check::{cached_rows, static_rows};
use super::tests::{Rig, CONVERSATION, DECISION_KEY};
use crate::connectors::kit::conformance::{client, outbox_entry, serve, Served};
use crate::connectors::teams::{EntraAppToken, EntraSettings, GRAPH_APP_SCOPE};
use crate::sandbox::teams::{DirectoryUser, TeamsFault, TeamsSandboxConfig, TeamsSim};
use crate::sandbox::teams_bot::Forgery;

const JANE_ID: &str = "0c6f1c2e-1111-4a4a-9b9b-000000000001";
const JANE_UPN: &str = "jane@contoso.com";
const LINK: &str = "https://erp.example/Main?ScreenId=AP301000&RefNbr=B-1";
const DESTINATION: &str = "approvals-card";

/// The bot rig plus the Graph simulator and an [`ApproverSink`] in front of a [`BotSink`].
struct PeopleRig {
    rig: Rig,
    graph: TeamsSim,
    graph_served: Served,
    sink: ApproverSink,
}

impl PeopleRig {
    fn start(graph_config: TeamsSandboxConfig, options: ApproverOptions, settings: PeopleSettings) -> PeopleRig {
        PeopleRig::start_as(DESTINATION, graph_config, options, settings)
    }

    /// As [`PeopleRig::start`] for destination `destination` (its own metric series).
    fn start_as(destination: &str, graph_config: TeamsSandboxConfig, options: ApproverOptions, settings: PeopleSettings) -> PeopleRig {
        let rig = Rig::start();
        let bot = rig.sim.config();
        let graph = TeamsSim::new(TeamsSandboxConfig { client_id: bot.app_id.clone(), client_secret: bot.app_password.clone(), ..graph_config });
        graph.add_user(DirectoryUser {
            id: JANE_ID.into(),
            user_principal_name: JANE_UPN.into(),
            display_name: "Jane Smith".into(),
            mail: Some("jane.smith@contoso.com".into()),
        });
        let mounted = graph.clone();
        let graph_served = serve(move |cfg| mounted.configure(cfg));
        let clock: SharedClock = rig.clock.clone();
        let token = EntraAppToken::new(
            client(Duration::from_secs(1)),
            EntraSettings {
                login_base: graph_served.root.clone(),
                tenant_id: graph.config().tenant_id,
                client_id: bot.app_id.clone(),
                client_secret: SecretString::from(bot.app_password.clone()),
                scope: GRAPH_APP_SCOPE.into(),
            },
        )
        .expect("login base");
        let session = SessionHandle::new(token, "bot/directory", clock.clone(), Health::default());
        let directory = GraphDirectory::new(client(Duration::from_secs(1)), graph_served.root.clone(), session);
        let people = People::new(destination, rig.temp.store.clone(), clock.clone(), Some(directory), settings);
        let target = BotTarget {
            service_url: rig.served.root.clone(),
            conversation_id: CONVERSATION.into(),
            decision_ttl: Duration::from_secs(3600),
            max_card_version: DEFAULT_MAX_CARD_VERSION,
        };
        let key = DecisionKey::new(SecretString::from(DECISION_KEY)).expect("key");
        let book = CardBook::new(rig.temp.store.clone(), &bot.app_id);
        let inner = BotSink::new(client(Duration::from_secs(1)), target, key, book, clock);
        let sink = ApproverSink::new(inner, people, options);
        PeopleRig { rig, graph, graph_served, sink }
    }

    fn default() -> PeopleRig {
        PeopleRig::start(TeamsSandboxConfig::default(), ApproverOptions::default(), PeopleSettings::default())
    }

    /// Post the approval card of bill `document` for `approver` (outbox entry `n`).
    async fn post(&self, n: u64, document: &str, approver: &str, approver_name: &str) -> Outcome {
        let payload = json!({"summary": format!("Bill {document}"), "card": {
            "type": "AdaptiveCard", "version": "1.4",
            "body": [{"type": "TextBlock", "text": format!("Bill {document} on hold")}],
            "mlc_approval": {"document": document, "version": "v1", "approver": approver, "approver_name": approver_name, "link": LINK},
        }});
        self.sink.deliver(&outbox_entry(DESTINATION, n, payload), &self.rig.token().await).await
    }

    /// The card of stored activity `index`.
    fn card(&self, index: usize) -> Json {
        self.rig.sim.activities()[index].card.clone()
    }
}

fn verbs(card: &Json) -> Vec<String> {
    card["actions"].as_array().into_iter().flatten().map(|a| a["type"].as_str().unwrap_or_default().to_string()).collect()
}

fn mention(id: &str, name: &str) -> Json {
    json!({"entities": [{"type": "mention", "text": format!("<at>{name}</at>"), "mentioned": {"id": id, "name": name}}]})
}

#[actix_web::test]
async fn an_e_mail_approver_is_resolved_and_its_id_is_in_the_token_and_the_mention() {
    let p = PeopleRig::default();
    assert_eq!(p.post(1, "B-1", "Jane@Contoso.com", "").await, Outcome::Delivered { remote_id: "1:1".into() });
    let card = p.card(0);
    assert_eq!(verbs(&card), vec!["Action.Execute", "Action.Execute"]);
    let token = card["actions"][0]["data"]["mlc_decision"].as_str().expect("token");
    let key = DecisionKey::new(SecretString::from(DECISION_KEY)).expect("key");
    let claims = key.verify(token, p.rig.clock.now_ms() / 1000).expect("verifies");
    assert_eq!((claims.approver.as_str(), claims.approver_name.as_str()), (JANE_ID, "Jane Smith"));
    assert_eq!(card["msteams"], mention(JANE_ID, "Jane Smith"));
    assert_eq!(card["body"][1], json!({"type": "TextBlock", "text": "Approver: <at>Jane Smith</at>", "wrap": true}));
    assert_eq!(card.get("mlc_approval"), None);
    assert_eq!(p.graph.user_lookups(), 1);
}

#[actix_web::test]
async fn an_approver_given_by_mail_address_rather_than_upn_is_found_by_mail() {
    let p = PeopleRig::default();
    assert_eq!(p.post(1, "B-1", "Jane.Smith@contoso.com", "").await, Outcome::Delivered { remote_id: "1:1".into() });
    assert_eq!(p.card(0)["msteams"], mention(JANE_ID, "Jane Smith"));
    assert_eq!(verbs(&p.card(0)), vec!["Action.Execute", "Action.Execute"]);
    assert_eq!(p.graph.user_lookups(), 2);
}

#[actix_web::test]
async fn a_cached_approver_is_not_looked_up_again_until_it_expires() {
    let settings = PeopleSettings { found_ttl: Duration::from_secs(60), not_found_ttl: Duration::from_secs(10) };
    let p = PeopleRig::start(TeamsSandboxConfig::default(), ApproverOptions::default(), settings);
    p.post(1, "B-1", JANE_UPN, "").await;
    p.rig.clock.advance(Duration::from_millis(59_999));
    assert_eq!(p.post(2, "B-2", JANE_UPN, "").await, Outcome::Delivered { remote_id: "1:2".into() });
    assert_eq!(p.graph.user_lookups(), 1);
    p.rig.clock.advance(Duration::from_millis(1));
    p.post(3, "B-3", JANE_UPN, "").await;
    assert_eq!(p.graph.user_lookups(), 2);
    assert_eq!(p.card(2)["msteams"], mention(JANE_ID, "Jane Smith"));
}

#[actix_web::test]
async fn an_unknown_approver_gets_a_card_without_buttons_with_the_note_and_the_link() {
    let options = ApproverOptions { inbound: true, erp_name: "Acumatica".into() };
    let p = PeopleRig::start(TeamsSandboxConfig::default(), options, PeopleSettings::default());
    assert_eq!(p.post(1, "B-1", "x@y.com", "").await, Outcome::Delivered { remote_id: "1:1".into() });
    let card = p.card(0);
    assert_eq!(card["actions"], json!([{"type": "Action.OpenUrl", "title": "Open in Acumatica", "url": LINK}]));
    assert_eq!(
        card["body"],
        json!([
            {"type": "TextBlock", "text": "Bill B-1 on hold"},
            {"type": "TextBlock", "text": format!("Approver x@y.com was not found in Microsoft Entra ID — approve in Acumatica: {LINK}"), "wrap": true, "weight": "Bolder", "color": "Attention"},
        ])
    );
    assert_eq!(card.get("msteams"), None);
    let book = CardBook::new(p.rig.temp.store.clone(), &p.rig.sim.config().app_id);
    assert_eq!(book.get("B-1"), Ok(None));
    // Looked up as a UPN (404), then as a mail address (empty list): two requests. The "not
    // found" is cached: a second card makes no lookup, and check lists it.
    assert_eq!(p.graph.user_lookups(), 2);
    p.post(2, "B-2", "X@Y.com", "").await;
    assert_eq!(p.graph.user_lookups(), 2);
    let rows = cached_rows("teams_bot:approvals-card", p.sink.people());
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].target.as_str(), rows[0].ok), ("approver x@y.com", true));
    assert_eq!(
        rows[0].detail,
        format!("WARNING: not found in Microsoft Entra ID (looked up {}); its cards are posted without buttons", crate::time_text::utc(p.rig.clock.now_ms()))
    );
}

#[actix_web::test]
async fn without_user_read_all_the_card_is_not_posted_and_the_error_names_the_permission() {
    let graph = TeamsSandboxConfig { app_roles: String::new(), ..TeamsSandboxConfig::default() };
    let p = PeopleRig::start(graph, ApproverOptions::default(), PeopleSettings::default());
    assert_eq!(
        p.post(1, "B-1", JANE_UPN, "").await,
        Outcome::Permanent {
            status: None,
            reason: "approver jane@contoso.com not looked up: Microsoft Graph 403 Authorization_RequestDenied: the bot's app registration may not read users; grant it the Microsoft Graph application permission User.Read.All (with admin consent)".into(),
        }
    );
    assert_eq!(p.rig.sim.activities().len(), 0);
    assert_eq!(cached_rows("teams_bot:approvals-card", p.sink.people()).len(), 0);
}

#[actix_web::test]
async fn a_throttled_lookup_is_retried_later_and_nothing_is_posted_meanwhile() {
    let p = PeopleRig::default();
    p.graph.inject(TeamsFault::UserStatus { status: 429, retry_after_secs: Some(7) });
    assert_eq!(
        p.post(1, "B-1", JANE_UPN, "").await,
        Outcome::Retry { after: Some(Duration::from_secs(7)), reason: "approver jane@contoso.com not looked up yet: Microsoft Graph 429 TooManyRequests: throttled".into(), throttled: true }
    );
    assert_eq!(p.rig.sim.activities().len(), 0);
    p.graph.inject(TeamsFault::UserStatus { status: 503, retry_after_secs: None });
    assert_eq!(
        p.post(1, "B-1", JANE_UPN, "").await,
        Outcome::Retry { after: None, reason: "approver jane@contoso.com not looked up yet: Microsoft Graph 503 ServiceNotAvailable: try again".into(), throttled: false }
    );
    assert_eq!(p.post(1, "B-1", JANE_UPN, "").await, Outcome::Delivered { remote_id: "1:1".into() });
    assert_eq!(p.graph.user_lookups(), 3);
}

#[actix_web::test]
async fn without_an_inbound_path_the_card_has_no_buttons_and_says_approve_in_the_erp() {
    let options = ApproverOptions { inbound: false, erp_name: "Acumatica".into() };
    let p = PeopleRig::start(TeamsSandboxConfig::default(), options, PeopleSettings::default());
    assert_eq!(p.post(1, "B-1", JANE_ID, "Jane Smith").await, Outcome::Delivered { remote_id: "1:1".into() });
    let card = p.card(0);
    assert_eq!(verbs(&card), vec!["Action.OpenUrl"]);
    assert_eq!(card["msteams"], mention(JANE_ID, "Jane Smith"));
    assert_eq!(card["body"][1]["text"], "Approver: <at>Jane Smith</at>");
    assert_eq!(card["body"][2]["text"].as_str(), Some(format!("Approve in Acumatica: {LINK}").as_str()));
    assert_eq!(card["body"].as_array().map(Vec::len), Some(3));
    assert_eq!(p.graph.user_lookups(), 0);
}

#[actix_web::test]
async fn an_approver_given_by_e_mail_refuses_a_press_from_someone_else() {
    let p = PeopleRig::default();
    p.post(1, "B-1", JANE_UPN, "").await;
    let data = p.card(0)["actions"][0]["data"].clone();
    let (status, body) = p.rig.press(&p.rig.tap(data.clone(), "approve", "aad-mallory", Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(body["value"]["body"][0]["text"], "Only Jane Smith can decide on this card.");
    assert_eq!(p.rig.router.take(), Vec::new());
    let (status, body) = p.rig.press(&p.rig.tap(data, "approve", JANE_ID, Forgery::None)).await;
    assert_eq!(status, 200);
    let decided = body["value"]["body"].as_array().and_then(|b| b.last()).and_then(|b| b["text"].as_str()).unwrap_or_default().to_string();
    assert!(decided.starts_with("Approved by Jane Smith at "), "{decided}");
    assert_eq!(p.rig.router.take().len(), 1);
}

#[actix_web::test]
async fn the_bot_sandbox_refuses_a_mention_whose_text_is_not_in_the_card() {
    let p = PeopleRig::default();
    let payload = json!({"summary": "s", "card": {"type": "AdaptiveCard", "version": "1.4",
        "body": [{"type": "TextBlock", "text": "Jane Smith"}],
        "msteams": mention(JANE_ID, "Jane Smith")}});
    let outcome = p.rig.sink.deliver(&outbox_entry(DESTINATION, 1, payload), &p.rig.token().await).await;
    assert_eq!(
        outcome,
        Outcome::Permanent { status: Some(400), reason: "Bot Connector 400 BadArgument: the activity was refused; check the card JSON".into() }
    );
    assert_eq!(p.rig.sim.activities().len(), 0);
}

#[actix_web::test]
async fn graph_users_answers_like_graph() {
    let p = PeopleRig::default();
    let http = client(Duration::from_secs(1));
    let root = p.graph_served.root.clone();
    let token = {
        use ml_connector_actors::Authenticator;
        let bot = p.rig.sim.config();
        let settings = EntraSettings {
            login_base: root.clone(),
            tenant_id: "contoso-tenant".into(),
            client_id: bot.app_id,
            client_secret: SecretString::from(bot.app_password),
            scope: GRAPH_APP_SCOPE.into(),
        };
        EntraAppToken::new(http.clone(), settings).expect("base").login().await.expect("token").credentials
    };
    let get = |path: &str| {
        let (http, url, auth) = (http.clone(), root.join(path).expect("url"), token.header_value().expect("header"));
        async move {
            let r = http.get(url).header(reqwest::header::AUTHORIZATION, auth).send().await.expect("answer");
            (r.status().as_u16(), r.json::<Json>().await.expect("json"))
        }
    };
    let (status, body) = get("v1.0/users/JANE@contoso.com?$select=id,displayName").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"@odata.context": format!("{root}v1.0/$metadata#users(id,displayName)/$entity"), "id": JANE_ID, "displayName": "Jane Smith"}));
    let (status, body) = get("v1.0/users/jane.smith@contoso.com").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("Request_ResourceNotFound")));
    assert_eq!(body["error"]["message"], "Resource 'jane.smith@contoso.com' does not exist or one of its queried reference-property objects are not present.");
    let (status, body) = get(&format!("v1.0/users/{JANE_ID}?$select=id,manager")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Request_BadRequest")));
    let (status, body) = get("v1.0/users?$filter=mail%20eq%20'JANE.SMITH@contoso.com'&$select=id").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"@odata.context": format!("{root}v1.0/$metadata#users(id)"), "value": [{"id": JANE_ID}]}));
    let (status, body) = get("v1.0/users?$filter=startswith(mail,'jane')").await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("Request_UnsupportedQuery")));
    let (status, body) = get(&format!("v1.0/users/{JANE_ID}")).await;
    assert_eq!(status, 200);
    assert_eq!(body.as_object().map(|o| o.len()), Some(12));
}

#[actix_web::test]
async fn check_looks_static_approvers_up_now_and_names_the_permission_when_refused() {
    let p = PeopleRig::default();
    let emails = vec![JANE_UPN.to_string(), "x@y.com".to_string(), JANE_ID.to_string()];
    let rows = static_rows("teams_bot:a", p.sink.people(), &emails).await;
    let seen: Vec<(&str, bool, &str)> = rows.iter().map(|r| (r.target.as_str(), r.ok, r.detail.as_str())).collect();
    let found = format!("Entra user {JANE_ID} (Jane Smith)");
    assert_eq!(
        seen,
        vec![
            ("approver jane@contoso.com (route)", true, found.as_str()),
            ("approver x@y.com (route)", true, "WARNING: not found in Microsoft Entra ID; its cards are posted without buttons"),
        ]
    );
    assert_eq!(p.graph.user_lookups(), 3);
    let denied = PeopleRig::start(TeamsSandboxConfig { app_roles: String::new(), ..TeamsSandboxConfig::default() }, ApproverOptions::default(), PeopleSettings::default());
    let rows = static_rows("teams_bot:a", denied.sink.people(), &emails[..1]).await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].ok);
    assert_eq!(rows[0].detail, "approver jane@contoso.com not looked up: Microsoft Graph 403 Authorization_RequestDenied: the bot's app registration may not read users; grant it the Microsoft Graph application permission User.Read.All (with admin consent)");
}

#[actix_web::test]
async fn graph_lookups_are_counted_by_destination_and_outcome() {
    let metrics = crate::telemetry::metrics_handle();
    let p = PeopleRig::start_as("approvals-metrics", TeamsSandboxConfig::default(), ApproverOptions::default(), PeopleSettings::default());
    p.post(1, "B-1", JANE_UPN, "").await;
    p.post(2, "B-2", JANE_UPN, "").await;
    p.post(3, "B-3", "x@y.com", "").await;
    p.graph.inject(TeamsFault::UserStatus { status: 503, retry_after_secs: None });
    p.post(4, "B-4", "bob@contoso.com", "").await;
    let rendered = metrics.render();
    let mut lines: Vec<&str> = rendered.lines().filter(|l| l.starts_with("mlc_people_lookups_total{destination=\"approvals-metrics\"")).collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        vec![
            "mlc_people_lookups_total{destination=\"approvals-metrics\",outcome=\"error\"} 1",
            "mlc_people_lookups_total{destination=\"approvals-metrics\",outcome=\"not_found\"} 1",
            "mlc_people_lookups_total{destination=\"approvals-metrics\",outcome=\"resolved\"} 1",
        ]
    );
}

#[test]
fn directory_and_people_keys_are_read() {
    let credential: toml::Table = toml::from_str(
        r#"app_id = "a"
app_password = { secret = "p" }
decision_key = { secret = "k" }
directory = { tenant_id = "contoso.onmicrosoft.com", graph_base_url = "http://127.0.0.1:9/" }"#,
    )
    .expect("toml");
    let c = parse_credential(credential).expect("valid");
    let d = c.directory.expect("directory");
    assert_eq!((d.tenant_id.as_str(), d.graph_base_url.as_str()), ("contoso.onmicrosoft.com", "http://127.0.0.1:9/"));
    let destination: toml::Table = toml::from_str(
        r#"service_url = "http://127.0.0.1:9/"
conversation_id = "19:a@thread.tacv2"
inbound = false
erp_name = "Acumatica"
people_cache_seconds = 600
people_not_found_cache_seconds = 0"#,
    )
    .expect("toml");
    let d = parse_destination(destination).expect("valid");
    assert_eq!(d.approver, ApproverOptions { inbound: false, erp_name: "Acumatica".into() });
    assert_eq!(d.people, PeopleSettings { found_ttl: Duration::from_secs(600), not_found_ttl: Duration::ZERO });
    let defaults: toml::Table = toml::from_str("service_url = \"http://127.0.0.1:9/\"\nconversation_id = \"c\"").expect("toml");
    let d = parse_destination(defaults).expect("valid");
    assert_eq!(d.approver, ApproverOptions { inbound: true, erp_name: "the ERP".into() });
    assert_eq!(d.people, PeopleSettings { found_ttl: Duration::from_secs(86_400), not_found_ttl: Duration::from_secs(3600) });
}

#[actix_web::test]
async fn approver_chat_rows_warn_until_the_approvers_chat_is_stored() {
    use super::reference::{PersonalRef, Reference};
    use super::reference_check::approver_chat_rows;
    use crate::seam::CheckRow;
    let p = PeopleRig::default();
    let references = p.rig.references();
    let emails = vec![JANE_UPN.to_string(), "nobody@contoso.com".to_string()];
    assert_eq!(
        approver_chat_rows("teams_bot:d", &references, p.sink.people(), &emails).await,
        vec![CheckRow::new(
            "teams_bot:d",
            "approver jane@contoso.com chat",
            Ok("WARNING: no 1:1 chat stored; the first card opens it, or goes to the fallback channel if the app is not installed for them".into())
        )]
    );
    let chat = PersonalRef {
        aad_object_id: JANE_ID.into(),
        user_id: Some("29:jane".into()),
        conversation_id: "a:1jane".into(),
        service_url: p.rig.served.root.to_string(),
        tenant_id: "contoso.onmicrosoft.com".into(),
    };
    references.save(&Reference::Personal(chat)).expect("save");
    assert_eq!(
        approver_chat_rows("teams_bot:d", &references, p.sink.people(), &emails).await,
        vec![CheckRow::new("teams_bot:d", "approver jane@contoso.com chat", Ok("1:1 chat a:1jane stored".into()))]
    );
}

//! `ml-connector check`: validate the configuration, then ping every configured system and
//! print a table of what works and, for what does not, why and how to fix it.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ml_connector_actors::{clock, Authenticator, Source};
use secrecy::SecretString;

use crate::config::{Config, DestinationTarget, SecretRef};
use crate::connectors::sap_b1::{
    self, SapAuthenticator, SapSettings, SapSource, SapSourceSettings,
};
use crate::connectors::teams::{BearerToken, EntraAppToken, EntraDelegatedToken, EntraSettings};
use crate::secrets::SecretKey;

struct Row {
    system: String,
    target: String,
    ok: bool,
    detail: String,
}

/// Exit 0 when every check passed, 1 when one failed, 2 when the configuration is invalid.
pub fn run(path: &Path) -> ExitCode {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    println!("configuration {}: valid", path.display());
    let (store, key) = match super::open_state(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let rows = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(check_all(&config, &store, &key)),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let w_sys = rows
        .iter()
        .map(|r| r.system.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let w_tgt = rows
        .iter()
        .map(|r| r.target.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!(
        "{:<w_sys$}  {:<w_tgt$}  {:<4}  DETAIL",
        "SYSTEM", "TARGET", "OK"
    );
    for r in &rows {
        println!(
            "{:<w_sys$}  {:<w_tgt$}  {:<4}  {}",
            r.system,
            r.target,
            if r.ok { "yes" } else { "NO" },
            r.detail
        );
    }
    if rows.iter().all(|r| r.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn secret(
    r: &SecretRef,
    key: &SecretKey,
    store: &ml_connector_actors::Store,
) -> Result<SecretString, String> {
    crate::secrets::resolve(r, key, store).map_err(|e| e.to_string())
}

async fn check_all(
    config: &Config,
    store: &ml_connector_actors::Store,
    key: &SecretKey,
) -> Vec<Row> {
    let mut rows = Vec::new();
    for t in &config.tenants {
        let system = format!("sap_b1:{}", t.name);
        let client = match crate::tls::http_client(&t.sap.tls, t.sap.request_timeout()) {
            Ok(c) => c,
            Err(e) => {
                rows.push(Row {
                    system,
                    target: "tls".into(),
                    ok: false,
                    detail: e.to_string(),
                });
                continue;
            }
        };
        let password = match secret(&t.sap.password, key, store) {
            Ok(p) => p,
            Err(e) => {
                rows.push(Row {
                    system,
                    target: "password".into(),
                    ok: false,
                    detail: e,
                });
                continue;
            }
        };
        let base = sap_b1::service_root(t.sap.base_url.clone());
        let auth = SapAuthenticator::new(
            client.clone(),
            SapSettings {
                base_url: base.clone(),
                company_db: t.sap.company_db.clone(),
                username: t.sap.username.clone(),
                password,
                session_timeout_override: t.sap.session_timeout(),
                password_fix: t.sap.password.how_to_update(),
            },
        );
        let login = match auth.login().await {
            Ok(l) => {
                rows.push(Row {
                    system: system.clone(),
                    target: "POST Login".into(),
                    ok: true,
                    detail: format!("logged in to {} ({:?})", t.sap.company_db, l.expiry),
                });
                l
            }
            Err(e) => {
                rows.push(Row {
                    system,
                    target: "POST Login".into(),
                    ok: false,
                    detail: e.to_string(),
                });
                continue;
            }
        };
        for e in &t.entities {
            let source = SapSource::new(
                client.clone(),
                SapSourceSettings::new(base.clone(), e.name.as_str()),
                clock::system(),
            );
            let (ok, detail) = match source.probe(&login.credentials).await {
                Ok(n) => (true, format!("read {n} record(s) with $top=1")),
                Err(err) => (false, err.to_string()),
            };
            rows.push(Row {
                system: system.clone(),
                target: format!("GET {}", source.entity()),
                ok,
                detail,
            });
        }
        auth.logout(&login.credentials).await;
    }
    let cloud = match crate::tls::default_client(Duration::from_secs(30)) {
        Ok(c) => c,
        Err(e) => {
            rows.push(Row {
                system: "microsoft".into(),
                target: "tls".into(),
                ok: false,
                detail: e.to_string(),
            });
            return rows;
        }
    };
    let mut tokens: std::collections::HashMap<String, (BearerToken, url::Url)> = Default::default();
    for m in &config.microsoft {
        let system = format!("microsoft:{}", m.name);
        let client = &cloud;
        let client_secret = match m
            .client_secret
            .as_ref()
            .map(|r| secret(r, key, store))
            .transpose()
        {
            Ok(s) => s.unwrap_or_else(|| SecretString::from(String::new())),
            Err(e) => {
                rows.push(Row {
                    system,
                    target: "client_secret".into(),
                    ok: false,
                    detail: e,
                });
                continue;
            }
        };
        let settings = |scope: &str| EntraSettings {
            login_base: m.login_base_url.clone(),
            tenant_id: m.tenant_id.clone(),
            client_id: m.client_id.clone(),
            client_secret: client_secret.clone(),
            scope: scope.to_string(),
        };
        if m.client_secret.is_some() {
            let (ok, detail) = match EntraAppToken::new(client.clone(), settings(&m.scope_app)) {
                Ok(a) => match a.login().await {
                    Ok(_) => (
                        true,
                        "client-credentials token issued (used for reads only)".to_string(),
                    ),
                    Err(e) => (false, e.to_string()),
                },
                Err(e) => (false, e.to_string()),
            };
            rows.push(Row {
                system: system.clone(),
                target: "app token".into(),
                ok,
                detail,
            });
        }
        if let Some(name) = m.refresh_token_secret() {
            let vault = crate::app::StoreVault {
                store: store.clone(),
                key: key.clone(),
                name: name.to_string(),
            };
            match EntraDelegatedToken::new(
                client.clone(),
                settings(&m.scope_delegated),
                std::sync::Arc::new(vault),
                name,
            ) {
                Ok(a) => match a.login().await {
                    Ok(l) => {
                        rows.push(Row {
                            system: system.clone(),
                            target: "delegated token".into(),
                            ok: true,
                            detail: "refresh-token grant worked; rotated token stored".into(),
                        });
                        tokens.insert(m.name.clone(), (l.credentials, m.graph_base_url.clone()));
                    }
                    Err(e) => rows.push(Row {
                        system: system.clone(),
                        target: "delegated token".into(),
                        ok: false,
                        detail: e.to_string(),
                    }),
                },
                Err(e) => rows.push(Row {
                    system: system.clone(),
                    target: "delegated token".into(),
                    ok: false,
                    detail: e.to_string(),
                }),
            }
        }
    }
    for d in &config.destinations {
        let system = format!("teams:{}", d.name);
        let (path, credential) = match &d.target {
            DestinationTarget::GraphChannel {
                credential,
                team_id,
                channel_id,
            } => (
                format!("v1.0/teams/{team_id}/channels/{channel_id}"),
                credential,
            ),
            DestinationTarget::GraphChat {
                credential,
                chat_id,
            } => (format!("v1.0/chats/{chat_id}"), credential),
            DestinationTarget::Workflows { url } => {
                let (ok, detail) = match secret(url, key, store) {
                    Ok(_) => (
                        true,
                        "URL resolved; send-only, not pinged (a ping would post a message)"
                            .to_string(),
                    ),
                    Err(e) => (false, e),
                };
                rows.push(Row {
                    system,
                    target: "workflows".into(),
                    ok,
                    detail,
                });
                continue;
            }
        };
        let Some((token, base)) = tokens.get(credential) else {
            rows.push(Row {
                system,
                target: path,
                ok: false,
                detail: format!("no delegated token for credential {credential} (see above)"),
            });
            continue;
        };
        let (ok, detail) = match (base.join(&path), token.header_value()) {
            (Ok(url), Ok(auth)) => match cloud
                .get(url)
                .header(reqwest::header::AUTHORIZATION, auth)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => (true, "reachable".to_string()),
                Ok(r) if r.status().as_u16() == 404 => (
                    false,
                    "404: wrong team/channel/chat id, or the service account is not a member"
                        .to_string(),
                ),
                Ok(r) if r.status().as_u16() == 403 => (
                    false,
                    "403: the delegated token lacks ChannelMessage.Send / ChatMessage.Send consent"
                        .to_string(),
                ),
                Ok(r) => (false, format!("HTTP {}", r.status().as_u16())),
                Err(e) => (false, crate::connectors::http::describe(&e)),
            },
            _ => (false, "invalid Graph base URL or token".to_string()),
        };
        rows.push(Row {
            system,
            target: path,
            ok,
            detail,
        });
    }
    rows
}

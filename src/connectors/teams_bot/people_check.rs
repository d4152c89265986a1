//! `ml-connector check` rows of a `teams_bot` destination's approvers.
//!
//! - One row per approver e-mail the destination met that Microsoft Entra ID did not know
//!   (from the people cache), and one per static e-mail given (routes' literal
//!   `mlc_approval.approver`), looked up now.
//! - Not found is a **warning** (`ok`, detail starting `WARNING:`): the cards still go out,
//!   without buttons and with the note pointing to the ERP, so nothing is lost and the fix
//!   (create or rename the user, correct the e-mail in the ERP) is a people matter that must
//!   not fail a deployment. A lookup that fails (403 without `User.Read.All`, no
//!   `[credentials.directory]`) is an **error**: every card with an e-mail approver waits or
//!   is dead-lettered until it is fixed.

use ml_connector_actors::Outcome;

use super::people::{is_email, People};
use crate::routes::RouteSpec;
use crate::seam::CheckRow;
use crate::time_text::utc;

/// Rows for the cached unresolved approvers of `people`, under `system` (`teams_bot:<name>`).
pub fn cached_rows(system: &str, people: &People) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    match people.unresolved() {
        Ok(list) => rows.extend(list.into_iter().map(|(email, cached)| {
            CheckRow::new(
                system,
                format!("approver {email}"),
                Ok(format!(
                    "WARNING: not found in Microsoft Entra ID (looked up {}); its cards are posted without buttons",
                    utc(cached.checked_ms)
                )),
            )
        })),
        Err(e) => rows.push(CheckRow::new(system, "approver cache", Err(e))),
    }
    rows
}

/// Rows for `emails` (object ids are skipped) looked up now, under `system`.
pub async fn static_rows(system: &str, people: &People, emails: &[String]) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    for email in emails.iter().filter(|a| is_email(a)) {
        let result = match people.lookup_now(email).await {
            Ok(Some(person)) => Ok(format!("Entra user {} ({})", person.id, person.display_name)),
            Ok(None) => Ok("WARNING: not found in Microsoft Entra ID; its cards are posted without buttons".to_string()),
            Err(Outcome::Permanent { reason, .. } | Outcome::Retry { reason, .. }) => Err(reason),
            Err(other) => Err(format!("{other:?}")),
        };
        rows.push(CheckRow::new(system, format!("approver {email} (route)"), result));
    }
    rows
}

/// The literal e-mails the routes' card templates give as `"approver"` (a JSON string without
/// template markup, e.g. `"approver": "ap.manager@contoso.com"`), sorted, without repeats.
/// Approvers rendered from the record (`"{{ doc.Approver }}"`) are only known when met.
pub fn static_approvers(routes: &[&RouteSpec]) -> Vec<String> {
    const KEY: &str = "\"approver\"";
    let mut out = std::collections::BTreeSet::new();
    for card in routes.iter().filter_map(|r| r.template.as_ref()?.card.as_deref()) {
        let mut rest = card;
        while let Some(at) = rest.find(KEY) {
            rest = &rest[at + KEY.len()..];
            let Some(value) = rest.trim_start().strip_prefix(':').map(str::trim_start) else {
                continue;
            };
            let Some(value) = value.strip_prefix('"') else {
                continue;
            };
            let Some(end) = value.find('"') else {
                continue;
            };
            let literal = &value[..end];
            if is_email(literal) && !literal.contains("{{") && !literal.contains("{%") {
                out.insert(literal.trim().to_string());
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_e_mail_approvers_are_found_and_rendered_ones_are_not() {
        let route = |card: &str| RouteSpec {
            name: "r".into(),
            source: None,
            entity: "Bill".into(),
            events: vec!["created".into()],
            when: Vec::new(),
            destination: "approvals".into(),
            template: Some(crate::routes::TemplateSpec { card: Some(card.into()), ..Default::default() }),
            map: None,
        };
        let a = route(r#"{"type":"AdaptiveCard","mlc_approval":{"document":"{{ key }}","version":"v","approver": "ap@contoso.com"}}"#);
        let b = route(r#"{"mlc_approval":{"approver":"{{ doc.ContactInfo.Email }}"}} {"approver":"ap@contoso.com"} {"approver":"0c6f1c2e-1111"}"#);
        let c = route(r#"{"mlc_approval":{"approver" : "Zed@Contoso.com"}}"#);
        assert_eq!(static_approvers(&[&a, &b, &c]), vec!["Zed@Contoso.com".to_string(), "ap@contoso.com".to_string()]);
    }
}

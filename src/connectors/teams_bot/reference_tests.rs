//! Conversation references end to end: install / removal activities from the Bot Framework
//! simulator through `handle_inbound` into [`super::reference::ReferenceBook`].

use super::reference::{ChannelRef, PersonalRef, Reference, ReferenceBook};
use super::tests::{activity_request, Rig};
use crate::sandbox::teams_bot::install::{InstallEvent, InstallScope, Installation};
use crate::sandbox::teams_bot::{Forgery, PersonalChat};

pub(super) const TENANT: &str = "contoso.onmicrosoft.com";

impl Rig {
    /// The references of the rig's bot.
    pub fn references(&self) -> ReferenceBook {
        ReferenceBook::new(self.temp.store.clone(), &self.sim.config().app_id)
    }

    /// An install (`added`) or removal of `scope` announced by `event`.
    pub fn installation(&self, scope: InstallScope, event: InstallEvent, added: bool, forgery: Forgery) -> Installation {
        Installation {
            endpoint: self.served.root.join("unused").expect("url"),
            app_id: self.sim.config().app_id,
            service_url: self.served.root.to_string(),
            tenant_id: TENANT.into(),
            scope,
            event,
            added,
            forgery,
        }
    }

    /// Send `installation` through `handle_inbound`; the HTTP status.
    pub async fn announce(&self, installation: &Installation) -> u16 {
        self.receive(activity_request(&installation.jwt(), &installation.activity())).await.0
    }
}

pub(super) fn personal(chat: &PersonalChat) -> InstallScope {
    InstallScope::Personal {
        aad_object_id: chat.aad_object_id.clone(),
        user_id: chat.user_id.clone(),
        conversation_id: chat.conversation_id.clone(),
    }
}

#[actix_web::test]
async fn personal_install_stores_one_reference_and_uninstall_forgets_it() {
    let rig = Rig::start();
    let chat = rig.sim.install_personal("aad-jane");
    let status = rig.announce(&rig.installation(personal(&chat), InstallEvent::InstallationUpdate, true, Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(
        rig.references().all().expect("references"),
        vec![Reference::Personal(PersonalRef {
            aad_object_id: "aad-jane".into(),
            user_id: Some("29:aad-jane".into()),
            conversation_id: "a:1aad-jane".into(),
            service_url: rig.served.root.to_string(),
            tenant_id: TENANT.into(),
        })]
    );
    let status = rig.announce(&rig.installation(personal(&chat), InstallEvent::InstallationUpdate, false, Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(rig.references().all().expect("references"), Vec::new());
    assert_eq!(rig.router.take(), Vec::new());
}

#[actix_web::test]
async fn bot_added_to_a_team_channel_stores_it_with_names_and_removal_forgets_the_team() {
    let rig = Rig::start();
    let team = InstallScope::Team {
        team_id: "19:general@thread.tacv2".into(),
        team_name: "Finance".into(),
        channel: Some(("19:approvals@thread.tacv2".into(), "Approvals".into())),
    };
    let status = rig.announce(&rig.installation(team.clone(), InstallEvent::ConversationUpdate, true, Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(
        rig.references().channels().expect("channels"),
        vec![ChannelRef {
            team_id: "19:general@thread.tacv2".into(),
            team_name: Some("Finance".into()),
            channel_id: "19:approvals@thread.tacv2".into(),
            channel_name: Some("Approvals".into()),
            service_url: rig.served.root.to_string(),
            tenant_id: TENANT.into(),
        }]
    );
    let status = rig.announce(&rig.installation(team, InstallEvent::ConversationUpdate, false, Forgery::None)).await;
    assert_eq!(status, 200);
    assert_eq!(rig.references().all().expect("references"), Vec::new());
}

#[actix_web::test]
async fn a_forged_install_is_refused_and_stores_nothing() {
    let rig = Rig::start();
    let chat = rig.sim.install_personal("aad-jane");
    for forgery in [Forgery::WrongKey, Forgery::WrongAudience, Forgery::WrongServiceUrl] {
        let status = rig.announce(&rig.installation(personal(&chat), InstallEvent::ConversationUpdate, true, forgery)).await;
        assert_eq!(status, 401, "{forgery:?}");
    }
    assert_eq!(rig.references().all().expect("references"), Vec::new());
    assert_eq!(rig.temp.store.audit_lines(usize::MAX).expect("audit").len(), 3);
}

#[actix_web::test]
async fn check_warns_about_a_channel_the_bot_was_not_seen_in_until_it_is_added() {
    use super::reference_check::channel_row;
    use crate::seam::CheckRow;
    let rig = Rig::start();
    let thread = "19:approvals@thread.tacv2;messageid=1616990032035";
    assert_eq!(
        channel_row("teams_bot:d", &rig.references(), thread),
        Some(CheckRow::new(
            "teams_bot:d",
            "channel 19:approvals@thread.tacv2",
            Ok("WARNING: bot not seen in this channel yet (no install event stored); add the app to the team, or ignore if it was added before the gateway listened".into())
        ))
    );
    let team = InstallScope::Team {
        team_id: "19:general@thread.tacv2".into(),
        team_name: "Finance".into(),
        channel: Some(("19:approvals@thread.tacv2".into(), "Approvals".into())),
    };
    assert_eq!(rig.announce(&rig.installation(team, InstallEvent::ConversationUpdate, true, Forgery::None)).await, 200);
    assert_eq!(
        channel_row("teams_bot:d", &rig.references(), thread),
        Some(CheckRow::new(
            "teams_bot:d",
            "channel 19:approvals@thread.tacv2",
            Ok("bot added to team Finance channel Approvals (conversation reference stored)".into())
        ))
    );
    assert_eq!(channel_row("teams_bot:d", &rig.references(), "a:1aad-jane"), None);
}

//! Building the scanned entities of a `sap_b1` source: one [`ScanSource`] per listed
//! `OverdueInvoices` / `ItemStock` entity, bound to the source's session.

use std::sync::Arc;

use ml_connector_actors::boxed::{bind_source, PollSource};
use ml_connector_actors::SessionHandle;

use super::config::{ITEM_STOCK, OVERDUE_INVOICES};
use super::overdue::OverdueScanner;
use super::stock::StockScanner;
use super::ScanSource;
use crate::connectors::sap_b1::config::{EntitySpec, SapSourceConfig};
use crate::connectors::sap_b1::{SapAuthenticator, SapSource, SapSourceSettings};
use crate::seam::BuildEnv;

/// Whether `entity` is a scanned entity (not polled by update stamp or `DocEntry`).
pub fn is_scanned(entity: &str) -> bool {
    entity == OVERDUE_INVOICES || entity == ITEM_STOCK
}

/// The Service Layer transport of a scan reading `entity_set` with the source's page size and
/// time zone.
fn transport(
    config: &SapSourceConfig,
    auth: &SapAuthenticator,
    entity_set: &str,
    env: &BuildEnv,
) -> SapSource {
    let mut s = SapSourceSettings::new(auth.settings().base_url.clone(), entity_set);
    s.page_size = config.page_size;
    s.time_zone = config.time_zone.clone();
    SapSource::new(auth.client().clone(), s, env.clock.clone())
}

/// The bound scan source of `spec`, `None` when it is not a scanned entity.
pub fn scan_source(
    config: &SapSourceConfig,
    spec: &EntitySpec,
    handle: &SessionHandle<SapAuthenticator>,
    env: &BuildEnv,
) -> Option<Arc<dyn PollSource>> {
    let auth = handle.authenticator();
    let clock = env.clock.clone();
    match spec.name.as_str() {
        OVERDUE_INVOICES => {
            let scanner = OverdueScanner::new(config.overdue?, config.time_zone.clone());
            let source = ScanSource::new(transport(config, auth, "Invoices", env), scanner, clock);
            Some(bind_source(source, handle.clone()))
        }
        ITEM_STOCK => {
            let scanner = StockScanner::new(config.stock.unwrap_or_default());
            let source = ScanSource::new(transport(config, auth, "Items", env), scanner, clock);
            Some(bind_source(source, handle.clone()))
        }
        _ => None,
    }
}

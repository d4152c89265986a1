//! The only place routes read or build the runtime's [`Event`] source field, so renaming it
//! in `ml-connector-actors` is a change to this file alone.

use ml_connector_actors::{Event, EventKind};
use serde_json::Value as Json;

/// The configured source name an event came from.
pub(crate) fn source_of<'e>(event: &'e Event<'_>) -> &'e str {
    &event.source
}

/// An event of `source` (trial renders and tests); `event_key` is
/// `source/entity/key/kind`.
pub(crate) fn make_event(
    source: &str,
    entity: &str,
    key: &str,
    kind: EventKind,
    changes: Vec<(String, Json, Json)>,
    fields: Json,
) -> Event<'static> {
    Event {
        source: source.to_owned(),
        entity: entity.to_owned(),
        key: key.to_owned(),
        kind,
        changes,
        fields: std::borrow::Cow::Owned(fields),
        event_key: format!("{source}/{entity}/{key}/{}", kind.as_str()),
    }
}

//! poller

//! Microsoft Teams connector.

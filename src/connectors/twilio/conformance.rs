//! Twilio conformance.

//! Twilio sandbox tests.

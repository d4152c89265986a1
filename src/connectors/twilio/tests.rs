//! Twilio connector tests.

//! Inbound HTTP (actix-web).

//! Routes: which event goes where, filters and templates.

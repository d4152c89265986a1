//! metrics_names

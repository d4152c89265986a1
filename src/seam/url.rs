//! Base URLs read from a kind's table: absolute http(s) URLs ending with `/`.

use serde::{Deserialize, Deserializer};
use url::Url;

/// Parses a base URL: it must be absolute, `http` or `https`, and its path must end with `/`
/// so that relative references (`Login`, `PurchaseOrders?$filter=...`, `v1.0/chats/...`) join
/// below it instead of replacing its last segment.
pub fn parse_base_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("invalid URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "invalid URL: scheme must be http or https, found `{}`",
            url.scheme()
        ));
    }
    if url.host_str().is_none() {
        return Err("invalid URL: no host".to_string());
    }
    if !url.path().ends_with('/') {
        return Err(format!(
            "invalid URL: a base URL must end with \"/\" (write \"{text}/\")"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("invalid URL: a base URL has no query or fragment".to_string());
    }
    Ok(url)
}

/// `deserialize_with` helper for [`parse_base_url`].
pub fn base_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Url, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_base_url(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_refuses_base_urls() {
        assert!(parse_base_url("https://sap:50000/b1s/v2/").is_ok());
        assert!(parse_base_url("http://127.0.0.1:0/").is_ok());
        assert_eq!(
            parse_base_url("sap/b1s/v2/").unwrap_err(),
            "invalid URL: relative URL without a base"
        );
        assert!(parse_base_url("https://sap:50000/b1s/v2")
            .unwrap_err()
            .contains("must end with"));
        assert!(parse_base_url("ftp://sap/")
            .unwrap_err()
            .contains("http or https"));
    }
}

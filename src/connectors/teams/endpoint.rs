//! Building vendor endpoint URLs from a configured base URL and path segments.

use url::Url;

/// The configured base URL cannot carry a path (for example `mailto:x` or `data:...`), so no
/// endpoint can be built from it. Holds no URL text: a base may be a secret webhook address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} must be an http(s) URL that can carry a path")]
pub struct InvalidBaseUrl {
    /// Which setting was wrong (`login_base`, `graph_base`, `Workflows webhook URL`).
    pub what: &'static str,
}

/// `base` followed by `segments`, each percent-encoded as one path segment (so Graph ids like
/// `19:abc@thread.tacv2` stay intact and a `/` inside an id cannot change the path).
///
/// A trailing empty segment of `base` (`https://graph.microsoft.com/`) is dropped first, so
/// bases with and without a trailing slash give the same result. Query and fragment of `base`
/// are removed.
///
/// # Errors
/// [`InvalidBaseUrl`] when `base` is not `http`/`https` or cannot be a base.
pub fn endpoint(base: &Url, segments: &[&str], what: &'static str) -> Result<Url, InvalidBaseUrl> {
    if !matches!(base.scheme(), "http" | "https") {
        return Err(InvalidBaseUrl { what });
    }
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| InvalidBaseUrl { what })?;
        path.pop_if_empty();
        path.extend(segments);
    }
    Ok(url)
}

/// Same scheme, host and port: a `@odata.nextLink` may only be followed (with our bearer token)
/// when it points back at the configured Graph base.
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_with_and_without_trailing_slash() {
        let a = Url::parse("https://graph.microsoft.com/").unwrap();
        let b = Url::parse("https://graph.microsoft.com").unwrap();
        let segs = [
            "v1.0",
            "teams",
            "t1",
            "channels",
            "19:x@thread.tacv2",
            "messages",
        ];
        let want = "https://graph.microsoft.com/v1.0/teams/t1/channels/19:x@thread.tacv2/messages";
        assert_eq!(endpoint(&a, &segs, "graph_base").unwrap().as_str(), want);
        assert_eq!(endpoint(&b, &segs, "graph_base").unwrap().as_str(), want);
    }

    #[test]
    fn keeps_a_base_path_and_encodes_slashes() {
        let a = Url::parse("http://127.0.0.1:9/graph/").unwrap();
        let u = endpoint(&a, &["v1.0", "chats", "a/b"], "graph_base").unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9/graph/v1.0/chats/a%2Fb");
    }

    #[test]
    fn rejects_non_http_bases() {
        let a = Url::parse("mailto:someone@example.com").unwrap();
        assert!(endpoint(&a, &["x"], "graph_base").is_err());
    }
}

//! `X-Twilio-Signature`: base64 of HMAC-SHA1 keyed with the account's auth token over the URL
//! exactly as Twilio called it (scheme, host, port as written, path, query) followed by every
//! form parameter's name and value, sorted by name.
//!
//! Validators (Twilio's helper libraries) accept the URL both with and without an explicit
//! default port (`:443` for https, `:80` for http), because some proxies add or drop it;
//! [`url_variants`] gives both spellings. The comparison is constant-time (hmac's
//! `verify_slice`). JSON bodies (`bodySHA256`) are not used by status callbacks and are not
//! accepted here.
//!
//! Source: twilio.com/docs/usage/security ("Validating signatures from Twilio");
//! `api-notes/twilio.md`.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The signed text: `url`, then each `(name, value)` of `params` sorted by name (then value),
/// concatenated without separators.
fn signed_data(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let mut data = url.to_string();
    for (name, value) in sorted {
        data.push_str(name);
        data.push_str(value);
    }
    data
}

fn mac(auth_token: &[u8], url: &str, params: &[(String, String)]) -> Option<Hmac<sha1::Sha1>> {
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(auth_token).ok()?;
    mac.update(signed_data(url, params).as_bytes());
    Some(mac)
}

/// `url` as written and with its default port added or removed
/// (`https://a.example/x` ↔ `https://a.example:443/x`); a URL with another port, or one that
/// is not `http(s)://`, has only itself.
pub fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    let Some((scheme, rest)) = url.split_once("://") else {
        return out;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return out,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host_end = authority.rfind(']').map_or(0, |i| i + 1);
    let other = match authority[host_end..].rsplit_once(':') {
        Some((_, port)) if port == default => {
            let cut = host_end + authority[host_end..].rfind(':').unwrap_or(0);
            authority[..cut].to_string()
        }
        Some(_) => return out,
        None => format!("{authority}:{default}"),
    };
    out.push(format!("{scheme}://{other}{tail}"));
    out
}

/// Does `signature` sign `params` posted to `url` (either spelling of its default port) with
/// `auth_token`? Constant-time; a signature that is not base64 is `false`.
pub fn verify(auth_token: &[u8], url: &str, params: &[(String, String)], signature: &str) -> bool {
    let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    url_variants(url).iter().any(|candidate| {
        mac(auth_token, candidate, params).is_some_and(|m| m.verify_slice(&tag).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_params() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    const EXAMPLE_URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const EXAMPLE_SIGNATURE: &str = "0/KCTR6DLpKmkAf8muzZqo1nDgQ=";

    #[test]
    fn twilios_published_example_verifies() {
        // The sandbox signs its callbacks the same way.
        assert_eq!(
            crate::sandbox::twilio::twilio_signature("12345", EXAMPLE_URL, &example_params()),
            EXAMPLE_SIGNATURE
        );
        assert!(verify(b"12345", EXAMPLE_URL, &example_params(), EXAMPLE_SIGNATURE));
        // Parameter order on the wire does not matter: they are sorted.
        let mut reversed = example_params();
        reversed.reverse();
        assert!(verify(b"12345", EXAMPLE_URL, &reversed, EXAMPLE_SIGNATURE));
        // Twilio called the URL with the explicit default port; the same signature verifies.
        assert!(verify(b"12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", &example_params(), EXAMPLE_SIGNATURE));
    }

    #[test]
    fn one_changed_byte_fails() {
        let mut params = example_params();
        params[2].1 = "1235".into();
        assert!(!verify(b"12345", EXAMPLE_URL, &params, EXAMPLE_SIGNATURE));
        assert!(!verify(b"12346", EXAMPLE_URL, &example_params(), EXAMPLE_SIGNATURE));
        assert!(!verify(b"12345", "https://mycompany.com/myapp.php?foo=1&bar=3", &example_params(), EXAMPLE_SIGNATURE));
        assert!(!verify(b"12345", EXAMPLE_URL, &example_params(), "1/KCTR6DLpKmkAf8muzZqo1nDgQ="));
        assert!(!verify(b"12345", EXAMPLE_URL, &example_params(), "not base64!"));
        assert!(!verify(b"12345", EXAMPLE_URL, &example_params(), ""));
    }

    #[test]
    fn default_port_variants() {
        assert_eq!(url_variants("https://gw.example.com/in?a=1"), ["https://gw.example.com/in?a=1", "https://gw.example.com:443/in?a=1"]);
        assert_eq!(url_variants("https://gw.example.com:443/in"), ["https://gw.example.com:443/in", "https://gw.example.com/in"]);
        assert_eq!(url_variants("http://[::1]/x"), ["http://[::1]/x", "http://[::1]:80/x"]);
        assert_eq!(url_variants("http://127.0.0.1:8080/x"), ["http://127.0.0.1:8080/x"]);
        assert_eq!(url_variants("https://gw.example.com"), ["https://gw.example.com", "https://gw.example.com:443"]);
    }
}

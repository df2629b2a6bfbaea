//! Where webhooks may be sent: an absolute `http`/`https` URL of bounded length whose host is
//! not a private, loopback, link-local or otherwise internal address, unless the operator
//! allows private addresses (`webhooks.allow_private`). This is the check at input; a sender
//! must check the address it actually connects to with [`is_internal`] as well, so that a
//! public name that resolves to a private address is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest URL accepted (characters), as the OpenAPI document's `HttpUrl` states.
pub const MAX_LEN: usize = 1000;

/// Parses and checks a webhook URL; the message says what is wrong.
pub fn parse(raw: &str, allow_private: bool) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.chars().count() > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} characters"));
    }
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    let shown = || raw.chars().take(100).collect::<String>();
    let url = url::Url::parse(raw).map_err(|e| format!("`{}` is not a URL: {e}", shown()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("`{}` is not an http(s) URL", shown()));
    }
    let host = match url.host() {
        Some(h) => h,
        None => return Err(format!("`{}` has no host", shown())),
    };
    if url.as_str().len() > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} characters once encoded"));
    }
    if allow_private {
        return Ok(url);
    }
    let internal = match host {
        url::Host::Ipv4(ip) => is_internal(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => is_internal(IpAddr::V6(ip)),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    };
    if internal {
        return Err(format!(
            "`{}` points at a private, loopback or link-local address; \
             set webhooks.allow_private to allow it",
            shown()
        ));
    }
    Ok(url)
}

/// True for every address a webhook must not reach unless private addresses are allowed:
/// unspecified, loopback, private (RFC 1918), shared (100.64/10), link-local (169.254/16, where
/// cloud metadata lives, and fe80::/10), unique local (fc00::/7), multicast, broadcast,
/// documentation and reserved ranges, and IPv4 addresses written as IPv6 (mapped or NAT64).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let seg = v6.segments();
            // 64:ff9b::/96 (NAT64) carries an IPv4 address in its last 32 bits.
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = seg[6].to_be_bytes();
                let [c, d] = seg[7].to_be_bytes();
                return is_internal_v4(Ipv4Addr::new(a, b, c, d));
            }
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || seg[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible (deprecated)
                || v6 == Ipv6Addr::from(1u128) // ::1, also caught above
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_pass() {
        for bad in [
            "http://127.0.0.1/x",
            "http://127.1.2.3:8080/",
            "http://10.0.0.5/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://localhost:9000/",
            "http://api.localhost/",
            "http://LOCALHOST./",
            // Other spellings of 127.0.0.1 the URL parser normalises.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
        ] {
            let e = parse(bad, false).expect_err(bad);
            assert!(e.contains("private"), "{bad}: {e}");
            assert!(parse(bad, true).is_ok(), "{bad} with allow_private");
        }
        for good in [
            "https://hooks.example.com/abm",
            "http://93.184.216.34:8080/in?x=1",
            "https://[2606:4700::1111]/",
        ] {
            assert!(parse(good, false).is_ok(), "{good}");
        }
    }

    #[test]
    fn malformed_and_oversized_urls_get_a_clear_message() {
        let long = format!("https://example.com/{}", "a".repeat(MAX_LEN));
        assert!(
            parse(&long, true)
                .expect_err("long")
                .contains("at most 1000")
        );
        assert!(
            parse(&"é".repeat(1_000_000), true)
                .expect_err("huge")
                .contains("at most")
        );
        assert!(
            parse("ftp://example.com/", true)
                .expect_err("ftp")
                .contains("http(s)")
        );
        assert!(
            parse("example.com/x", true)
                .expect_err("relative")
                .contains("not a URL")
        );
        assert!(
            parse("https://exa\u{7}mple.com/", true)
                .expect_err("bell")
                .contains("control")
        );
        assert!(parse("mailto:a@example.com", true).is_err());
    }
}

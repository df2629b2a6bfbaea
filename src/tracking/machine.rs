//! Telling machines from people. In B2B mail, link scanners (Safe Links, Proofpoint,
//! Mimecast, …) follow every link within seconds of delivery, and privacy proxies fetch every
//! pixel. Their events are stored with `machine: true` and the reason, and kept out of scores
//! and branch decisions.

/// Why an event is a machine's.
pub const USER_AGENT: &str = "user_agent";
pub const HEAD: &str = "head_request";
pub const TIMING: &str = "right_after_delivery";
pub const BURST: &str = "many_links_at_once";

/// Parts of the user agents of scanners, proxies, previewers and scripts (lowercase).
const AGENTS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "scanner",
    "preview",
    "safelinks",
    "safe links",
    "linkscanner",
    "urldefense",
    "proofpoint",
    "mimecast",
    "barracuda",
    "messagelabs",
    "symantec",
    "trendmicro",
    "forcepoint",
    "fireeye",
    "sophos",
    "googleimageproxy",
    "yahoomailproxy",
    "headlesschrome",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "facebookexternalhit",
];

/// The machine reason of a request judged by itself: a `HEAD`, or a known or missing agent.
pub fn of_request(head: bool, user_agent: Option<&str>) -> Option<&'static str> {
    if head {
        return Some(HEAD);
    }
    let ua = user_agent.unwrap_or_default().trim().to_ascii_lowercase();
    if ua.is_empty() || AGENTS.iter().any(|a| ua.contains(a)) {
        return Some(USER_AGENT);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanners_and_scripts_are_machines_and_browsers_are_not() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
        assert_eq!(of_request(false, Some(chrome)), None);
        assert_eq!(of_request(true, Some(chrome)), Some(HEAD));
        assert_eq!(of_request(false, None), Some(USER_AGENT));
        assert_eq!(
            of_request(
                false,
                Some("Mozilla/5.0 (compatible; Proofpoint URL Defense)")
            ),
            Some(USER_AGENT)
        );
        assert_eq!(
            of_request(
                false,
                Some(
                    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
                )
            ),
            Some(USER_AGENT)
        );
    }
}

//! Where webhooks may point: the address policy that keeps a room's `webhook` from being
//! aimed inside the server's own network (SSRF), and the port that applies it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a webhook destination was refused, for the caller (`400 INVALID_BODY`) and the
/// outbox's `lastError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DestinationRefused(pub String);

/// Checks webhook destinations against the deployment's address policy.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait WebhookGuard: Send + Sync {
    /// `Ok` when `url` (already checked to be an `http://` or `https://` URL) may receive
    /// events. Unless the operator allowed private destinations, MUST refuse a URL whose
    /// host is, or resolves to, an address for which [`is_internal_address`] holds, and a
    /// host that does not resolve.
    ///
    /// # Errors
    /// [`DestinationRefused`] with a sentence saying why.
    fn check(&self, url: &str) -> Result<(), DestinationRefused>;
}

/// Whether `ip` is inside a network rather than on the public internet: loopback,
/// unspecified, private (RFC 1918, IPv6 unique local), link-local (including cloud metadata
/// at 169.254.169.254), shared (CGNAT 100.64/10), benchmarking, documentation, multicast,
/// broadcast and reserved ranges; IPv4-mapped and IPv4-compatible IPv6 addresses count as
/// their IPv4 address, and 6to4 (`2002::/16`) and Teredo (`2001::/32`) addresses are
/// internal when an IPv4 address they embed is (a relay would carry them inside).
#[must_use]
pub fn is_internal_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped().or_else(|| compatible_v4(v6)) {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(v6) || tunnelled_v4(v6).into_iter().any(is_internal_v4),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240 // reserved
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation 2001:db8::/32
        || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64 64:ff9b::/96 (maps IPv4)
}

/// The IPv4 addresses a tunnelling prefix embeds: 6to4 `2002:AABB:CCDD::/48` carries
/// `AA.BB.CC.DD`; Teredo `2001:0:SSSS:SSSS:flags:port:CCCC:CCCC` carries its server `S` and,
/// inverted bit by bit, its client `C` (RFC 4380).
fn tunnelled_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match (s[0], s[1]) {
        (0x2002, _) => vec![v4(s[1], s[2])],
        (0x2001, 0x0000) => vec![v4(s[2], s[3]), v4(!s[6], !s[7])],
        _ => Vec::new(),
    }
}

/// `::a.b.c.d` (deprecated IPv4-compatible form), except `::` and `::1`.
fn compatible_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    (s[..6].iter().all(|x| *x == 0) && (s[6] != 0 || s[7] > 1))
        .then(|| Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8))
}

#[cfg(test)]
mod tests {
    use super::is_internal_address;

    fn internal(s: &str) -> bool {
        is_internal_address(s.parse().expect("an address"))
    }

    #[test]
    fn addresses_inside_a_network_are_internal() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "ff02::1",
            "2001:db8::1",
            // 6to4 of loopback, private and metadata addresses
            "2002:7f00:1::",
            "2002:7f00:0001:0:0:0:0:1",
            "2002:a00:1::1",
            "2002:a9fe:a9fe::",
            // Teredo whose server or (inverted) client is internal
            "2001:0:7f00:1::",
            "2001:0:808:808:0:0:80ff:fffe",
            "2001:0:808:808:8000:ffff:f5ff:fffe",
        ] {
            assert!(internal(ip), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_not() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
            "2001:0:808:808:0:0:f7f7:f7f7",
        ] {
            assert!(!internal(ip), "{ip}");
        }
    }
}

use super::*;
use proptest::prelude::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// 10.0.0.0/8, 2001:db8:ffff::/48 and 192.0.2.1/32 are trusted proxies.
fn trusted() -> TrustedProxies {
    TrustedProxies::new(&[
        "10.0.0.0/8".parse().unwrap(),
        "2001:db8:ffff::/48".parse().unwrap(),
        "::ffff:192.0.2.1/128".parse().unwrap(),
    ])
}

fn xff(peer: &str, headers: &[&str]) -> Result<IpAddr, ClientIpError> {
    let h: Vec<&[u8]> = headers.iter().map(|s| s.as_bytes()).collect();
    client_ip(ip(peer), &h, &[], &trusted())
}

fn fwd(peer: &str, headers: &[&str]) -> Result<IpAddr, ClientIpError> {
    let h: Vec<&[u8]> = headers.iter().map(|s| s.as_bytes()).collect();
    client_ip(ip(peer), &[], &h, &trusted())
}

fn bad(value: &str) -> Result<IpAddr, ClientIpError> {
    Err(ClientIpError::Malformed {
        value: value.to_owned(),
    })
}

#[test]
fn trusted_set() {
    let t = trusted();
    assert!(!t.is_empty());
    assert!(t.contains(ip("10.200.1.1")));
    assert!(t.contains(ip("::ffff:10.200.1.1")));
    assert!(t.contains(ip("192.0.2.1")));
    assert!(!t.contains(ip("192.0.2.2")));
    assert!(t.contains(ip("2001:db8:ffff:1::1")));
    assert!(!t.contains(ip("2001:db8:fffe::1")));
    assert!(!t.contains(ip("11.0.0.1")));
    assert!(TrustedProxies::new(&[]).is_empty());
    assert!(!TrustedProxies::new(&[]).contains(ip("10.0.0.1")));
    assert_eq!(
        format!("{:?}", t),
        "{10.0.0.0/8, 192.0.2.1/32, 2001:db8:ffff::/48}"
    );
}

#[test]
fn untrusted_peer_is_the_client_whatever_it_sends() {
    assert_eq!(xff("203.0.113.9", &["10.0.0.5"]), Ok(ip("203.0.113.9")));
    assert_eq!(xff("203.0.113.9", &["garbage"]), Ok(ip("203.0.113.9")));
    assert_eq!(fwd("203.0.113.9", &["for=unknown"]), Ok(ip("203.0.113.9")));
    // Canonicalised.
    assert_eq!(
        xff("::ffff:203.0.113.9", &["1.1.1.1"]),
        Ok(ip("203.0.113.9"))
    );
}

#[test]
fn trusted_peer_without_headers_is_the_client() {
    assert_eq!(xff("10.0.0.1", &[]), Ok(ip("10.0.0.1")));
    assert_eq!(xff("10.0.0.1", &["", " , "]), Ok(ip("10.0.0.1")));
}

#[test]
fn trusted_chain() {
    assert_eq!(xff("10.0.0.1", &["203.0.113.7"]), Ok(ip("203.0.113.7")));
    assert_eq!(
        xff("10.0.0.1", &["203.0.113.7, 10.0.0.2"]),
        Ok(ip("203.0.113.7"))
    );
    // The client's own spoofed entries sit left of the address our proxy saw.
    assert_eq!(
        xff(
            "10.0.0.1",
            &["10.9.9.9, 198.51.100.1,203.0.113.7 ,\t10.0.0.2"]
        ),
        Ok(ip("203.0.113.7"))
    );
    assert_eq!(
        xff("2001:db8:ffff::1", &["2001:db8::7, 2001:db8:ffff::2"]),
        Ok(ip("2001:db8::7"))
    );
}

#[test]
fn multiple_header_instances_are_one_list() {
    assert_eq!(
        xff("10.0.0.1", &["198.51.100.1", "203.0.113.7, 10.0.0.2"]),
        Ok(ip("203.0.113.7"))
    );
    assert_eq!(
        xff("10.0.0.1", &["203.0.113.7", "10.0.0.2"]),
        Ok(ip("203.0.113.7"))
    );
    assert_eq!(xff("10.0.0.1", &["203.0.113.7", ""]), Ok(ip("203.0.113.7")));
    assert_eq!(
        xff("10.0.0.1", &["198.51.100.1, 10.0.0.3", "10.0.0.2"]),
        Ok(ip("198.51.100.1"))
    );
}

#[test]
fn all_trusted_gives_the_leftmost() {
    assert_eq!(xff("10.0.0.1", &["10.0.0.3, 10.0.0.2"]), Ok(ip("10.0.0.3")));
    assert_eq!(
        xff("10.0.0.1", &["10.0.0.3", "::ffff:10.0.0.2"]),
        Ok(ip("10.0.0.3"))
    );
}

#[test]
fn malformed_where_reached_is_an_error() {
    assert_eq!(xff("10.0.0.1", &["garbage"]), bad("garbage"));
    assert_eq!(xff("10.0.0.1", &["203.0.113.7, unknown"]), bad("unknown"));
    // Reached after skipping a trusted hop: still an error, never the proxy.
    assert_eq!(xff("10.0.0.1", &["x, 10.0.0.2"]), bad("x"));
    assert_eq!(xff("10.0.0.1", &["1.2.3"]), bad("1.2.3"));
    assert_eq!(xff("10.0.0.1", &["1.2.3.4/32"]), bad("1.2.3.4/32"));
    assert_eq!(xff("10.0.0.1", &["\"1.2.3.4\""]), bad("\"1.2.3.4\""));
    assert_eq!(xff("10.0.0.1", &["fe80::1%eth0"]), bad("fe80::1%eth0"));
}

#[test]
fn entries_left_of_the_client_are_not_parsed() {
    assert_eq!(
        xff("10.0.0.1", &["garbage, unknown, 203.0.113.7"]),
        Ok(ip("203.0.113.7"))
    );
    assert_eq!(
        fwd("10.0.0.1", &["for=unknown, for=_x, for=203.0.113.7"]),
        Ok(ip("203.0.113.7"))
    );
}

#[test]
fn xff_ports_and_brackets() {
    assert_eq!(
        xff("10.0.0.1", &["203.0.113.7:5678"]),
        Ok(ip("203.0.113.7"))
    );
    assert_eq!(
        xff("10.0.0.1", &["[2001:db8::7]:443"]),
        Ok(ip("2001:db8::7"))
    );
    assert_eq!(xff("10.0.0.1", &["[2001:db8::7]"]), Ok(ip("2001:db8::7")));
    assert_eq!(xff("10.0.0.1", &["2001:db8::7"]), Ok(ip("2001:db8::7")));
    assert_eq!(
        xff("10.0.0.1", &["203.0.113.7, 10.0.0.2:1234"]),
        Ok(ip("203.0.113.7"))
    );
    for b in [
        "203.0.113.7:",
        "203.0.113.7:99999",
        "203.0.113.7:123456",
        "203.0.113.7:x",
        "203.0.113.7:1:2",
        "[2001:db8::7]:",
        "[2001:db8::7]x",
        "[2001:db8::7",
        "[203.0.113.7]",
        "[2001:db8::7]:_obf",
    ] {
        assert_eq!(xff("10.0.0.1", &[b]), bad(b), "{b}");
    }
}

#[test]
fn mapped_addresses_are_canonical() {
    assert_eq!(
        xff("10.0.0.1", &["::ffff:203.0.113.7"]),
        Ok(ip("203.0.113.7"))
    );
    assert_eq!(
        xff("10.0.0.1", &["[::ffff:203.0.113.7]:80"]),
        Ok(ip("203.0.113.7"))
    );
    // A mapped trusted proxy is a trusted proxy.
    assert_eq!(
        xff("::ffff:10.0.0.1", &["203.0.113.7, ::ffff:10.0.0.2"]),
        Ok(ip("203.0.113.7"))
    );
    assert_eq!(
        xff("::ffff:192.0.2.1", &["203.0.113.7"]),
        Ok(ip("203.0.113.7"))
    );
}

#[test]
fn forwarded_syntax() {
    let cases = [
        ("for=203.0.113.7", "203.0.113.7"),
        ("for=203.0.113.7;proto=https;by=10.0.0.1", "203.0.113.7"),
        (
            "proto=https; For=203.0.113.7 ;host=example.com",
            "203.0.113.7",
        ),
        ("FOR=\"203.0.113.7\"", "203.0.113.7"),
        ("for=\"203.0.113.7:80\"", "203.0.113.7"),
        ("for=203.0.113.7:80", "203.0.113.7"),
        ("for=\"[2001:db8:cafe::17]\"", "2001:db8:cafe::17"),
        ("for=\"[2001:db8:cafe::17]:4711\"", "2001:db8:cafe::17"),
        ("for=\"[2001:db8:cafe::17]:_port1\"", "2001:db8:cafe::17"),
        ("for=\"[::ffff:203.0.113.7]\"", "203.0.113.7"),
        ("for=\"\\[2001:db8::1\\]\"", "2001:db8::1"),
        // A comma and a semicolon inside a quoted string are not separators.
        (
            "for=203.0.113.7;host=\"a,b;c\", for=10.0.0.2",
            "203.0.113.7",
        ),
        (
            "for=198.51.100.1, for=203.0.113.7, for=10.0.0.2",
            "203.0.113.7",
        ),
        ("for=10.0.0.3,for=10.0.0.2", "10.0.0.3"),
    ];
    for (header, want) in cases {
        assert_eq!(fwd("10.0.0.1", &[header]), Ok(ip(want)), "{header}");
    }
    assert_eq!(
        fwd(
            "10.0.0.1",
            &["for=198.51.100.1", "for=203.0.113.7", "for=10.0.0.2"]
        ),
        Ok(ip("203.0.113.7"))
    );
}

#[test]
fn forwarded_stops() {
    for header in [
        "for=unknown",
        "for=\"unknown\"",
        "for=_hidden",
        "for=\"_hidden:80\"",
        "proto=https",
        "for=203.0.113.7;for=203.0.113.8",
        "for=2001:db8::1",
        "for=\"2001:db8::1\"",
        "for=",
        "for=\"203.0.113.7",
        "for=\"203.0.113.7\"x",
        "for=203.0.113.7 x",
        "for",
    ] {
        assert!(
            matches!(
                fwd("10.0.0.1", &[header]),
                Err(ClientIpError::Malformed { .. })
            ),
            "{header}"
        );
    }
    assert_eq!(
        fwd("10.0.0.1", &["for=203.0.113.7, for=unknown"]),
        bad("for=unknown")
    );
}

#[test]
fn xff_wins_over_forwarded() {
    let x: &[&[u8]] = &[b"203.0.113.7"];
    let f: &[&[u8]] = &[b"for=198.51.100.1"];
    assert_eq!(
        client_ip(ip("10.0.0.1"), x, f, &trusted()),
        Ok(ip("203.0.113.7"))
    );
    let empty: &[&[u8]] = &[b" "];
    assert_eq!(
        client_ip(ip("10.0.0.1"), empty, f, &trusted()),
        Ok(ip("198.51.100.1"))
    );
}

#[test]
fn hops_are_bounded() {
    let chain = |n: usize| vec!["10.0.0.2"; n].join(",");
    assert_eq!(xff("10.0.0.1", &[&chain(MAX_HOPS)]), Ok(ip("10.0.0.2")));
    assert_eq!(
        xff("10.0.0.1", &[&chain(MAX_HOPS + 1)]),
        Err(ClientIpError::TooManyHops { limit: MAX_HOPS })
    );
    // A long client-written prefix left of the client costs nothing.
    let long = format!("{}, 203.0.113.7", chain(10_000));
    assert_eq!(xff("10.0.0.1", &[&long]), Ok(ip("203.0.113.7")));
}

#[test]
fn error_values_are_safe_to_log() {
    let h: &[&[u8]] = &[b"\xff\xfe1.2.3.4"];
    assert_eq!(
        client_ip(ip("10.0.0.1"), h, &[], &trusted()),
        bad("\u{fffd}\u{fffd}1.2.3.4")
    );
    assert_eq!(xff("10.0.0.1", &["a\nb"]), bad("a\\nb"));
    let long = "a".repeat(500);
    let Err(ClientIpError::Malformed { value }) = xff("10.0.0.1", &[&long]) else {
        panic!("expected Malformed");
    };
    assert_eq!(value.chars().count(), MAX_ERROR_VALUE + 1);
    let msg = ClientIpError::Malformed { value: "x".into() }.to_string();
    assert!(msg.starts_with("forwarded client address `x` is not an IP address; make"));
}

// ---- properties ----

/// Addresses from a small universe so that trusted and untrusted ones mix.
fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..4, 0u8..4).prop_map(|(a, b)| IpAddr::from([10, a, 0, b])),
        (0u8..4, 0u8..4).prop_map(|(a, b)| IpAddr::from([203, 0, a, b])),
        (0u16..4, 0u16..4).prop_map(|(a, b)| IpAddr::from([0x2001, 0xdb8, a, 0, 0, 0, 0, b])),
        (0u8..4, 0u8..4).prop_map(|(a, b)| IpAddr::V6(Ipv4Addr::new(10, a, 0, b).to_ipv6_mapped())),
        (0u8..4, 0u8..4)
            .prop_map(|(a, b)| IpAddr::V6(Ipv4Addr::new(203, 0, a, b).to_ipv6_mapped())),
    ]
}

fn any_trusted() -> impl Strategy<Value = TrustedProxies> {
    let net = prop_oneof![
        (0u8..4, 22u8..=32)
            .prop_map(|(a, len)| IpNet::V4(Ipv4Net::new(Ipv4Addr::new(10, a, 0, 0), len).unwrap())),
        (0u8..4, 22u8..=32).prop_map(|(a, len)| IpNet::V4(
            Ipv4Net::new(Ipv4Addr::new(203, 0, a, 0), len).unwrap()
        )),
        (0u16..4, 48u8..=128).prop_map(|(a, len)| IpNet::V6(
            Ipv6Net::new(Ipv6Addr::new(0x2001, 0xdb8, a, 0, 0, 0, 0, 0), len).unwrap()
        )),
        Just("10.0.0.0/8".parse::<IpNet>().unwrap()),
    ];
    prop::collection::vec(net, 0..5).prop_map(|nets| TrustedProxies::new(&nets))
}

/// An address written the ways proxies write it.
fn xff_form(ip: IpAddr, style: u8) -> String {
    match (ip, style % 3) {
        (IpAddr::V4(v4), 1) => format!("{v4}:{}", 1000 + u16::from(style)),
        (IpAddr::V6(v6), 1) => format!("[{v6}]:443"),
        (IpAddr::V6(v6), 2) => format!("[{v6}]"),
        _ => ip.to_string(),
    }
}

fn fwd_form(ip: IpAddr, style: u8) -> String {
    match (ip, style % 3) {
        (IpAddr::V4(v4), 1) => format!("for=\"{v4}:80\";proto=https"),
        (IpAddr::V4(v4), _) => format!("For={v4}"),
        (IpAddr::V6(v6), 1) => format!("by=x;for=\"[{v6}]:_p\""),
        (IpAddr::V6(v6), _) => format!("for=\"[{v6}]\""),
    }
}

/// Reference model: right-most untrusted hop, else the left-most.
fn model(peer: IpAddr, hops: &[IpAddr], t: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !t.contains(peer) {
        return peer;
    }
    let mut leftmost = peer;
    for h in hops.iter().rev() {
        let h = h.to_canonical();
        if !t.contains(h) {
            return h;
        }
        leftmost = h;
    }
    leftmost
}

proptest! {
    #[test]
    fn never_returns_a_trusted_address_unless_all_hops_are_trusted(
        t in any_trusted(),
        peer in any_ip(),
        hops in prop::collection::vec((any_ip(), any::<u8>()), 0..8),
        split in any::<usize>(),
        use_forwarded in any::<bool>(),
    ) {
        let ips: Vec<IpAddr> = hops.iter().map(|(ip, _)| *ip).collect();
        let entries: Vec<String> = hops
            .iter()
            .map(|&(ip, s)| if use_forwarded { fwd_form(ip, s) } else { xff_form(ip, s) })
            .collect();
        // Spread the entries over two header instances.
        let cut = if entries.is_empty() { 0 } else { split % (entries.len() + 1) };
        let first = entries[..cut].join(", ");
        let second = entries[cut..].join(",");
        let headers: Vec<&[u8]> = [first.as_bytes(), second.as_bytes()]
            .into_iter()
            .filter(|h| !h.is_empty())
            .collect();
        let got = if use_forwarded {
            client_ip(peer, &[], &headers, &t)
        } else {
            client_ip(peer, &headers, &[], &t)
        }
        .unwrap();
        prop_assert_eq!(got, model(peer, &ips, &t));
        let all_trusted = t.contains(peer) && ips.iter().all(|h| t.contains(*h));
        if t.contains(got) {
            prop_assert!(all_trusted);
        }
        prop_assert_eq!(got, got.to_canonical());
    }

    #[test]
    fn trusted_result_only_from_all_trusted_hops_even_with_garbage(
        t in any_trusted(),
        peer in any_ip(),
        raw in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        use_forwarded in any::<bool>(),
    ) {
        let headers: Vec<&[u8]> = raw.iter().map(Vec::as_slice).collect();
        let got = if use_forwarded {
            client_ip(peer, &[], &headers, &t)
        } else {
            client_ip(peer, &headers, &[], &t)
        };
        if let Ok(ip) = got
            && t.contains(ip)
        {
            prop_assert!(t.contains(peer));
        }
    }

    #[test]
    fn untrusted_peer_always_gets_itself_back(
        t in any_trusted(),
        peer in any_ip(),
        x in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
        f in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..4),
    ) {
        prop_assume!(!t.contains(peer));
        let x: Vec<&[u8]> = x.iter().map(Vec::as_slice).collect();
        let f: Vec<&[u8]> = f.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(client_ip(peer, &x, &f, &t), Ok(peer.to_canonical()));
    }
}

#[test]
fn trusted_proxies_are_send_sync_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<TrustedProxies>();
}

#[test]
fn clients_are_counted_by_address_or_ipv6_network() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(
        client_network(ip("2001:db8:1:2:aaaa::1"), 64),
        ip("2001:db8:1:2::")
    );
    assert_eq!(
        client_network(ip("2001:db8:1:2:aaaa::1"), 48),
        ip("2001:db8:1::")
    );
    assert_eq!(client_network(ip("2001:db8::1"), 128), ip("2001:db8::1"));
    assert_eq!(client_network(ip("2001:db8::1"), 0), ip("::"));
    assert_eq!(client_network(ip("192.0.2.7"), 64), ip("192.0.2.7"));
    assert_eq!(client_network(ip("::ffff:192.0.2.7"), 64), ip("192.0.2.7"));
}

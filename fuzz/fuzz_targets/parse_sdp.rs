//! One SDP body: parse, every accessor, the print round trip (the printed
//! text parses to the same model and prints the same), and the B2BUA's
//! topology-hiding edits (addresses, ports, a=rtcp, direction, formats),
//! which must print to text that parses back to the edited model.
#![no_main]

use gateway::media::sdp::{Connection, Sdp, MAX_LINES, MAX_SDP};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};

fuzz_target!(|data: &[u8]| {
    let Ok(mut sdp) = Sdp::parse(data) else { return };
    let text = sdp.print();
    let again = Sdp::parse(text.as_bytes()).expect("the print of a parsed SDP parses");
    assert_eq!(again, sdp);
    assert_eq!(again.print(), text);

    let _ = sdp.connection().and_then(Connection::ip);
    let _ = sdp.session_attributes().count();
    for (i, m) in sdp.media().iter().enumerate() {
        assert!(sdp.media_direction(i).is_some());
        let _ = (m.direction(), m.ptime(), m.rtcp(), m.rtcp_mux(), m.attribute("label"));
        let _ = m.connection.as_ref().and_then(Connection::ip);
        for r in m.rtpmaps() {
            let _ = m.fmtp(r.pt);
        }
        let _ = m.cryptos().count();
    }

    let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    sdp.set_connection(Connection::from_ip(ip));
    let o = sdp.origin_mut();
    o.version = o.version.wrapping_add(1);
    o.address = ip.to_string();
    for m in sdp.media_mut() {
        m.port = 40000;
        if m.connection.is_some() {
            m.connection = Some(Connection::from_ip(ip));
        }
        m.set_rtcp_port(40001, None);
        m.set_direction(m.direction().reversed());
        m.remove_attributes("candidate");
        m.retain_formats(|f| f != "0");
    }
    let edited = sdp.print();
    if edited.len() <= MAX_SDP && edited.matches("\r\n").count() <= MAX_LINES {
        assert_eq!(Sdp::parse(edited.as_bytes()).as_ref(), Ok(&sdp));
    }
});

//! Media anchoring for a call: every SDP crossing the B2BUA is parsed, the
//! sender's media address is given to the relay, and the SDP the other
//! leg receives names the gateway's media address and the relay port that
//! faces it (topology hiding: `o=`, `c=`, `m=` ports, `a=rtcp`; ICE
//! attributes of the far network are dropped, as the gateway terminates
//! the media path).
//!
//! Contract: [`Gateway::media_body`] takes a body received on one leg and
//! returns the body to send on the other: unchanged when it is not SDP or
//! media anchoring is off; rewritten when it is SDP; or a refusal (488
//! with a Warning naming the reason, 503 when the port pool is empty) that
//! the caller turns into a SIP answer. Streams are opened per m= line on
//! first sight and closed with the call; a rejected m= line (port 0)
//! stays rejected and opens nothing.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use super::call::Leg;
use super::{CallId, Gateway, MediaControl};
use crate::media::relay::{Remote, Side, StreamId};
use crate::media::sdp::{Connection, Sdp};

/// Attributes of the far network's ICE, dropped when the gateway anchors media.
const ICE_ATTRIBUTES: [&str; 7] =
    ["ice-ufrag", "ice-pwd", "ice-options", "ice-lite", "candidate", "remote-candidates", "end-of-candidates"];

/// Why an SDP cannot cross.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MediaReject {
    pub status: u16,
    pub warning: String,
}

impl MediaReject {
    fn not_acceptable(why: impl std::fmt::Display) -> MediaReject {
        MediaReject { status: 488, warning: format!("305 bridgehead \"{}\"", why.to_string().replace('"', "'")) }
    }
}

fn side(leg: Leg) -> Side {
    match leg {
        Leg::A => Side::A,
        Leg::B => Side::B,
    }
}

fn is_sdp(content_type: &str) -> bool {
    content_type.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
}

impl Gateway {
    /// The body to send on the leg opposite `from`, for `body` received on `from`.
    pub(super) fn media_body<'a>(
        &mut self,
        id: CallId,
        from: Leg,
        content_type: &str,
        body: &'a [u8],
    ) -> Result<Cow<'a, [u8]>, MediaReject> {
        let Some(media_ip) = self.cfg.media.as_ref().map(|m| m.address) else { return Ok(Cow::Borrowed(body)) };
        if body.is_empty() || !is_sdp(content_type) {
            return Ok(Cow::Borrowed(body));
        }
        let mut sdp = Sdp::parse(body).map_err(MediaReject::not_acceptable)?;
        let session_ip = sdp.connection().and_then(Connection::ip);
        let mut streams: Vec<StreamId> = self.calls.get(&id).map(|c| c.media_streams.clone()).unwrap_or_default();
        for (i, m) in sdp.media_mut().iter_mut().enumerate() {
            if m.port == 0 {
                continue;
            }
            let ip: Option<IpAddr> = m.connection.as_ref().and_then(Connection::ip).or(session_ip);
            let Some(ip) = ip else {
                return Err(MediaReject::not_acceptable(format!("m= line {} has no connection address", i + 1)));
            };
            let stream = match streams.get(i) {
                Some(s) => *s,
                None => {
                    let (s, ports) = self
                        .relay
                        .open()
                        .map_err(|e| MediaReject { status: 503, warning: format!("399 bridgehead \"{e}\"") })?;
                    self.media_control.extend(ports.map(|port| MediaControl::Open { port }));
                    streams.push(s);
                    s
                }
            };
            let rtp = SocketAddr::new(ip, m.port);
            let rtcp = match m.rtcp() {
                Some((port, conn)) => SocketAddr::new(conn.and_then(|c| c.ip()).unwrap_or(ip), port),
                None => SocketAddr::new(ip, m.port.saturating_add(1)),
            };
            self.relay.set_remote(stream, side(from), Remote { rtp, rtcp, rtcp_mux: m.rtcp_mux() });
            let Some(ours) = self.relay.port(stream, side(from.other())) else { continue };
            m.port = ours;
            if m.connection.is_some() {
                m.connection = Some(Connection::from_ip(media_ip));
            }
            m.set_rtcp_port(ours.saturating_add(1), Some(Connection::from_ip(media_ip)));
            for name in ICE_ATTRIBUTES {
                m.remove_attributes(name);
            }
        }
        if let Some(c) = self.calls.get_mut(&id) {
            c.media_streams = streams;
        }
        sdp.set_connection(Connection::from_ip(media_ip));
        let o = sdp.origin_mut();
        let c = Connection::from_ip(media_ip);
        o.addrtype = c.addrtype;
        o.address = c.address;
        Ok(Cow::Owned(sdp.print().into_bytes()))
    }

    /// Give a call's media ports back.
    pub(super) fn close_media(&mut self, streams: &[StreamId]) {
        for s in streams {
            for side in [Side::A, Side::B] {
                if let Some(port) = self.relay.port(*s, side) {
                    self.media_control.push_back(MediaControl::Close { port });
                }
            }
            self.relay.close(*s);
        }
    }
}

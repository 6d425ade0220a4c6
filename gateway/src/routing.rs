//! Routing: which network a request came from, and where a new call goes.
//!
//! Contract: a [`Router`] makes pure decisions over its configuration and
//! the request (no call state, no I/O, no clock). The B2BUA asks
//! [`Router::classify`] for the side of a request's source and
//! [`Router::route`] for a new call's ordered targets; it owns failover
//! along that list. This is the hook later routing plugs into (trunks
//! per operator, the Teams proxy set per tenant, emergency calls to the
//! ERSP, MCP); [`TrunkRouter`] is today's policy: one operator trunk, the
//! Teams proxies in order.

use std::net::SocketAddr;

use crate::sip::msg::Message;
use crate::sip::transport::{Peer, Proto};

/// Which network a leg faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Operator,
    Teams,
}

/// A next hop: its transport, address and the host name written in URIs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub proto: Proto,
    pub addr: SocketAddr,
    /// Host (FQDN or address, with port if not default) for Request-URIs.
    pub host: String,
}

impl Target {
    /// Where the transport sends to reach this hop.
    pub fn peer(&self) -> Peer {
        Peer { proto: self.proto, addr: self.addr, conn: None }
    }
}

/// Where a new call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The network the outgoing leg faces.
    pub side: Side,
    /// Next hops, tried in order (never empty).
    pub targets: Vec<Target>,
    /// Whether a failed or silent hop moves the call to the next one
    /// (Teams proxies) or ends it (a single trunk).
    pub failover: bool,
}

/// Why a new call is refused, and what the caller is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    /// Seconds for a Retry-After header (503).
    pub retry_after: Option<u32>,
    /// For logs and the call event.
    pub why: &'static str,
}

/// The routing hook.
pub trait Router {
    /// The side a request's source belongs to.
    fn classify(&self, from: &Peer) -> Side;
    /// Where a new call (an initial INVITE from `from`) goes.
    fn route(&self, req: &Message, from: Side) -> Result<Route, Refusal>;
}

/// One operator trunk and the Teams proxies in order: calls from Teams go
/// to the trunk, everything else to Teams.
#[derive(Debug, Clone)]
pub struct TrunkRouter {
    pub operator: Target,
    pub teams: Vec<Target>,
}

impl Router for TrunkRouter {
    /// A Teams proxy's own address; or its IP on any port (over TCP/TLS a
    /// proxy connects from an ephemeral port) when the operator trunk does
    /// not share that IP. Everything else is the operator.
    fn classify(&self, from: &Peer) -> Side {
        let ip = from.addr.ip();
        if self.teams.iter().any(|t| t.addr == from.addr)
            || (self.operator.addr.ip() != ip && self.teams.iter().any(|t| t.addr.ip() == ip))
        {
            Side::Teams
        } else {
            Side::Operator
        }
    }

    fn route(&self, _req: &Message, from: Side) -> Result<Route, Refusal> {
        match from {
            Side::Teams => Ok(Route { side: Side::Operator, targets: vec![self.operator.clone()], failover: false }),
            Side::Operator if self.teams.is_empty() => {
                Err(Refusal { status: 503, retry_after: Some(30), why: "no Teams proxy configured" })
            }
            Side::Operator => Ok(Route { side: Side::Teams, targets: self.teams.clone(), failover: true }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn t(a: &str) -> Target {
        Target { proto: Proto::Tls, addr: a.parse().expect("addr"), host: "sip.pstnhub.microsoft.com".into() }
    }

    fn router() -> TrunkRouter {
        TrunkRouter {
            operator: Target { proto: Proto::Udp, addr: "192.0.2.10:5060".parse().expect("addr"), host: "op".into() },
            teams: vec![t("52.114.148.0:5061"), t("52.114.132.46:5061")],
        }
    }

    fn peer(a: &str) -> Peer {
        Peer { proto: Proto::Tcp, addr: a.parse().expect("addr"), conn: None }
    }

    #[test]
    fn teams_is_known_by_address_or_by_ip_when_the_operator_does_not_share_it() {
        let r = router();
        assert_eq!(r.classify(&peer("52.114.148.0:5061")), Side::Teams);
        assert_eq!(r.classify(&peer("52.114.132.46:49152")), Side::Teams);
        assert_eq!(r.classify(&peer("192.0.2.10:5060")), Side::Operator);
        assert_eq!(r.classify(&peer("203.0.113.9:5060")), Side::Operator);
        // Everything on one host (a lab, a loopback test): only the exact address counts.
        let mut lab = router();
        lab.operator.addr = "127.0.0.1:5070".parse().expect("addr");
        lab.teams = vec![t("127.0.0.1:5080")];
        assert_eq!(lab.classify(&peer("127.0.0.1:5080")), Side::Teams);
        assert_eq!(lab.classify(&peer("127.0.0.1:40000")), Side::Operator);
    }

    #[test]
    fn calls_cross_to_the_other_side() {
        let req = Message::parse_datagram(Bytes::from_static(
            b"INVITE sip:+1@gw SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
        ))
        .expect("parses");
        let r = router();
        let to_teams = r.route(&req, Side::Operator).expect("routes");
        assert_eq!((to_teams.side, to_teams.targets.len(), to_teams.failover), (Side::Teams, 2, true));
        let to_op = r.route(&req, Side::Teams).expect("routes");
        assert_eq!((to_op.side, to_op.targets.len(), to_op.failover), (Side::Operator, 1, false));
        let none = TrunkRouter { teams: Vec::new(), ..router() };
        assert_eq!(none.route(&req, Side::Operator).map_err(|e| e.status), Err(503));
    }
}

//! SDP session descriptions (RFC 8866, which replaced RFC 4566), modelled for a
//! B2BUA that rewrites addresses and ports (topology hiding) and keeps the rest.
//!
//! Contract: [`Sdp::parse`] takes UTF-8 text with CRLF or bare LF line ends, at
//! most [`MAX_SDP`] bytes (also in its CRLF form), [`MAX_LINES`] lines and
//! [`MAX_MEDIA`] m= sections, and gives an [`Sdp`] or an [`SdpError`] naming the
//! 1-based line. It never panics. The model understands v=, o=, c= and m= lines
//! (fields separated by blanks; extra blanks are accepted and printed as single
//! spaces, leading zeros in numbers dropped) and splits each a= line
//! into name and value; every other line (s=, i=, u=, e=, p=, b=, t=, r=, z=, k=,
//! unknown letters) is kept verbatim in place.
//! Invariants: [`Sdp::print`] writes CRLF line ends; printing an unmodified parse
//! gives the input with CRLF line ends (v=, o=, c=, m= lines in canonical form,
//! as the RFC grammar writes them), except that trailing empty lines are
//! dropped and a media-level c= is printed in its RFC place (after the section's
//! i= lines) wherever it was; `parse(print(x)) == x` for a parsed `x` edited
//! through this API within the limits. CR, LF and NUL in edited values are
//! printed as spaces, so an edit cannot add a line.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

/// Largest SDP accepted, in bytes (the input and its CRLF form).
pub const MAX_SDP: usize = 16 * 1024;
/// Most m= sections accepted.
pub const MAX_MEDIA: usize = 16;
/// Most lines accepted.
pub const MAX_LINES: usize = 512;

/// Why a body is not an SDP we accept; every message starts with the line.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SdpError {
    #[error("line 1: empty SDP")]
    Empty,
    #[error("line {line}: the SDP is larger than {MAX_SDP} bytes")]
    TooLarge { line: usize },
    #[error("line {line}: more than {MAX_LINES} lines")]
    TooManyLines { line: usize },
    #[error("line {line}: not UTF-8")]
    NotUtf8 { line: usize },
    #[error("line {line}: NUL or bare CR inside the line")]
    ControlChar { line: usize },
    #[error("line {line}: not a `<letter>=<value>` line")]
    NotALine { line: usize },
    #[error("line 1: the first line must be v=0")]
    MissingVersion,
    #[error("line 2: the second line must be o=")]
    MissingOrigin,
    #[error("line {line}: a second {kind}= line where only one is allowed")]
    Repeated { line: usize, kind: char },
    #[error("line {line}: bad o= line: {reason}")]
    BadOrigin { line: usize, reason: &'static str },
    #[error("line {line}: bad c= line: expected `<nettype> <addrtype> <address>`")]
    BadConnection { line: usize },
    #[error("line {line}: bad m= port")]
    BadPort { line: usize },
    #[error("line {line}: bad m= proto")]
    BadProto { line: usize },
    #[error("line {line}: bad m= line: {reason}")]
    BadMedia { line: usize, reason: &'static str },
    #[error("line {line}: more than {MAX_MEDIA} m= sections")]
    TooManyMedia { line: usize },
}

impl SdpError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            SdpError::Empty | SdpError::MissingVersion => 1,
            SdpError::MissingOrigin => 2,
            SdpError::TooLarge { line }
            | SdpError::TooManyLines { line }
            | SdpError::NotUtf8 { line }
            | SdpError::ControlChar { line }
            | SdpError::NotALine { line }
            | SdpError::Repeated { line, .. }
            | SdpError::BadOrigin { line, .. }
            | SdpError::BadConnection { line }
            | SdpError::BadPort { line }
            | SdpError::BadProto { line }
            | SdpError::BadMedia { line, .. }
            | SdpError::TooManyMedia { line } => *line,
        }
    }
}

/// A session description: v=0, o=, the session-level lines in order, the media sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    origin: Origin,
    session: Vec<SessionLine>,
    media: Vec<Media>,
}

/// One session-level line after o=.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionLine {
    Connection(Connection),
    Line(Attribute),
}

impl SessionLine {
    fn letter(&self) -> char {
        match self {
            SessionLine::Connection(_) => 'c',
            SessionLine::Line(a) => a.letter(),
        }
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub version: u64,
    pub nettype: String,
    pub addrtype: String,
    pub address: String,
}

/// `c=<nettype> <addrtype> <connection-address>`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// "IN".
    pub nettype: String,
    /// "IP4" or "IP6".
    pub addrtype: String,
    /// As received: may carry /ttl and /count for multicast.
    pub address: String,
}

/// One m= section: the m= line and the lines after it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// audio, video, image, application...
    pub kind: String,
    pub port: u16,
    /// `m=audio 49170/2`: the number of ports.
    pub port_count: Option<u16>,
    /// RTP/AVP, RTP/SAVP, RTP/AVPF, RTP/SAVPF, UDP/TLS/RTP/SAVP, udptl...
    pub proto: String,
    /// Payload types or tokens, in order.
    pub formats: Vec<String>,
    /// The media-level c=, printed after the section's leading i= lines.
    pub connection: Option<Connection>,
    /// Every other line of the section in order: a= lines and i=, b=, k=... as [`Attribute::Other`].
    pub attributes: Vec<Attribute>,
}

/// One kept line: an a= line split at its first colon, or any other line verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute {
    /// `a=<name>`: a property (flag) attribute.
    Property(String),
    /// `a=<name>:<value>`: a value attribute (the value may be empty).
    Value { name: String, value: String },
    /// Any other line (i=, b=, k=, s=, t=, unknown letters...), whole, without its line end.
    Other(String),
}

/// The media direction attribute (RFC 3264 section 5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    pub pt: u8,
    pub encoding: &'a str,
    pub clock: u32,
    pub channels: Option<u8>,
}

/// `a=crypto:<tag> <suite> <key-params> [<session-params>]` (RFC 4568).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crypto<'a> {
    pub tag: u32,
    pub suite: &'a str,
    /// `inline:<key||salt>[|lifetime][|MKI:length]`, possibly several joined by `;`.
    pub key_params: &'a str,
    pub session_params: Option<&'a str>,
}

impl Sdp {
    /// Parses one SDP body; see the module contract.
    pub fn parse(text: &[u8]) -> Result<Sdp, SdpError> {
        if text.len() > MAX_SDP {
            let line = 1 + text.iter().take(MAX_SDP).filter(|&&b| b == b'\n').count();
            return Err(SdpError::TooLarge { line });
        }
        let text = std::str::from_utf8(text).map_err(|e| {
            let line = 1 + text.iter().take(e.valid_up_to()).filter(|&&b| b == b'\n').count();
            SdpError::NotUtf8 { line }
        })?;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            return Err(SdpError::Empty);
        }
        let mut origin = None;
        let mut session = Vec::new();
        let mut media: Vec<Media> = Vec::new();
        let mut size = 0;
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let text = raw.strip_suffix('\r').unwrap_or(raw);
            size += text.len() + 2;
            if line > MAX_LINES {
                return Err(SdpError::TooManyLines { line });
            }
            if size > MAX_SDP {
                return Err(SdpError::TooLarge { line });
            }
            if text.contains(['\r', '\0']) {
                return Err(SdpError::ControlChar { line });
            }
            if line == 1 {
                if text != "v=0" {
                    return Err(SdpError::MissingVersion);
                }
                continue;
            }
            let (letter, value) = split_line(text).ok_or(SdpError::NotALine { line })?;
            match (line, letter) {
                (2, 'o') => origin = Some(parse_origin(value).map_err(|reason| SdpError::BadOrigin { line, reason })?),
                (2, _) => return Err(SdpError::MissingOrigin),
                (_, 'v' | 'o') => return Err(SdpError::Repeated { line, kind: letter }),
                (_, 'm') if media.len() == MAX_MEDIA => return Err(SdpError::TooManyMedia { line }),
                (_, 'm') => media.push(parse_media(value, line)?),
                (_, 'c') => {
                    let c = Connection::parse(value).ok_or(SdpError::BadConnection { line })?;
                    let repeated = match media.last_mut() {
                        Some(m) => m.connection.replace(c).is_some(),
                        None => {
                            let repeated = session.iter().any(|l| matches!(l, SessionLine::Connection(_)));
                            session.push(SessionLine::Connection(c));
                            repeated
                        }
                    };
                    if repeated {
                        return Err(SdpError::Repeated { line, kind: 'c' });
                    }
                }
                _ => {
                    let a = Attribute::parse_line(text, letter, value);
                    match media.last_mut() {
                        Some(m) => m.attributes.push(a),
                        None => session.push(SessionLine::Line(a)),
                    }
                }
            }
        }
        let origin = origin.ok_or(SdpError::MissingOrigin)?;
        Ok(Sdp { origin, session, media })
    }

    /// The SDP text, CRLF line ends.
    pub fn print(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("v=0\r\n");
        put_line(&mut out, format_args!("o={}", self.origin));
        for l in &self.session {
            match l {
                SessionLine::Connection(c) => put_line(&mut out, format_args!("c={c}")),
                SessionLine::Line(a) => put_line(&mut out, format_args!("{a}")),
            }
        }
        for m in &self.media {
            m.print(&mut out);
        }
        out
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn origin_mut(&mut self) -> &mut Origin {
        &mut self.origin
    }

    /// The session-level c=.
    pub fn connection(&self) -> Option<&Connection> {
        self.session.iter().find_map(|l| match l {
            SessionLine::Connection(c) => Some(c),
            SessionLine::Line(_) => None,
        })
    }

    /// Replaces the session-level c= in place, or inserts it in its RFC place:
    /// after s=, i=, u=, e=, p=, before the first b=, t= or later line.
    pub fn set_connection(&mut self, c: Connection) {
        for l in &mut self.session {
            if let SessionLine::Connection(old) = l {
                *old = c;
                return;
            }
        }
        let at = self.session.iter().position(|l| !matches!(l.letter(), 's' | 'i' | 'u' | 'e' | 'p'));
        self.session.insert(at.unwrap_or(self.session.len()), SessionLine::Connection(c));
    }

    pub fn media(&self) -> &[Media] {
        &self.media
    }

    pub fn media_mut(&mut self) -> &mut [Media] {
        &mut self.media
    }

    /// The session-level lines other than v=, o= and c=, in order: a= lines and
    /// the others (s=, t=, b=...) as [`Attribute::Other`].
    pub fn session_attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.session.iter().filter_map(|l| match l {
            SessionLine::Line(a) => Some(a),
            SessionLine::Connection(_) => None,
        })
    }

    /// The direction of media section `idx`: its own attribute, else the
    /// session-level one, else sendrecv. `None` if there is no such section.
    pub fn media_direction(&self, idx: usize) -> Option<Direction> {
        let m = self.media.get(idx)?;
        let session = self.session_attributes().find_map(Attribute::direction);
        Some(first_direction(&m.attributes).or(session).unwrap_or_default())
    }
}

/// Writes one line; CR, LF and NUL (only possible in edited values) become spaces.
fn put_line(out: &mut String, line: fmt::Arguments<'_>) {
    let start = out.len();
    let _ = out.write_fmt(line);
    if let Some(tail) = out.get(start..).filter(|t| t.contains(['\r', '\n', '\0'])) {
        let clean = tail.replace(['\r', '\n', '\0'], " ");
        out.truncate(start);
        out.push_str(&clean);
    }
    out.push_str("\r\n");
}

/// `x=value` with `x` an ASCII letter.
fn split_line(line: &str) -> Option<(char, &str)> {
    let value = line.get(2..)?;
    match line.as_bytes() {
        [x, b'=', ..] if x.is_ascii_alphabetic() => Some((char::from(*x), value)),
        _ => None,
    }
}

/// An RFC 8866 token.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`{|}~".contains(&b))
}

/// Decimal digits (a leading zero is accepted, and printed without).
fn canonical_number(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

/// The value's fields. Be liberal in what you accept: runs of spaces or
/// tabs and trailing blanks (seen from real PBXs) separate fields too; the
/// line is printed back with single spaces.
fn fields(value: &str) -> Option<Vec<&str>> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    (!fields.is_empty()).then_some(fields)
}

fn parse_origin(value: &str) -> Result<Origin, &'static str> {
    let Some([username, session_id, version, nettype, addrtype, address]) =
        fields(value).as_deref().and_then(|f| <[&str; 6]>::try_from(f).ok())
    else {
        return Err("expected 6 fields");
    };
    let version = canonical_number(version).ok_or("sess-version is not a number")?;
    Ok(Origin {
        username: username.to_owned(),
        session_id: session_id.to_owned(),
        version,
        nettype: nettype.to_owned(),
        addrtype: addrtype.to_owned(),
        address: address.to_owned(),
    })
}

fn parse_media(value: &str, line: usize) -> Result<Media, SdpError> {
    let mut parts = value.split_ascii_whitespace();
    let kind = parts.next().filter(|k| is_token(k)).ok_or(SdpError::BadMedia { line, reason: "bad media type" })?;
    let port = parts.next().ok_or(SdpError::BadPort { line })?;
    let number = |s: &str| canonical_number(s).and_then(|n| u16::try_from(n).ok()).ok_or(SdpError::BadPort { line });
    let (port, port_count) = match port.split_once('/') {
        Some((port, count)) => (number(port)?, Some(number(count)?)),
        None => (number(port)?, None),
    };
    let proto = parts.next().filter(|p| p.split('/').all(is_token)).ok_or(SdpError::BadProto { line })?;
    let formats = parts
        .map(|f| is_token(f).then(|| f.to_owned()).ok_or(SdpError::BadMedia { line, reason: "empty or bad format" }))
        .collect::<Result<_, _>>()?;
    Ok(Media {
        kind: kind.to_owned(),
        port,
        port_count,
        proto: proto.to_owned(),
        formats,
        connection: None,
        attributes: Vec::new(),
    })
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Origin { username, session_id, version, nettype, addrtype, address } = self;
        write!(f, "{username} {session_id} {version} {nettype} {addrtype} {address}")
    }
}

impl Connection {
    /// Parses the value of a c= line (also the address part of a=rtcp).
    pub fn parse(value: &str) -> Option<Connection> {
        let [nettype, addrtype, address] = <[&str; 3]>::try_from(fields(value)?.as_slice()).ok()?;
        Some(Connection { nettype: nettype.to_owned(), addrtype: addrtype.to_owned(), address: address.to_owned() })
    }

    /// The address as an IP, if it is `IN IP4 <v4>` or `IN IP6 <v6>` (a /ttl or /count suffix is ignored).
    pub fn ip(&self) -> Option<IpAddr> {
        let host = self.address.split('/').next()?;
        let ip: IpAddr = host.parse().ok()?;
        match (self.nettype.as_str(), self.addrtype.as_str(), ip) {
            ("IN", "IP4", IpAddr::V4(_)) | ("IN", "IP6", IpAddr::V6(_)) => Some(ip),
            _ => None,
        }
    }

    pub fn from_ip(ip: IpAddr) -> Connection {
        let addrtype = if ip.is_ipv4() { "IP4" } else { "IP6" };
        Connection { nettype: "IN".to_owned(), addrtype: addrtype.to_owned(), address: ip.to_string() }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.nettype, self.addrtype, self.address)
    }
}

impl Attribute {
    /// An a= line built from its parts.
    pub fn new(name: &str, value: Option<&str>) -> Attribute {
        match value {
            Some(value) => Attribute::Value { name: name.to_owned(), value: value.to_owned() },
            None => Attribute::Property(name.to_owned()),
        }
    }

    fn parse_line(line: &str, letter: char, value: &str) -> Attribute {
        match (letter, value.split_once(':')) {
            ('a', Some((name, value))) => Attribute::new(name, Some(value)),
            ('a', None) => Attribute::Property(value.to_owned()),
            _ => Attribute::Other(line.to_owned()),
        }
    }

    /// The a= name; `None` for other lines.
    pub fn name(&self) -> Option<&str> {
        match self {
            Attribute::Property(name) | Attribute::Value { name, .. } => Some(name),
            Attribute::Other(_) => None,
        }
    }

    /// The a= value: `Some("")` for a property, `None` for other lines.
    pub fn value(&self) -> Option<&str> {
        match self {
            Attribute::Property(_) => Some(""),
            Attribute::Value { value, .. } => Some(value),
            Attribute::Other(_) => None,
        }
    }

    /// The line's type letter.
    fn letter(&self) -> char {
        match self {
            Attribute::Other(line) => line.chars().next().unwrap_or('?'),
            _ => 'a',
        }
    }

    /// The direction, if this is a direction property.
    pub fn direction(&self) -> Option<Direction> {
        match self {
            Attribute::Property(name) => Direction::from_name(name),
            _ => None,
        }
    }
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attribute::Property(name) => write!(f, "a={name}"),
            Attribute::Value { name, value } => write!(f, "a={name}:{value}"),
            Attribute::Other(line) => f.write_str(line),
        }
    }
}

impl Direction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer gives to an offer's (sendonly <-> recvonly).
    pub const fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    pub fn from_name(name: &str) -> Option<Direction> {
        [Direction::SendRecv, Direction::SendOnly, Direction::RecvOnly, Direction::Inactive]
            .into_iter()
            .find(|d| d.as_str() == name)
    }
}

fn first_direction(attributes: &[Attribute]) -> Option<Direction> {
    attributes.iter().find_map(Attribute::direction)
}

impl Media {
    fn print(&self, out: &mut String) {
        let Media { kind, port, port_count, proto, formats, connection, attributes } = self;
        let count = port_count.map(|n| format!("/{n}")).unwrap_or_default();
        let formats = formats.iter().fold(String::new(), |s, f| s + " " + f);
        put_line(out, format_args!("m={kind} {port}{count} {proto}{formats}"));
        let info = attributes.iter().take_while(|a| matches!(a, Attribute::Other(l) if l.starts_with("i="))).count();
        let (info, rest) = attributes.split_at(info);
        for a in info {
            put_line(out, format_args!("{a}"));
        }
        if let Some(c) = connection {
            put_line(out, format_args!("c={c}"));
        }
        for a in rest {
            put_line(out, format_args!("{a}"));
        }
    }

    /// The values of the a=`name` lines, in order.
    fn values(&self, name: &'static str) -> impl Iterator<Item = &str> + '_ {
        self.attributes.iter().filter(move |a| a.name() == Some(name)).filter_map(Attribute::value)
    }

    /// This section's direction attribute, sendrecv without one (the session-level
    /// one is not consulted: see [`Sdp::media_direction`]).
    pub fn direction(&self) -> Direction {
        first_direction(&self.attributes).unwrap_or_default()
    }

    /// Replaces the first direction attribute in place (dropping any further
    /// ones), or appends one.
    pub fn set_direction(&mut self, d: Direction) {
        let mut done = false;
        self.attributes.retain_mut(|a| {
            if a.direction().is_none() {
                return true;
            }
            let first = !done;
            if first {
                *a = Attribute::Property(d.as_str().to_owned());
                done = true;
            }
            first
        });
        if !done {
            self.attributes.push(Attribute::Property(d.as_str().to_owned()));
        }
    }

    /// The a=rtpmap lines that parse, in order.
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap<'_>> {
        self.values("rtpmap").filter_map(|v| {
            let (pt, rest) = v.split_once(' ')?;
            let mut parts = rest.trim().split('/');
            let encoding = parts.next().filter(|e| !e.is_empty())?;
            let clock = parts.next()?.parse().ok()?;
            let channels = match parts.next() {
                Some(c) => Some(c.parse().ok()?),
                None => None,
            };
            parts.next().is_none().then_some(RtpMap { pt: pt.parse().ok()?, encoding, clock, channels })
        })
    }

    /// The format parameters of payload type `pt` (the text after `a=fmtp:<pt> `).
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.values("fmtp")
            .find_map(|v| v.split_once(' ').filter(|(p, _)| p.parse::<u8>() == Ok(pt)).map(|(_, rest)| rest))
    }

    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")?.trim().parse().ok()
    }

    pub fn rtcp_mux(&self) -> bool {
        self.attribute("rtcp-mux").is_some()
    }

    /// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605); `None` if absent or malformed.
    pub fn rtcp(&self) -> Option<(u16, Option<Connection>)> {
        let v = self.attribute("rtcp")?.trim();
        match v.split_once(' ') {
            None => Some((v.parse().ok()?, None)),
            Some((port, c)) => Some((port.parse().ok()?, Some(Connection::parse(c)?))),
        }
    }

    /// Rewrites every a=rtcp in place to `<port>` or `<port> <conn>` (an address
    /// received is dropped when `conn` is `None`); does nothing without one.
    pub fn set_rtcp_port(&mut self, port: u16, conn: Option<Connection>) {
        let value = match conn {
            Some(c) => format!("{port} {c}"),
            None => port.to_string(),
        };
        for a in &mut self.attributes {
            if let Attribute::Value { name, value: v } = a {
                if name == "rtcp" {
                    v.clone_from(&value);
                }
            }
        }
    }

    /// The a=crypto lines that parse, in order.
    pub fn cryptos(&self) -> impl Iterator<Item = Crypto<'_>> {
        self.values("crypto").filter_map(|v| {
            let mut parts = v.splitn(4, ' ');
            let tag = parts.next()?.parse().ok()?;
            let suite = parts.next().filter(|s| !s.is_empty())?;
            let key_params = parts.next().filter(|k| !k.is_empty())?;
            Some(Crypto { tag, suite, key_params, session_params: parts.next() })
        })
    }

    /// The value of the first a=`name`: `Some("")` for a property attribute.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().filter(|a| a.name() == Some(name)).find_map(Attribute::value)
    }

    /// Removes every a=`name` line.
    pub fn remove_attributes(&mut self, name: &str) {
        self.attributes.retain(|a| a.name() != Some(name));
    }

    /// Appends a=`name` or a=`name`:`value`.
    pub fn push_attribute(&mut self, name: &str, value: Option<&str>) {
        self.attributes.push(Attribute::new(name, value));
    }

    /// Keeps the formats `keep` accepts, dropping the others from the m= line
    /// and their a=rtpmap, a=fmtp and a=rtcp-fb lines (a=rtcp-fb:* stays).
    pub fn retain_formats(&mut self, keep: impl Fn(&str) -> bool) {
        let (kept, dropped): (Vec<String>, Vec<String>) =
            std::mem::take(&mut self.formats).into_iter().partition(|f| keep(f));
        self.formats = kept;
        self.attributes.retain(|a| match a {
            Attribute::Value { name, value } if matches!(name.as_str(), "rtpmap" | "fmtp" | "rtcp-fb") => {
                let pt = value.split(' ').next().unwrap_or_default();
                !dropped.iter().any(|d| d == pt)
            }
            _ => true,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const TEAMS: &str = "v=0\r\n\
o=- 3859632410 2 IN IP4 52.114.76.76\r\n\
s=session\r\n\
c=IN IP4 52.114.76.76\r\n\
b=CT:10000000\r\n\
t=0 0\r\n\
m=audio 50510 RTP/SAVP 104 9 103 111 18 0 8 97 101 13 118\r\n\
c=IN IP4 52.114.76.76\r\n\
a=rtcp:50511\r\n\
a=ice-ufrag:Vqxc\r\n\
a=ice-pwd:iSm4FB3ULyRVWQxNFeBSCMtQ\r\n\
a=candidate:1 1 UDP 2130706431 52.114.76.76 50510 typ host \r\n\
a=candidate:1 2 UDP 2130705918 52.114.76.76 50511 typ host \r\n\
a=x-candidate-ipv6:2 1 UDP 33553407 2603:1063:1::11 50512 typ host \r\n\
a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:Wk1vJ1MrIu3z3oKl1cN6oFVg0w/LsJk7LzNEbeyQ|2^31|1:1\r\n\
a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:Ym9nxvPqsj3oL3yq0x0E6i1/Q6FoN1n/v4Wb0Ki3|2^31 UNENCRYPTED_SRTCP\r\n\
a=maxptime:200\r\n\
a=rtpmap:104 SILK/16000\r\n\
a=fmtp:104 useinbandfec=1; usedtx=0\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:103 SILK/8000\r\n\
a=fmtp:103 useinbandfec=1; usedtx=0\r\n\
a=rtpmap:111 SIREN/16000\r\n\
a=fmtp:111 bitrate=16000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=fmtp:18 annexb=no\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:97 RED/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=rtpmap:13 CN/8000\r\n\
a=rtpmap:118 CN/16000\r\n\
a=ptime:20\r\n\
a=label:main-audio\r\n\
a=x-source-streamid:1928347\r\n\
a=x-ssrc-range:1928347-1928347\r\n\
a=x-device-caps:audio:send,recv\r\n\
a=sendrecv\r\n";

    const OPERATOR: &str = "v=0\n\
o=SBC-operator 1234567 1 IN IP4 203.0.113.10\n\
s=-\n\
c=IN IP4 203.0.113.10\n\
t=0 0\n\
m=audio 16384 RTP/AVP 8 0 101\n\
a=rtpmap:8 PCMA/8000\n\
a=rtpmap:0 PCMU/8000\n\
a=rtpmap:101 telephone-event/8000\n\
a=fmtp:101 0-15\n\
a=ptime:20\n\
a=sendrecv\n";

    fn parse(text: &str) -> Sdp {
        Sdp::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn teams_sdp_prints_back_byte_identically() {
        let sdp = parse(TEAMS);
        assert_eq!(sdp.print(), TEAMS);
        assert_eq!(sdp.origin().version, 2);
        assert_eq!(sdp.origin().address, "52.114.76.76");
        assert_eq!(sdp.connection().and_then(Connection::ip), Some(Ipv4Addr::new(52, 114, 76, 76).into()));
        let m = &sdp.media()[0];
        assert_eq!((m.kind.as_str(), m.port, m.proto.as_str()), ("audio", 50510, "RTP/SAVP"));
        assert_eq!(m.formats.len(), 11);
        assert_eq!(m.rtcp(), Some((50511, None)));
        assert!(!m.rtcp_mux());
        assert_eq!(m.ptime(), Some(20));
        assert_eq!(m.attribute("maxptime"), Some("200"));
        assert_eq!(m.attribute("label"), Some("main-audio"));
        assert_eq!(m.attribute("x-device-caps"), Some("audio:send,recv"));
        assert_eq!(m.attribute("sendrecv"), Some(""));
        assert_eq!(m.fmtp(101), Some("0-16"));
        assert_eq!(m.fmtp(0), None);
        let maps: Vec<_> = m.rtpmaps().map(|r| (r.pt, r.encoding, r.clock)).collect();
        assert_eq!(maps.len(), 11);
        assert_eq!(maps[0], (104, "SILK", 16000));
        assert_eq!(maps[8], (101, "telephone-event", 8000));
        let cryptos: Vec<_> = m.cryptos().collect();
        assert_eq!(cryptos.len(), 2);
        assert_eq!((cryptos[0].tag, cryptos[0].suite, cryptos[0].session_params), (2, "AES_CM_128_HMAC_SHA1_80", None));
        assert_eq!(cryptos[1].key_params, "inline:Ym9nxvPqsj3oL3yq0x0E6i1/Q6FoN1n/v4Wb0Ki3|2^31");
        assert_eq!(cryptos[1].session_params, Some("UNENCRYPTED_SRTCP"));
        let others: Vec<_> = sdp.session_attributes().map(ToString::to_string).collect();
        assert_eq!(others, ["s=session", "b=CT:10000000", "t=0 0"]);
    }

    #[test]
    fn bare_lf_prints_with_crlf_and_reparses_equal() {
        let sdp = parse(OPERATOR);
        let printed = sdp.print();
        assert_eq!(printed, OPERATOR.replace('\n', "\r\n"));
        assert_eq!(parse(&printed), sdp);
        let channels: Vec<_> = sdp.media()[0].rtpmaps().map(|r| r.channels).collect();
        assert_eq!(channels, [None, None, None]);
    }

    #[test]
    fn rewriting_addresses_and_ports_changes_only_those_lines() {
        let mut sdp = parse(TEAMS);
        sdp.set_connection(Connection::from_ip(Ipv4Addr::new(198, 51, 100, 1).into()));
        let m = &mut sdp.media_mut()[0];
        m.port = 40000;
        m.set_rtcp_port(40001, None);
        let printed = sdp.print();
        let (before, after): (Vec<_>, Vec<_>) = (TEAMS.split("\r\n").collect(), printed.split("\r\n").collect());
        assert_eq!(before.len(), after.len());
        let changed: Vec<_> = before.iter().zip(&after).enumerate().filter(|(_, (b, a))| b != a).collect();
        assert_eq!(changed.len(), 3, "{changed:?}");
        assert_eq!(after[3], "c=IN IP4 198.51.100.1");
        assert_eq!(after[6], "m=audio 40000 RTP/SAVP 104 9 103 111 18 0 8 97 101 13 118");
        assert_eq!(after[8], "a=rtcp:40001");
        assert_eq!(parse(&printed), sdp);
    }

    #[test]
    fn set_connection_inserts_before_b_and_t() {
        let mut sdp = parse("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\ni=info\r\nb=AS:64\r\nt=0 0\r\n");
        assert_eq!(sdp.connection(), None);
        sdp.set_connection(Connection::from_ip("2001:db8::1".parse().unwrap()));
        assert_eq!(
            sdp.print(),
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\ni=info\r\nc=IN IP6 2001:db8::1\r\nb=AS:64\r\nt=0 0\r\n"
        );
        sdp.origin_mut().version += 1;
        assert!(sdp.print().contains("o=- 1 2 IN IP4 10.0.0.1\r\n"));
    }

    #[test]
    fn rtcp_with_address_is_read_and_rewritten() {
        let mut sdp = parse(&TEAMS.replace("a=rtcp:50511", "a=rtcp:53020 IN IP4 126.16.64.4"));
        let m = &mut sdp.media_mut()[0];
        let want = Connection { nettype: "IN".into(), addrtype: "IP4".into(), address: "126.16.64.4".into() };
        assert_eq!(m.rtcp(), Some((53020, Some(want))));
        m.set_rtcp_port(40001, Some(Connection::from_ip(Ipv4Addr::new(198, 51, 100, 1).into())));
        assert_eq!(m.attribute("rtcp"), Some("40001 IN IP4 198.51.100.1"));
        m.remove_attributes("rtcp");
        m.set_rtcp_port(1, None);
        assert_eq!(m.rtcp(), None);
    }

    #[test]
    fn retain_formats_drops_rtpmap_fmtp_and_rtcp_fb() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n\
m=video 5000 RTP/AVPF 96 97\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:* ccm fir\r\n\
a=rtpmap:97 H264/90000\r\na=fmtp:97 profile-level-id=42e01f\r\na=rtcp-fb:97 nack pli\r\n";
        let mut sdp = parse(text);
        sdp.media_mut()[0].retain_formats(|f| f != "97");
        let m = &sdp.media()[0];
        assert_eq!(m.formats, ["96"]);
        assert_eq!(m.fmtp(97), None);
        assert_eq!(m.rtpmaps().map(|r| r.pt).collect::<Vec<_>>(), [96]);
        assert!(sdp.print().ends_with(
            "m=video 5000 RTP/AVPF 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:* ccm fir\r\n"
        ));

        let mut teams = parse(TEAMS);
        teams.media_mut()[0].retain_formats(|f| f == "0" || f == "101");
        assert_eq!(teams.media()[0].formats, ["0", "101"]);
        assert_eq!(teams.media()[0].rtpmaps().count(), 2);
        assert_eq!(teams.media()[0].fmtp(104), None);
        assert_eq!(teams.media()[0].fmtp(101), Some("0-16"));
    }

    #[test]
    fn direction_get_set_and_reversed() {
        let mut sdp = parse(OPERATOR);
        let m = &mut sdp.media_mut()[0];
        assert_eq!(m.direction(), Direction::SendRecv);
        m.set_direction(Direction::SendOnly);
        assert_eq!(m.direction(), Direction::SendOnly);
        assert_eq!(m.attributes.last(), Some(&Attribute::Property("sendonly".into())));
        assert_eq!(m.attributes.iter().filter(|a| a.direction().is_some()).count(), 1);
        m.remove_attributes("sendonly");
        assert_eq!(m.direction(), Direction::SendRecv);
        m.set_direction(Direction::Inactive);
        assert_eq!(m.attribute("inactive"), Some(""));
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
        assert_eq!(Direction::SendRecv.reversed().as_str(), "sendrecv");
        assert_eq!(Direction::from_name("recvonly"), Some(Direction::RecvOnly));

        let held = parse("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\na=sendonly\r\nm=audio 1 RTP/AVP 0\r\n");
        assert_eq!(held.media()[0].direction(), Direction::SendRecv);
        assert_eq!(held.media_direction(0), Some(Direction::SendOnly));
        assert_eq!(held.media_direction(1), None);
    }

    #[test]
    fn media_connection_is_printed_after_info_lines() {
        let text = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 1 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 10.0.0.2\r\nb=AS:64\r\n";
        assert_eq!(parse(text).print(), text);
        let late = text.replace("c=IN IP4 10.0.0.2\r\nb=AS:64", "b=AS:64\r\nc=IN IP4 10.0.0.2");
        assert_eq!(parse(&late).print(), text);
        assert_eq!(parse(&late), parse(text));
    }

    #[test]
    fn edited_values_cannot_add_lines() {
        let mut sdp = parse(OPERATOR);
        sdp.media_mut()[0].push_attribute("x-evil", Some("1\r\nc=IN IP4 6.6.6.6"));
        let printed = sdp.print();
        assert!(printed.ends_with("a=x-evil:1  c=IN IP4 6.6.6.6\r\n"));
        assert_eq!(printed.matches("\r\n").count(), OPERATOR.matches('\n').count() + 1);
    }

    fn head() -> String {
        "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n".to_owned()
    }

    #[test]
    fn errors_name_their_reason_and_line() {
        let cases: Vec<(Vec<u8>, SdpError, &str)> = vec![
            (b"".to_vec(), SdpError::Empty, "line 1"),
            (b"\r\n\r\n".to_vec(), SdpError::Empty, "line 1"),
            (b"o=- 1 1 IN IP4 10.0.0.1\r\nv=0\r\n".to_vec(), SdpError::MissingVersion, "line 1"),
            (b"{\"sdp\": 1}".to_vec(), SdpError::MissingVersion, "line 1"),
            (b"v=1\r\no=- 1 1 IN IP4 10.0.0.1\r\n".to_vec(), SdpError::MissingVersion, "line 1"),
            (b"v=0\r\ns=-\r\n".to_vec(), SdpError::MissingOrigin, "line 2"),
            (b"v=0\r\n".to_vec(), SdpError::MissingOrigin, "line 2"),
            (b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=\xff\r\n".to_vec(), SdpError::NotUtf8 { line: 3 }, "line 3"),
            (format!("{}m=audio 70000 RTP/AVP 0\r\n", head()).into(), SdpError::BadPort { line: 5 }, "line 5"),
            (format!("{}m=audio 1x RTP/AVP 0\r\n", head()).into(), SdpError::BadPort { line: 5 }, "line 5"),
            (format!("{}m=audio 1 RTP//AVP 0\r\n", head()).into(), SdpError::BadProto { line: 5 }, "line 5"),
            (
                format!("{}m=audio 1 RTP/AVP 0 @\r\n", head()).into(),
                SdpError::BadMedia { line: 5, reason: "empty or bad format" },
                "line 5",
            ),
            (
                format!("{}m=audio 1 RTP/AVP 0\r\n", head()).replace("t=0 0", "x").into(),
                SdpError::NotALine { line: 4 },
                "line 4",
            ),
            (format!("{}\r\na=x\r\n", head()).into(), SdpError::NotALine { line: 5 }, "line 5"),
            (format!("{}a=x\ry\r\n", head()).into(), SdpError::ControlChar { line: 5 }, "line 5"),
            (format!("{}c=IN IP4\r\n", head()).into(), SdpError::BadConnection { line: 5 }, "line 5"),
            (
                format!("{}c=IN IP4 a\r\nc=IN IP4 b\r\n", head()).into(),
                SdpError::Repeated { line: 6, kind: 'c' },
                "line 6",
            ),
            (
                format!("{}o=- 1 1 IN IP4 10.0.0.1\r\n", head()).into(),
                SdpError::Repeated { line: 5, kind: 'o' },
                "line 5",
            ),
            (
                b"v=0\r\no=- 1 x IN IP4 10.0.0.1\r\n".to_vec(),
                SdpError::BadOrigin { line: 2, reason: "sess-version is not a number" },
                "line 2",
            ),
            (
                format!("{}{}", head(), "m=audio 1 RTP/AVP 0\r\n".repeat(17)).into(),
                SdpError::TooManyMedia { line: 21 },
                "line 21",
            ),
            (format!("{}a={}\r\n", head(), "x".repeat(MAX_SDP)).into(), SdpError::TooLarge { line: 5 }, "line 5"),
            (
                format!("{}{}", head(), "a=x\r\n".repeat(MAX_LINES)).into(),
                SdpError::TooManyLines { line: 513 },
                "line 513",
            ),
        ];
        for (text, want, line) in cases {
            let got = Sdp::parse(&text).unwrap_err();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(&text));
            assert!(got.to_string().starts_with(&format!("{line}:")), "{got}");
            assert_eq!(format!("line {}", got.line()), line);
        }
    }

    #[test]
    fn extra_blanks_and_leading_zeros_are_accepted_and_printed_canonically() {
        let text = format!("{}m=audio  049170 RTP/AVP 0 8 \r\nc=IN  IP4 192.0.2.1\r\n", head());
        let sdp = Sdp::parse(text.as_bytes()).expect("a PBX's sloppy m= line is still SDP");
        assert_eq!(sdp.media()[0].port, 49_170);
        assert_eq!(sdp.media()[0].formats, ["0", "8"]);
        let printed = sdp.print();
        assert!(printed.contains("m=audio 49170 RTP/AVP 0 8\r\nc=IN IP4 192.0.2.1\r\n"), "{printed}");
        assert_eq!(Sdp::parse(printed.as_bytes()).expect("reparses"), sdp);
    }

    #[test]
    fn size_limit_applies_to_the_crlf_form() {
        // 64 bytes a line in CRLF form, 63 with bare LF; the head is 46 bytes in CRLF form.
        let fill =
            |k: usize| format!("{}{}", head().replace("\r\n", "\n"), format!("a={}\n", "x".repeat(60)).repeat(k));
        let fits = Sdp::parse(fill(250).as_bytes()).unwrap();
        assert!(fits.print().len() <= MAX_SDP);
        let over = fill(256);
        assert!(over.len() <= MAX_SDP);
        assert_eq!(Sdp::parse(over.as_bytes()), Err(SdpError::TooLarge { line: 4 + 256 }));
    }

    fn token() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9][a-zA-Z0-9._-]{0,8}"
    }

    fn attribute() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}".prop_map(|n| format!("a={n}")),
            ("[a-z][a-z0-9-]{0,10}", "\\PC{0,30}").prop_map(|(n, v)| format!("a={n}:{v}")),
            ("[0-9]{1,3}", token(), 1u32..200_000).prop_map(|(pt, e, c)| format!("a=rtpmap:{pt} {e}/{c}")),
            ("[0-9]{1,3}", "\\PC{0,20}").prop_map(|(pt, v)| format!("a=fmtp:{pt} {v}")),
            ("[bkz]", "\\PC{0,20}").prop_map(|(t, v)| format!("{t}={v}")),
            Just("a=sendonly".to_owned()),
        ]
    }

    fn connection() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<Ipv4Addr>().prop_map(|ip| format!("c=IN IP4 {ip}")),
            any::<std::net::Ipv6Addr>().prop_map(|ip| format!("c=IN IP6 {ip}")),
            Just("c=IN IP4 224.2.1.1/127/3".to_owned()),
        ]
    }

    fn media() -> impl Strategy<Value = Vec<String>> {
        let kind = prop::sample::select(vec!["audio", "video", "image", "application"]);
        let proto = prop::sample::select(vec!["RTP/AVP", "RTP/SAVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "udptl"]);
        let count = proptest::option::of(any::<u16>()).prop_map(|c| c.map(|c| format!("/{c}")).unwrap_or_default());
        let formats = proptest::collection::vec(token(), 0..6);
        let info = proptest::option::of("\\PC{0,20}".prop_map(|i| format!("i={i}")));
        let attributes = proptest::collection::vec(attribute(), 0..8);
        (kind, any::<u16>(), count, proto, formats, info, proptest::option::of(connection()), attributes).prop_map(
            |(kind, port, count, proto, formats, info, c, attributes)| {
                let m = std::iter::once(format!("m={kind} {port}{count} {proto}{}", formats.concat_with_spaces()));
                m.chain(info).chain(c).chain(attributes).collect()
            },
        )
    }

    trait ConcatWithSpaces {
        fn concat_with_spaces(&self) -> String;
    }

    impl ConcatWithSpaces for Vec<String> {
        fn concat_with_spaces(&self) -> String {
            self.iter().map(|f| format!(" {f}")).collect()
        }
    }

    fn sdp_text() -> impl Strategy<Value = String> {
        let origin = ("[a-z-]{1,8}", "[0-9]{1,12}", any::<u64>(), any::<Ipv4Addr>())
            .prop_map(|(u, id, v, ip)| format!("o={u} {id} {v} IN IP4 {ip}"));
        let session = proptest::collection::vec(attribute(), 0..4);
        let media = proptest::collection::vec(media(), 0..4);
        let crlf = any::<bool>().prop_map(|crlf| if crlf { "\r\n" } else { "\n" });
        (origin, "\\PC{0,20}", proptest::option::of(connection()), session, media, crlf).prop_map(
            |(origin, s, c, session, media, end)| {
                let head = ["v=0".to_owned(), origin, format!("s={s}")].into_iter().chain(c);
                let lines: Vec<String> =
                    head.chain(["t=0 0".to_owned()]).chain(session).chain(media.concat()).collect();
                lines.iter().map(|l| format!("{l}{end}")).collect()
            },
        )
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(sdp) = Sdp::parse(&bytes) {
                prop_assert_eq!(Sdp::parse(sdp.print().as_bytes()), Ok(sdp));
            }
        }

        #[test]
        fn mutated_sdp_never_panics(at in any::<prop::sample::Index>(), junk in proptest::collection::vec(any::<u8>(), 0..16)) {
            let mut bytes = TEAMS.as_bytes().to_vec();
            let at = at.index(bytes.len());
            bytes.splice(at..at, junk);
            if let Ok(sdp) = Sdp::parse(&bytes) {
                prop_assert_eq!(Sdp::parse(sdp.print().as_bytes()), Ok(sdp));
            }
        }

        #[test]
        fn well_formed_sdp_round_trips(text in sdp_text()) {
            let sdp = Sdp::parse(text.as_bytes()).unwrap();
            let printed = sdp.print();
            prop_assert_eq!(&printed, &text.replace("\r\n", "\n").replace('\n', "\r\n"));
            prop_assert_eq!(Sdp::parse(printed.as_bytes()), Ok(sdp));
        }
    }
}

//! Size bounds applied while parsing (product spec section 3).
//!
//! Every bound has its own [`ErrorKind`](super::ErrorKind) and SIP answer:
//! a datagram over `max_datagram` gets 513, a body over `max_body` 413, a
//! Request-URI over `max_uri` 414, the others (a Contact URI over
//! `max_uri` included) 400.

/// Bounds for one parse. `Limits::default()` holds the product's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Whole message received as one UDP datagram (10 KB).
    pub max_datagram: usize,
    /// Whole message on a stream transport (headers + body).
    pub max_stream_message: usize,
    /// Body, e.g. SDP (128 KB).
    pub max_body: usize,
    /// Request-URI, a Contact URI, or a URI's userinfo (256 B). Over it, a
    /// Request-URI is answered 414 (`UriTooLong`), a Contact 400
    /// (`ContactTooLong`).
    pub max_uri: usize,
    /// Header name (32 B). Clamped to 255 when parsing: the header index
    /// stores a name's length in one byte, so a larger value allows 255.
    pub max_header_name: usize,
    /// One option tag in Require/Supported/Proxy-Require/Unsupported (32 B).
    pub max_option_tag: usize,
    /// Whole value of Supported/Require/Proxy-Require/Unsupported (256 B).
    pub max_option_list: usize,
    /// Any single header value.
    pub max_header_value: usize,
    /// Header lines in one message (the index is a fixed-size table).
    pub max_headers: usize,
}

/// Capacity of the header index: `Limits::max_headers` is clamped to it.
pub const HEADER_CAPACITY: usize = 128;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_datagram: 10 * 1024,
            max_stream_message: 128 * 1024 + 16 * 1024,
            max_body: 128 * 1024,
            max_uri: 256,
            max_header_name: 32,
            max_option_tag: 32,
            max_option_list: 256,
            max_header_value: 8 * 1024,
            max_headers: HEADER_CAPACITY,
        }
    }
}

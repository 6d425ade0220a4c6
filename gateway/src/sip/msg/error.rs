//! Errors of the message layer.
//!
//! Contract: every rejection names what is wrong ([`ErrorKind`]), where it
//! is (byte offset from the start of the message, and the header when the
//! fault lies in one), and maps to the SIP response the gateway must send
//! for a malformed request ([`ParseError::response`]). Responses that fail
//! to parse are never answered: the caller drops them and counts.

use std::fmt;

/// What is wrong with a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    #[error("empty message")]
    Empty,
    #[error("message ends before the end of the header section")]
    Truncated,
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    #[error("malformed method token")]
    Method,
    #[error("malformed Request-URI: {0}")]
    RequestUri(&'static str),
    /// The Request-URI only: the one fault answered 414.
    #[error("Request-URI longer than {0} bytes")]
    UriTooLong(usize),
    /// A Contact URI (or its userinfo) over the limit: answered 400, not
    /// 414, which RFC 3261 21.4.12 reserves for the Request-URI.
    #[error("Contact URI longer than {0} bytes")]
    ContactTooLong(usize),
    #[error("unsupported SIP version")]
    Version,
    #[error("malformed status code")]
    StatusCode,
    #[error("header line without a colon")]
    HeaderLine,
    #[error("malformed header name")]
    HeaderName,
    #[error("header name longer than {0} bytes")]
    HeaderNameTooLong(usize),
    #[error("more than {0} header lines")]
    TooManyHeaders(usize),
    #[error("header value longer than {0} bytes")]
    HeaderTooLong(usize),
    #[error("option tag longer than {0} bytes")]
    OptionTagTooLong(usize),
    #[error("malformed value: {0}")]
    Value(&'static str),
    #[error("header appears more than once but allows a single value")]
    Duplicate,
    #[error("mandatory header is missing")]
    Missing,
    #[error("Content-Length is not a valid non-negative integer")]
    ContentLength,
    #[error("Content-Length ({declared}) exceeds the {available} body bytes received")]
    BodyShort { declared: usize, available: usize },
    #[error("stream message without Content-Length")]
    NoContentLength,
    #[error("message larger than {0} bytes")]
    MessageTooLarge(usize),
    #[error("body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("CSeq method does not match the request method")]
    CSeqMethod,
    #[error("multipart body: {0}")]
    Multipart(&'static str),
}

/// A rejection: what, where, and in which header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Byte offset of the fault from the first byte of the message.
    pub offset: usize,
    /// Canonical name of the header holding the fault, if any.
    pub header: Option<String>,
}

impl ParseError {
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        ParseError { kind, offset, header: None }
    }

    pub(crate) fn in_header(kind: ErrorKind, offset: usize, header: &str) -> Self {
        ParseError { kind, offset, header: Some(header.to_owned()) }
    }

    /// The response a UAS/B2BUA sends when a *request* fails with this error.
    pub fn response(&self) -> (u16, &'static str) {
        match self.kind {
            ErrorKind::Version => (505, "Version Not Supported"),
            ErrorKind::UriTooLong(_) => (414, "Request-URI Too Long"),
            ErrorKind::MessageTooLarge(_) => (513, "Message Too Large"),
            ErrorKind::BodyTooLarge(_) => (413, "Request Entity Too Large"),
            _ => (400, "Bad Request"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.header {
            Some(h) => write!(f, "{}: {} (at byte {})", h, self.kind, self.offset),
            None => write!(f, "{} (at byte {})", self.kind, self.offset),
        }
    }
}

impl std::error::Error for ParseError {}

//! The SIP message layer: a zero-copy parser and printer.
//!
//! - [`Message`] owns the received bytes and indexes them; typed views of
//!   header values are parsed on demand ([`Message::vias`], [`Message::from`] ...).
//! - [`StreamFramer`] cuts messages out of a TCP/TLS byte stream.
//! - [`Editor`] prints a message back, byte-identical when nothing changed,
//!   with a correct Content-Length when something did.
//! - [`check`] applies the full syntax of every header the gateway
//!   understands to a request, and to a response only what it is routed
//!   on (`check::check_response`; `check::check_received` picks);
//!   [`validate`] gives the answer a B2BUA owes a well-formed request it
//!   cannot process (RFC 4475 section 3.3).
//!
//! Errors ([`ParseError`]) say what and where, and map to a SIP response.

mod access;
pub use access::{Contact, TransactionKey};
mod addr;
pub mod build;
pub mod check;
mod edit;
mod error;
mod framer;
mod header;
mod limits;
mod list;
mod message;
mod method;
pub mod multipart;
mod params;
pub mod scan;
mod typed;
mod uri;
pub mod validate;

pub use addr::{Leniency, NameAddr};
pub use edit::Editor;
pub use error::{ErrorKind, ParseError};
pub use framer::{Frame, StreamFramer};
pub use header::HeaderName;
pub use limits::{Limits, HEADER_CAPACITY};
pub use list::split as split_list;
pub(crate) use message::has_start_line;
pub use message::{Framing, Header, HeaderEntry, Message, Span, StartLine};
pub use method::Method;
pub use params::{Param, Params};
pub use typed::{
    call_id, date, max_forwards, option_tag, parse_int, privacy_values, CSeq, MediaType, RAck, Reason, Refresher,
    Replaces, SessionExpires, Via,
};
pub use uri::{split_hostport, unescape, Host, Scheme, Uri};

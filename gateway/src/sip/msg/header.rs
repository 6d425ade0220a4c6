//! Header names: canonical spelling, compact forms, case-insensitive lookup.
//!
//! Contract: [`HeaderName::from_bytes`] maps any spelling of a known header
//! (any case, compact form) to its variant and everything else to
//! [`HeaderName::Other`]; it never allocates.

/// A header name the gateway knows, or `Other` (compare the raw name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum HeaderName {
    Accept,
    AcceptContact,
    AcceptEncoding,
    AcceptLanguage,
    AlertInfo,
    Allow,
    AllowEvents,
    AuthenticationInfo,
    Authorization,
    CallId,
    CallInfo,
    Contact,
    ContentDisposition,
    ContentEncoding,
    ContentLanguage,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    Diversion,
    ErrorInfo,
    Event,
    Expires,
    From,
    HistoryInfo,
    Identity,
    InReplyTo,
    MaxForwards,
    MimeVersion,
    MinExpires,
    MinSe,
    Organization,
    PAssertedIdentity,
    PPreferredIdentity,
    PServedUser,
    Priority,
    Privacy,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    RAck,
    Reason,
    RecordRoute,
    ReferSub,
    ReferTo,
    ReferredBy,
    RejectContact,
    Replaces,
    ReplyTo,
    RequestDisposition,
    Require,
    RetryAfter,
    Route,
    RSeq,
    Server,
    SessionExpires,
    Subject,
    SubscriptionState,
    Supported,
    Timestamp,
    To,
    Unsupported,
    UserAgent,
    Via,
    Warning,
    WwwAuthenticate,
    /// Any other header: its name is the raw bytes of the line.
    Other,
}

impl HeaderName {
    /// Every known name, in canonical-name order.
    pub const ALL: &'static [HeaderName] = &[
        HeaderName::Accept,
        HeaderName::AcceptContact,
        HeaderName::AcceptEncoding,
        HeaderName::AcceptLanguage,
        HeaderName::AlertInfo,
        HeaderName::Allow,
        HeaderName::AllowEvents,
        HeaderName::AuthenticationInfo,
        HeaderName::Authorization,
        HeaderName::CallId,
        HeaderName::CallInfo,
        HeaderName::Contact,
        HeaderName::ContentDisposition,
        HeaderName::ContentEncoding,
        HeaderName::ContentLanguage,
        HeaderName::ContentLength,
        HeaderName::ContentType,
        HeaderName::CSeq,
        HeaderName::Date,
        HeaderName::Diversion,
        HeaderName::ErrorInfo,
        HeaderName::Event,
        HeaderName::Expires,
        HeaderName::From,
        HeaderName::HistoryInfo,
        HeaderName::Identity,
        HeaderName::InReplyTo,
        HeaderName::MaxForwards,
        HeaderName::MimeVersion,
        HeaderName::MinExpires,
        HeaderName::MinSe,
        HeaderName::Organization,
        HeaderName::PAssertedIdentity,
        HeaderName::PPreferredIdentity,
        HeaderName::PServedUser,
        HeaderName::Priority,
        HeaderName::Privacy,
        HeaderName::ProxyAuthenticate,
        HeaderName::ProxyAuthorization,
        HeaderName::ProxyRequire,
        HeaderName::RAck,
        HeaderName::Reason,
        HeaderName::RecordRoute,
        HeaderName::ReferSub,
        HeaderName::ReferTo,
        HeaderName::ReferredBy,
        HeaderName::RejectContact,
        HeaderName::Replaces,
        HeaderName::ReplyTo,
        HeaderName::RequestDisposition,
        HeaderName::Require,
        HeaderName::RetryAfter,
        HeaderName::Route,
        HeaderName::RSeq,
        HeaderName::Server,
        HeaderName::SessionExpires,
        HeaderName::Subject,
        HeaderName::SubscriptionState,
        HeaderName::Supported,
        HeaderName::Timestamp,
        HeaderName::To,
        HeaderName::Unsupported,
        HeaderName::UserAgent,
        HeaderName::Via,
        HeaderName::Warning,
        HeaderName::WwwAuthenticate,
    ];

    /// The canonical spelling (`Other` has none: use the raw name).
    pub fn canonical(self) -> &'static str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::Diversion => "Diversion",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::HistoryInfo => "History-Info",
            HeaderName::Identity => "Identity",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MimeVersion => "MIME-Version",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Organization => "Organization",
            HeaderName::PAssertedIdentity => "P-Asserted-Identity",
            HeaderName::PPreferredIdentity => "P-Preferred-Identity",
            HeaderName::PServedUser => "P-Served-User",
            HeaderName::Priority => "Priority",
            HeaderName::Privacy => "Privacy",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferSub => "Refer-Sub",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::Replaces => "Replaces",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other => "",
        }
    }

    /// The compact form (RFC 3261 7.3.3 and extensions), if one exists.
    pub fn compact(self) -> Option<u8> {
        match self {
            HeaderName::AcceptContact => Some(b'a'),
            HeaderName::AllowEvents => Some(b'u'),
            HeaderName::CallId => Some(b'i'),
            HeaderName::Contact => Some(b'm'),
            HeaderName::ContentEncoding => Some(b'e'),
            HeaderName::ContentLength => Some(b'l'),
            HeaderName::ContentType => Some(b'c'),
            HeaderName::Event => Some(b'o'),
            HeaderName::From => Some(b'f'),
            HeaderName::Identity => Some(b'y'),
            HeaderName::ReferTo => Some(b'r'),
            HeaderName::ReferredBy => Some(b'b'),
            HeaderName::RejectContact => Some(b'j'),
            HeaderName::RequestDisposition => Some(b'd'),
            HeaderName::SessionExpires => Some(b'x'),
            HeaderName::Subject => Some(b's'),
            HeaderName::Supported => Some(b'k'),
            HeaderName::To => Some(b't'),
            HeaderName::Via => Some(b'v'),
            _ => None,
        }
    }

    /// Look a name up, ignoring ASCII case; compact forms included.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'a' => HeaderName::AcceptContact,
                b'u' => HeaderName::AllowEvents,
                b'i' => HeaderName::CallId,
                b'm' => HeaderName::Contact,
                b'e' => HeaderName::ContentEncoding,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'o' => HeaderName::Event,
                b'f' => HeaderName::From,
                b'y' => HeaderName::Identity,
                b'r' => HeaderName::ReferTo,
                b'b' => HeaderName::ReferredBy,
                b'j' => HeaderName::RejectContact,
                b'd' => HeaderName::RequestDisposition,
                b'x' => HeaderName::SessionExpires,
                b's' => HeaderName::Subject,
                b'k' => HeaderName::Supported,
                b't' => HeaderName::To,
                b'v' => HeaderName::Via,
                _ => HeaderName::Other,
            };
        }
        let mut buf = [0u8; 24];
        if name.len() > buf.len() {
            return HeaderName::Other;
        }
        let lower = &mut buf[..name.len()];
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        // Bucketed by length so that a lookup compares against a handful of names.
        match lower.len() {
            2 => match &*lower {
                b"to" => HeaderName::To,
                _ => HeaderName::Other,
            },
            3 => match &*lower {
                b"via" => HeaderName::Via,
                _ => HeaderName::Other,
            },
            4 => match &*lower {
                b"cseq" => HeaderName::CSeq,
                b"date" => HeaderName::Date,
                b"from" => HeaderName::From,
                b"rack" => HeaderName::RAck,
                b"rseq" => HeaderName::RSeq,
                _ => HeaderName::Other,
            },
            5 => match &*lower {
                b"allow" => HeaderName::Allow,
                b"event" => HeaderName::Event,
                b"route" => HeaderName::Route,
                _ => HeaderName::Other,
            },
            6 => match &*lower {
                b"accept" => HeaderName::Accept,
                b"min-se" => HeaderName::MinSe,
                b"reason" => HeaderName::Reason,
                b"server" => HeaderName::Server,
                _ => HeaderName::Other,
            },
            7 => match &*lower {
                b"call-id" => HeaderName::CallId,
                b"contact" => HeaderName::Contact,
                b"expires" => HeaderName::Expires,
                b"privacy" => HeaderName::Privacy,
                b"require" => HeaderName::Require,
                b"subject" => HeaderName::Subject,
                b"warning" => HeaderName::Warning,
                _ => HeaderName::Other,
            },
            8 => match &*lower {
                b"identity" => HeaderName::Identity,
                b"priority" => HeaderName::Priority,
                b"refer-to" => HeaderName::ReferTo,
                b"replaces" => HeaderName::Replaces,
                b"reply-to" => HeaderName::ReplyTo,
                _ => HeaderName::Other,
            },
            9 => match &*lower {
                b"call-info" => HeaderName::CallInfo,
                b"diversion" => HeaderName::Diversion,
                b"refer-sub" => HeaderName::ReferSub,
                b"supported" => HeaderName::Supported,
                b"timestamp" => HeaderName::Timestamp,
                _ => HeaderName::Other,
            },
            10 => match &*lower {
                b"alert-info" => HeaderName::AlertInfo,
                b"error-info" => HeaderName::ErrorInfo,
                b"user-agent" => HeaderName::UserAgent,
                _ => HeaderName::Other,
            },
            11 => match &*lower {
                b"in-reply-to" => HeaderName::InReplyTo,
                b"min-expires" => HeaderName::MinExpires,
                b"referred-by" => HeaderName::ReferredBy,
                b"retry-after" => HeaderName::RetryAfter,
                b"unsupported" => HeaderName::Unsupported,
                _ => HeaderName::Other,
            },
            12 => match &*lower {
                b"allow-events" => HeaderName::AllowEvents,
                b"content-type" => HeaderName::ContentType,
                b"history-info" => HeaderName::HistoryInfo,
                b"max-forwards" => HeaderName::MaxForwards,
                b"mime-version" => HeaderName::MimeVersion,
                b"organization" => HeaderName::Organization,
                b"record-route" => HeaderName::RecordRoute,
                _ => HeaderName::Other,
            },
            13 => match &*lower {
                b"authorization" => HeaderName::Authorization,
                b"p-served-user" => HeaderName::PServedUser,
                b"proxy-require" => HeaderName::ProxyRequire,
                _ => HeaderName::Other,
            },
            14 => match &*lower {
                b"accept-contact" => HeaderName::AcceptContact,
                b"content-length" => HeaderName::ContentLength,
                b"reject-contact" => HeaderName::RejectContact,
                _ => HeaderName::Other,
            },
            15 => match &*lower {
                b"accept-encoding" => HeaderName::AcceptEncoding,
                b"accept-language" => HeaderName::AcceptLanguage,
                b"session-expires" => HeaderName::SessionExpires,
                _ => HeaderName::Other,
            },
            16 => match &*lower {
                b"content-encoding" => HeaderName::ContentEncoding,
                b"content-language" => HeaderName::ContentLanguage,
                b"www-authenticate" => HeaderName::WwwAuthenticate,
                _ => HeaderName::Other,
            },
            18 => match &*lower {
                b"proxy-authenticate" => HeaderName::ProxyAuthenticate,
                b"subscription-state" => HeaderName::SubscriptionState,
                _ => HeaderName::Other,
            },
            19 => match &*lower {
                b"authentication-info" => HeaderName::AuthenticationInfo,
                b"content-disposition" => HeaderName::ContentDisposition,
                b"p-asserted-identity" => HeaderName::PAssertedIdentity,
                b"proxy-authorization" => HeaderName::ProxyAuthorization,
                b"request-disposition" => HeaderName::RequestDisposition,
                _ => HeaderName::Other,
            },
            20 => match &*lower {
                b"p-preferred-identity" => HeaderName::PPreferredIdentity,
                _ => HeaderName::Other,
            },
            _ => HeaderName::Other,
        }
    }

    /// Whether the header's value is a comma-separated list (RFC 3261 7.3.1),
    /// so that several lines may be combined and one line may hold several values.
    pub fn is_list(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            Accept
                | AcceptContact
                | AcceptEncoding
                | AcceptLanguage
                | AlertInfo
                | Allow
                | AllowEvents
                | CallInfo
                | Contact
                | ContentEncoding
                | ContentLanguage
                | Diversion
                | ErrorInfo
                | HistoryInfo
                | InReplyTo
                | PAssertedIdentity
                | PPreferredIdentity
                | ProxyRequire
                | Reason
                | RecordRoute
                | RejectContact
                | RequestDisposition
                | Require
                | Route
                | Supported
                | Unsupported
                | Via
                | Warning
        )
    }

    /// Whether at most one instance of the header may appear.
    pub fn is_single(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            CallId
                | ContentLength
                | ContentType
                | CSeq
                | Date
                | Expires
                | From
                | MaxForwards
                | MimeVersion
                | MinExpires
                | MinSe
                | RAck
                | ReferTo
                | ReferredBy
                | Replaces
                | RetryAfter
                | RSeq
                | SessionExpires
                | To
                | Event
                | SubscriptionState
        )
    }
}

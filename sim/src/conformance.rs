//! The `conformance` suite: every message of a table (a TOML file in
//! `scenarios/conformance/`) is fed to the gateway's receive-path
//! inspection, and the verdict and the response are compared with what the
//! table says the RFC requires.
//!
//! Contract: [`load`] reads and checks the table (a clear error naming the
//! case and field otherwise); [`run`] judges every case and never panics;
//! a case passes only if validity, the disposition (process, answer or
//! drop, which follows from the verdict and the response), the response
//! status and the required response header all match.
//!
//! `reason_header` (`Name: value`) is compared by name and exact value,
//! except Warning, compared by name only: its warn-text is prose the
//! gateway may reword (the table still shows the text the code sends).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use gateway::sip::inspect::{inspect_default, Disposition};
use gateway::sip::msg::{ErrorKind, Framing};
use serde::Deserialize;

use crate::report::{CaseResult, SuiteResult};

/// Expected judgement of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Well-formed and processed normally.
    Valid,
    /// Malformed: rejected by the parser (a request gets `response`, a
    /// response or an ACK is dropped: `response = 0`).
    Invalid,
    /// Well-formed, answered with `response` by validation.
    Reject,
}

impl Case {
    /// What the receive path must do with the message.
    pub fn disposition(&self) -> Disposition {
        match (self.verdict, self.response) {
            (Verdict::Valid, _) => Disposition::Process,
            (_, 0) => Disposition::Drop,
            _ => Disposition::Answer,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub file: String,
    pub section: String,
    pub title: String,
    pub kind: String,
    pub method: String,
    pub verdict: Verdict,
    pub response: u16,
    /// For `invalid`: where the error must point (header name,
    /// `start-line` or `header-line`); empty otherwise.
    #[serde(default)]
    pub fault: String,
    pub reason_header: String,
    pub why: String,
}

#[derive(Debug, Deserialize)]
struct Table {
    case: Vec<Case>,
}

/// A table that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Toml { path: PathBuf, source: toml::de::Error },
    #[error("{path}: case {file}: {why}")]
    Case { path: PathBuf, file: String, why: String },
}

/// A loaded suite: the table and the folder holding its messages.
#[derive(Debug, Clone)]
pub struct Suite {
    pub name: String,
    pub dir: PathBuf,
    pub cases: Vec<Case>,
}

/// Load `table` (TOML); messages are read from the folder named like the
/// table without extension (`rfc4475.toml` -> `rfc4475/`).
pub fn load(table: &Path) -> Result<Suite, SuiteError> {
    let text = std::fs::read_to_string(table).map_err(|source| SuiteError::Read { path: table.into(), source })?;
    let t: Table = toml::from_str(&text).map_err(|source| SuiteError::Toml { path: table.into(), source })?;
    let dir = table.with_extension("");
    for c in &t.case {
        let bad = |why: &str| SuiteError::Case { path: table.into(), file: c.file.clone(), why: why.into() };
        if !dir.join(&c.file).is_file() {
            return Err(bad("message file missing"));
        }
        if !matches!(c.kind.as_str(), "request" | "response") {
            return Err(bad("kind must be request or response"));
        }
        if c.response != 0 && !(100..=699).contains(&c.response) {
            return Err(bad("response must be 0 or a status code"));
        }
        if (c.verdict == Verdict::Invalid) == c.fault.is_empty() {
            return Err(bad("fault is required for invalid cases and only for them"));
        }
        if c.verdict == Verdict::Reject && c.response == 0 {
            return Err(bad("a reject verdict needs a response"));
        }
        if c.verdict == Verdict::Valid && c.response != 0 {
            return Err(bad("a valid verdict has no response"));
        }
    }
    let name = table.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Suite { name, dir, cases: t.case })
}

/// Judge one case.
pub fn run_case(suite: &Suite, case: &Case) -> CaseResult {
    let name = format!("{} {} ({})", case.section, case.file.trim_end_matches(".dat"), case.title);
    let raw = match std::fs::read(suite.dir.join(&case.file)) {
        Ok(b) => b,
        Err(e) => return CaseResult::fail(name, format!("cannot read message: {e}")),
    };
    let got = inspect_default(Bytes::from(raw), Framing::Datagram);
    let status = got.response.as_ref().map_or(0, |r| r.status);
    let want_valid = case.verdict != Verdict::Invalid;
    let mut problems = Vec::new();
    if got.valid != want_valid {
        problems.push(format!(
            "expected {}, got {}",
            if want_valid { "well-formed" } else { "malformed" },
            if got.valid {
                "well-formed".to_owned()
            } else {
                format!("malformed: {}", got.error.as_ref().map(ToString::to_string).unwrap_or_default())
            }
        ));
    }
    if status != case.response {
        problems.push(format!("expected response {}, got {}", case.response, status));
    }
    if got.disposition != case.disposition() {
        problems.push(format!(
            "expected disposition {}, got {}",
            case.disposition().as_str(),
            got.disposition.as_str()
        ));
    }
    if let (false, Some(e)) = (case.fault.is_empty(), &got.error) {
        let pointed = match case.fault.as_str() {
            "start-line" => e.header.is_none() && is_start_line(&e.kind),
            "header-line" => {
                e.header.is_none()
                    && matches!(e.kind, ErrorKind::HeaderLine | ErrorKind::HeaderName | ErrorKind::HeaderNameTooLong(_))
            }
            h => e.header.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(h)),
        };
        if !pointed {
            problems.push(format!("error should point at {}, says: {e}", case.fault));
        }
    }
    if let Some((hname, value)) = case.reason_header.split_once(':') {
        let (hname, value) = (hname.trim(), value.trim());
        let by_name_only = hname.eq_ignore_ascii_case("Warning");
        let sent: Vec<&str> = got
            .response
            .as_ref()
            .map(|r| r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(hname)).map(|(_, v)| v.as_str()).collect())
            .unwrap_or_default();
        if sent.is_empty() {
            problems.push(format!("response lacks the {hname} header"));
        } else if !by_name_only && !sent.iter().any(|v| v.trim() == value) {
            problems.push(format!("response has {hname}: {}, expected {value}", sent.join(" / ")));
        }
    }
    if let Some(m) = &got.message {
        let kind = if m.is_request() { "request" } else { "response" };
        if kind != case.kind {
            problems.push(format!("parsed as a {kind}"));
        }
    }
    let observed = match (&got.error, &got.response, got.disposition) {
        (Some(e), Some(r), _) => format!("malformed ({e}); answers {} {}", r.status, r.reason),
        (Some(e), None, _) => format!("malformed ({e}); dropped"),
        (None, Some(r), _) => format!("answers {} {} ({})", r.status, r.reason, r.detail),
        (None, None, Disposition::Drop) => "dropped".to_owned(),
        (None, None, _) => "processed".to_owned(),
    };
    if problems.is_empty() {
        CaseResult::pass(name, observed)
    } else {
        CaseResult::fail(name, format!("{}; observed: {observed}", problems.join("; ")))
    }
}

fn is_start_line(k: &ErrorKind) -> bool {
    matches!(
        k,
        ErrorKind::StartLine(_)
            | ErrorKind::Method
            | ErrorKind::RequestUri(_)
            | ErrorKind::UriTooLong(_)
            | ErrorKind::Version
            | ErrorKind::StatusCode
    )
}

/// Run every case of a suite.
pub fn run(suite: &Suite, mut progress: impl FnMut(&CaseResult)) -> SuiteResult {
    let cases = suite
        .cases
        .iter()
        .map(|c| {
            let r = run_case(suite, c);
            progress(&r);
            r
        })
        .collect();
    SuiteResult { name: format!("conformance/{}", suite.name), cases }
}

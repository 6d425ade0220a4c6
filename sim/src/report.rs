//! Certification results and the reports written from them:
//! `certification.md`, `certification.html` and `junit.xml`.
//!
//! Contract: the reports depend only on the results and the seed (no wall
//! clock), so a re-run with the same seed writes identical files.

use std::fmt::Write as _;
use std::path::Path;

/// The outcome of one scenario or case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    pub name: String,
    pub passed: bool,
    /// What was observed (pass) or what went wrong (fail).
    pub detail: String,
}

impl CaseResult {
    pub fn pass(name: String, detail: String) -> Self {
        CaseResult { name, passed: true, detail }
    }
    pub fn fail(name: String, detail: String) -> Self {
        CaseResult { name, passed: false, detail }
    }
}

/// The outcome of one suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteResult {
    pub name: String,
    pub cases: Vec<CaseResult>,
}

impl SuiteResult {
    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed).count()
    }
}

/// Markdown report; `extra` (ladders, histograms) is appended.
pub fn markdown_with(suites: &[SuiteResult], seed: u64, extra: &str) -> String {
    let mut out = markdown(suites, seed);
    out.push_str(extra);
    out
}

/// Markdown report.
pub fn markdown(suites: &[SuiteResult], seed: u64) -> String {
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failed: usize = suites.iter().map(SuiteResult::failures).sum();
    let mut out = String::new();
    let _ = writeln!(out, "# Bridgehead certification report\n");
    let _ = writeln!(out, "Seed: `{seed}` (re-run exactly with `just certify {seed}`)\n");
    let _ = writeln!(out, "**{} of {total} passed, {failed} failed.**\n", total - failed);
    let _ = writeln!(out, "| suite | passed | failed |\n|---|---|---|");
    for s in suites {
        let _ = writeln!(out, "| {} | {} | {} |", s.name, s.cases.len() - s.failures(), s.failures());
    }
    for s in suites {
        let _ = writeln!(out, "\n## {}\n\n| result | case | detail |\n|---|---|---|", s.name);
        for c in &s.cases {
            let mark = if c.passed { "pass" } else { "**FAIL**" };
            let _ = writeln!(out, "| {mark} | {} | {} |", md_escape(&c.name), md_escape(&c.detail));
        }
    }
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('?'),
            c => o.push(c),
        }
    }
    o
}

/// Self-contained HTML report; `extra` is shown preformatted at the end.
pub fn html_with(suites: &[SuiteResult], seed: u64, extra: &str) -> String {
    let mut out = html(suites, seed);
    if !extra.is_empty() {
        let at = out.rfind("</body>").unwrap_or(out.len());
        out.insert_str(at, &format!("<h2>Ladders and histograms</h2>\n<pre>{}</pre>\n", xml_escape(extra)));
    }
    out
}

/// Self-contained HTML report.
pub fn html(suites: &[SuiteResult], seed: u64) -> String {
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failed: usize = suites.iter().map(SuiteResult::failures).sum();
    let mut out = String::new();
    out.push_str("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bridgehead certification report</title>\n");
    out.push_str("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.pass{color:#060}.fail{color:#a00;font-weight:bold}</style></head><body>\n");
    let _ = writeln!(out, "<h1>Bridgehead certification report</h1>\n<p>Seed: <code>{seed}</code>. {} of {total} passed, {failed} failed.</p>", total - failed);
    for s in suites {
        let _ = writeln!(
            out,
            "<h2>{}</h2>\n<table><tr><th>result</th><th>case</th><th>detail</th></tr>",
            xml_escape(&s.name)
        );
        for c in &s.cases {
            let (cls, word) = if c.passed { ("pass", "pass") } else { ("fail", "FAIL") };
            let _ = writeln!(
                out,
                "<tr><td class=\"{cls}\">{word}</td><td>{}</td><td>{}</td></tr>",
                xml_escape(&c.name),
                xml_escape(&c.detail)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// JUnit XML for CI systems.
pub fn junit(suites: &[SuiteResult]) -> String {
    let total: usize = suites.iter().map(|s| s.cases.len()).sum();
    let failed: usize = suites.iter().map(SuiteResult::failures).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(out, "<testsuites name=\"bridgehead-certification\" tests=\"{total}\" failures=\"{failed}\">");
    for s in suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">",
            xml_escape(&s.name),
            s.cases.len(),
            s.failures()
        );
        for c in &s.cases {
            let _ = write!(out, "    <testcase classname=\"{}\" name=\"{}\"", xml_escape(&s.name), xml_escape(&c.name));
            if c.passed {
                let _ = writeln!(out, "><system-out>{}</system-out></testcase>", xml_escape(&c.detail));
            } else {
                let _ = writeln!(out, "><failure message=\"{}\"/></testcase>", xml_escape(&c.detail));
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Write the three reports into `dir`.
pub fn write_all(dir: &Path, suites: &[SuiteResult], seed: u64) -> std::io::Result<()> {
    write_all_with(dir, suites, seed, "")
}

/// Write the three reports into `dir`, with extra Markdown sections.
pub fn write_all_with(dir: &Path, suites: &[SuiteResult], seed: u64, extra: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("certification.md"), markdown_with(suites, seed, extra))?;
    std::fs::write(dir.join("certification.html"), html_with(suites, seed, extra))?;
    std::fs::write(dir.join("junit.xml"), junit(suites))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junit_counts_and_escapes() {
        let s = SuiteResult {
            name: "x".into(),
            cases: vec![
                CaseResult::pass("a<b".into(), "ok".into()),
                CaseResult::fail("c".into(), "\"bad\" & worse".into()),
            ],
        };
        let j = junit(&[s]);
        assert!(j.contains("tests=\"2\" failures=\"1\""));
        assert!(j.contains("a&lt;b"));
        assert!(j.contains("&quot;bad&quot; &amp; worse"));
    }
}

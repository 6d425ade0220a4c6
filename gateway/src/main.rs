//! The `gateway` binary: production entry point and support tools.

use std::io::Read;
use std::process::ExitCode;

use bytes::Bytes;
use gateway::sip::inspect::inspect_default;
use gateway::sip::msg::Framing;

const USAGE: &str = "usage:
  gateway sip parse [FILE|-] [--stream]
      Parse one raw SIP message (a file, or standard input when FILE is '-'
      or absent) and print one JSON object: the parsed fields, the verdict
      and the response the gateway would send instead of processing it.
      --stream applies TCP/TLS framing (Content-Length mandatory) instead of
      UDP datagram framing.
      Exit status: 0 well-formed, 1 malformed, 2 usage or I/O error.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["sip", "parse", rest @ ..] => sip_parse(rest),
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn sip_parse(args: &[&str]) -> ExitCode {
    let mut stream = false;
    let mut file: Option<&str> = None;
    for a in args {
        match *a {
            "--stream" => stream = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            f if file.is_none() && (f == "-" || !f.starts_with('-')) => file = Some(f),
            other => {
                eprintln!("gateway sip parse: unexpected argument '{other}'\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let mut raw = Vec::new();
    let read = match file {
        None | Some("-") => std::io::stdin().read_to_end(&mut raw).map(drop),
        Some(path) => std::fs::read(path).map(|b| raw = b),
    };
    if let Err(e) = read {
        eprintln!("gateway sip parse: cannot read {}: {e}", file.unwrap_or("standard input"));
        return ExitCode::from(2);
    }
    let framing = if stream { Framing::Stream } else { Framing::Datagram };
    let verdict = inspect_default(Bytes::from(raw), framing);
    println!("{}", verdict.to_json());
    if verdict.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

//! The `gateway` binary: production entry point and support tools.

use std::io::Read;
use std::process::ExitCode;

use bytes::Bytes;
use gateway::sip::inspect::inspect_default;
use gateway::sip::msg::Framing;

const USAGE: &str = "usage:
  gateway run --config FILE
      Run the gateway (UDP and TCP on sip.listen) until SIGTERM or SIGINT,
      then refuse new calls and wait up to shutdown.drain_timeout_s for the
      calls in progress. Logs go to standard error (RUST_LOG sets the level).
  gateway check-config FILE
      Validate a configuration file; print every error with its field.
      Exit status: 0 valid, 1 invalid, 2 unreadable.
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
        ["check-config", file] => check_config(file),
        ["run", "--config", file] | ["run", "-c", file] => run(file),
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

fn load_config(file: &str) -> Result<gateway::config::Config, ExitCode> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("{file}: cannot read: {e}");
        ExitCode::from(2)
    })?;
    gateway::config::Config::from_toml(&text).map_err(|errors| {
        for e in &errors {
            eprintln!("{file}: {e}");
        }
        ExitCode::from(1)
    })
}

fn check_config(file: &str) -> ExitCode {
    match load_config(file) {
        Ok(c) => {
            println!(
                "{file}: valid (listen {}, {} Teams proxies, operator {})",
                c.listen,
                c.gateway.teams.len(),
                c.gateway.operator.addr
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn run(file: &str) -> ExitCode {
    let cfg = match load_config(file) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).init();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gateway: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let local = tokio::task::LocalSet::new();
    match rt.block_on(local.run_until(gateway::io::tokio_shell::run(cfg))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gateway: {e}");
            ExitCode::from(1)
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

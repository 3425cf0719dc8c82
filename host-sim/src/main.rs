//! `tally-sim`: run the built-in demo, or a device console on standard input.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tally_core::agent::Release;
use tally_host_sim::sim::{DEFAULT_START, parse_utc};
use tally_host_sim::{SimOptions, Simulator, demo, transcript};

const USAGE: &str = "usage:
  tally-sim demo                       run the built-in scenario and print a narrated transcript
  tally-sim console [options]          device console: commands on standard input, one per line
options:
  --state DIR        keep the device and authority state in DIR, to continue in a later run
  --release 17.3|17.7  which IOS-XE release's show formats the device reproduces (default 17.7)
  --start 'YYYY-MM-DD HH:MM:SS'  simulated start time, UTC (new state only)
Simulator controls in the console start with 'sim' (see README.md).";

fn parse_opts(args: &[String]) -> Result<SimOptions, String> {
    let mut opts = SimOptions::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--state" => {
                opts.state_dir = Some(PathBuf::from(it.next().ok_or("--state needs a directory")?))
            }
            "--release" => {
                opts.release = match it.next().map(String::as_str) {
                    Some("17.3") => Release::V17_3,
                    Some("17.7") => Release::V17_7,
                    _ => return Err("--release takes 17.3 or 17.7".into()),
                }
            }
            "--start" => {
                let s = it.next().ok_or("--start needs a time")?;
                let (d, t) = s
                    .split_once(' ')
                    .ok_or("--start takes 'YYYY-MM-DD HH:MM:SS'")?;
                opts.start = parse_utc(d, t)?;
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    Ok(opts)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let opts = match parse_opts(rest) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("tally-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match cmd {
        "demo" => {
            let mut sim = match Simulator::new(SimOptions {
                start: DEFAULT_START,
                ..opts
            }) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("tally-sim: {e}");
                    return ExitCode::FAILURE;
                }
            };
            print!("{}", transcript(&mut sim, demo::SCRIPT.lines()));
            ExitCode::SUCCESS
        }
        "console" => console(opts),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("tally-sim: unknown command '{other}'\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn console(opts: SimOptions) -> ExitCode {
    let mut sim = match Simulator::new(opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tally-sim: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut stdout = std::io::stdout();
    loop {
        if interactive {
            let _ = write!(stdout, "{} ", sim.prompt());
            let _ = stdout.flush();
        }
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("tally-sim: {e}");
                return ExitCode::FAILURE;
            }
        }
        let line = line.trim_end_matches(['\n', '\r']);
        let out = if interactive {
            sim.line(line)
        } else {
            transcript(&mut sim, [line])
        };
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
    ExitCode::SUCCESS
}

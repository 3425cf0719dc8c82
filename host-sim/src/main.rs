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
  tally-sim factory provision --udi PID:<pid>,SN:<sn> [factory options]
                                       make a device's provisioning image (keys, factory trust
                                       code, optional factory policy and authorization codes)
  tally-sim inspect FILE               show any Tally file (usage, ACK, policy, codes,
                                       provisioning) as JSON
options:
  --state DIR        keep the device and authority state in DIR, to continue in a later run
  --release 17.3|17.7  which IOS-XE release's show formats the device reproduces (default 17.7)
  --start 'YYYY-MM-DD HH:MM:SS'  simulated start time, UTC (new state only)
  --provision FILE   boot the device from this provisioning image
  --device qemu[:ELF] | serial:PORT   drive the firmware in QEMU mps2-an386 (default ELF:
                     target/thumbv7em-none-eabihf/release/tally-firmware) or a board on a
                     serial port (raw mode: stty -F PORT raw -echo) instead of an in-process device
factory options:
  --state DIR        write DIR/devices/<serial>.prov and register the device with DIR's authority
  --out FILE         write the image as an armoured text file
  --bin FILE         write the raw image (what a firmware's provisioning area holds)
  --seed TEXT        derive the key pair from TEXT (reproducible); random otherwise
  --secure-element   leave the private key out of the image
  --at 'YYYY-MM-DD HH:MM:SS'  when the factory made it (default: a day before the simulation)
  --policy NAME [ack yes|no] …   a factory custom policy (same syntax as sim authority custom-policy;
                     values up to the next --option)
  --slac FEATURE     factory-authorize FEATURE (repeatable)
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
            "--device" => {
                let d = it
                    .next()
                    .ok_or("--device needs qemu[:ELF] or serial:PORT")?;
                opts.device = match d.split_once(':') {
                    None if d == "qemu" => tally_host_sim::sim::DeviceKind::Qemu { elf: None },
                    Some(("qemu", elf)) => tally_host_sim::sim::DeviceKind::Qemu {
                        elf: Some(PathBuf::from(elf)),
                    },
                    Some(("serial", port)) => {
                        tally_host_sim::sim::DeviceKind::Serial(PathBuf::from(port))
                    }
                    _ => return Err(format!("--device {d}: use qemu[:ELF] or serial:PORT")),
                };
            }
            "--provision" => {
                let path = it.next().ok_or("--provision needs a file")?;
                let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
                opts.provision = Some(
                    tally_host_sim::factory::from_file(&bytes)
                        .map_err(|e| format!("{path}: {e}"))?,
                );
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
    match cmd {
        "factory" => return factory(rest),
        "inspect" => return inspect(rest),
        _ => {}
    }
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

/// `tally-sim factory provision …` (issue 4): the factory stand-in.
fn factory(args: &[String]) -> ExitCode {
    match factory_inner(args) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tally-sim factory: {e}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn factory_inner(args: &[String]) -> Result<String, String> {
    use tally_host_sim::authority::{Authority, DEFAULT_KEY_SEED};
    use tally_host_sim::factory::{Order, parse_udi, provision, to_bytes, to_text};
    let (sub, rest) = args.split_first().ok_or("factory needs a subcommand")?;
    if sub != "provision" {
        return Err(format!("unknown factory subcommand '{sub}'"));
    }
    let mut order = Order::default();
    let mut udi = None;
    let (mut state, mut out, mut bin, mut at) = (None, None, None, None);
    let mut it = rest.iter().peekable();
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().cloned().ok_or(format!("{what} needs a value"));
        match a.as_str() {
            "--udi" => udi = Some(parse_udi(&value("--udi")?)?),
            "--state" => state = Some(PathBuf::from(value("--state")?)),
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--bin" => bin = Some(PathBuf::from(value("--bin")?)),
            "--seed" => order.key_seed = Some(value("--seed")?),
            "--secure-element" => order.secure_element = true,
            "--at" => {
                let v = value("--at")?;
                let (d, t) = v
                    .split_once(' ')
                    .ok_or("--at takes 'YYYY-MM-DD HH:MM:SS'")?;
                at = Some(parse_utc(d, t)?);
            }
            "--slac" => order.auth.push(value("--slac")?),
            "--policy" => {
                let name = value("--policy")?;
                let mut words = Vec::new();
                while let Some(w) = it.next_if(|w| !w.starts_with("--")) {
                    words.push(w.as_str());
                }
                order.policy = Some(tally_host_sim::sim::parse_custom_policy(&name, &words)?);
            }
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    order.udi = udi.ok_or("--udi is required")?;
    if state.is_none() && out.is_none() && bin.is_none() {
        return Err("say where the image goes: --state DIR, --out FILE or --bin FILE".into());
    }
    let authority_path = state.as_ref().map(|d| d.join("authority.json"));
    let mut authority = match authority_path.as_ref().map(std::fs::read) {
        Some(Ok(b)) => serde_json::from_slice(&b).map_err(|e| format!("authority.json: {e}"))?,
        _ => Authority::new(DEFAULT_KEY_SEED),
    };
    // Simulated time: the factory made the device a day before the simulation starts (or
    // before the state's current time).
    let sim_now = state
        .as_ref()
        .and_then(|d| std::fs::read(d.join("sim.json")).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("now").and_then(serde_json::Value::as_u64))
        .map_or(DEFAULT_START, tally_hal::Timestamp);
    let now = at.unwrap_or(sim_now.sub_secs(86_400));
    let image = provision(&order, &mut authority, now)?;
    let text = to_text(&image)?;
    if let Some(dir) = &state {
        let devdir = dir.join("devices");
        std::fs::create_dir_all(&devdir).map_err(|e| e.to_string())?;
        let path = devdir.join(format!("{}.prov", order.udi.sn));
        std::fs::write(&path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
        let json = serde_json::to_vec_pretty(&authority).map_err(|e| e.to_string())?;
        if let Some(p) = &authority_path {
            std::fs::write(p, json).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    if let Some(path) = &out {
        std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if let Some(path) = &bin {
        std::fs::write(path, to_bytes(&image)?).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(format!(
        "Provisioned {}: device key {}, factory trust code, {} policy, {} authorization code(s){}",
        order.udi,
        if order.secure_element {
            "in a secure element"
        } else {
            "in the image"
        },
        if order.policy.is_some() {
            "a factory"
        } else {
            "no"
        },
        image.auth_codes.len(),
        if state.is_some() {
            "; registered with the authority"
        } else {
            ""
        }
    ))
}

/// `tally-sim inspect FILE`: any Tally file as JSON, for people (DESIGN.md §3). Signatures are
/// shown, not checked.
fn inspect(args: &[String]) -> ExitCode {
    let Some(path) = args.first() else {
        eprintln!("tally-sim inspect: name a file\n{USAGE}");
        return ExitCode::from(2);
    };
    match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| tally_host_sim::inspect::to_json(&b))
    {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tally-sim inspect: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}

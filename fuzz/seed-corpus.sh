#!/usr/bin/env bash
# Writes the seed corpus of the fuzz targets (fuzz/corpus/<target>/seed-*): real files from
# the simulator (ACK, policy, trust code and response, authorization code and response, usage,
# requests, provisioning images), real console command lines (README.md, core/src/cli.rs), and
# the harness's own valid files (tests/tests/fuzz_corpus.rs, write_harness_seeds). The fuzzed
# device is the simulator's default one, so the simulator's files are valid for it.
# Deterministic: the simulator starts at a fixed time and every key comes from a seed.
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=fuzz/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p tally-host-sim --bin tally-sim
sim=target/release/tally-sim
mkdir -p "$corpus"/{envelope,armour,import,provision,console}

# Files an air-gapped device and its authority exchange.
printf '%s\n' \
  'sim authority pool hseck9 5' \
  'license smart transport off' \
  'sim usage network-essentials 2' \
  'sim usage dna-essentials 1' \
  'sim usage hseck9 1' \
  'sim clock advance 30d' \
  'license smart save usage unreported file bootflash:usage.txt' \
  'sim authority upload bootflash:usage.txt bootflash:ack.txt' \
  'sim authority custom-policy Fuzz ack yes perpetual 90/90/90 export 30/30/30' \
  'sim authority policy bootflash:policy.txt' \
  'license smart save trust-request bootflash:trust-request.txt' \
  'sim authority upload bootflash:trust-request.txt bootflash:trust-response.txt' \
  'sim authority trust-code bootflash:trust-code.txt' \
  'license smart authorization request save bootflash:auth-request.txt hseck9 local' \
  'sim authority upload bootflash:auth-request.txt bootflash:auth-response.txt' \
  'sim authority auth-code hseck9 bootflash:slac.txt' \
  'license smart import bootflash:auth-response.txt' \
  'sim usage hseck9 0' \
  'license smart authorization return local offline bootflash:return.txt' \
  'sim authority upload bootflash:return.txt bootflash:return-response.txt' \
  | "$sim" console --state "$work/air" > "$work/air.log"
files="$work/air/devices/JAE24091ABC/bootflash"
for f in "$files"/*.txt; do
  name=sim-$(basename "$f" .txt)
  cp "$f" "$corpus/armour/seed-$name"
  { printf '\0'; cat "$f"; } > "$corpus/import/seed-$name"
done

# Provisioning images (the command of the brief, and the other factory options).
prov() {
  local name=$1; shift
  "$sim" factory provision --udi 'PID:C9200L-48P-4X,SN:JAE24091ABC' --seed s \
    --at '2026-01-04 09:00:00' --out "$work/$name.txt" --bin "$work/$name.bin" "$@" > /dev/null
  { printf '\0'; cat "$work/$name.bin"; } > "$corpus/provision/seed-$name-raw"
  { printf '\1'; head -c -4 "$work/$name.bin"; } > "$corpus/provision/seed-$name-body"
  { printf '\2'; cat "$work/$name.txt"; } > "$corpus/provision/seed-$name-armoured"
  cp "$work/$name.txt" "$corpus/armour/seed-provision-$name"
}
prov slac --slac hseck9
prov plain
prov secure-element --secure-element
prov policy --policy 'Factory Policy' ack yes perpetual 90/90/90 --slac hseck9

# Console sessions: the README's device commands and the parser's own test lines.
con() { local name=$1; shift; printf '%s\n' "$@" > "$corpus/console/seed-$name"; }
con shows 'show license status' 'show license summary' 'show license usage' \
  'show license udi' 'show license all' 'show license authorization' 'show license eventlog' \
  'show license eventlog 7' 'show license history message' 'show license rum feature all' \
  'show license rum feature network-essentials detail' 'show license rum id all detail' \
  'sh lic sum' 'show license rum id 42 detail'
con air-gapped 'license smart transport off' \
  'license smart save usage unreported file bootflash:u.txt' \
  'license smart save usage all file bootflash:all.txt' \
  'license smart save usage days 7 file bootflash:d.txt' \
  'license smart import bootflash:ack.txt' 'show license rum id all' \
  'license smart import bootflash:ack.txt' 'license smart import bootflash:policy.txt' \
  'show license status'
con codes 'license smart import bootflash:trust.txt' \
  'license smart import bootflash:trust-response.txt' \
  'license smart import bootflash:slac.txt' 'license smart import bootflash:auth-response.txt' \
  'show license authorization' 'license smart authorization return local offline bootflash:r.txt' \
  'license smart export return local hseck9' 'license smart import bootflash:junk.txt' \
  'license smart import bootflash:usage.txt' 'license smart import bootflash:none.txt'
con requests 'license smart save trust-request bootflash:treq.txt' \
  'license smart authorization request save bootflash:areq.txt hseck9 local' \
  'license smart authorization request save bootflash:areq.txt network-advantage all' \
  'license smart transport smart' 'license smart trust idtoken ZDEwNjY0YjEtZTk0Ni00 local force' \
  'license smart authorization request add hseck9 local' \
  'license smart authorization request replace network-advantage all' \
  'license smart authorization return all online' 'license smart sync all'
con direct 'license smart import bootflash:trust.txt' 'license smart import bootflash:slac.txt' \
  'license smart transport smart' 'license smart trust idtoken ZDEwNjY0YjEtZTk0Ni00 all' \
  'license smart authorization request add network-advantage local' 'license smart sync all' \
  'license smart authorization return local online' \
  'license smart authorization return all offline bootflash:r.txt' \
  'license smart export return local hseck9' 'show license authorization' 'show license status'
con config 'configure terminal' 'license smart transport cslu' \
  'license smart url cslu http://cslu.example:8182/cslu/v1/pi' 'license smart url default' \
  'license smart url smart https://smartreceiver.cisco.com/licservice/license' \
  'license smart usage interval 20' 'no license smart usage interval' \
  'license smart privacy all' 'no license smart privacy hostname' 'license smart privacy version' \
  'clock timezone PST -8 0' 'clock timezone IST 5 30' 'no license smart transport' 'end' \
  'license smart transport automatic'
con invalid 'show licnse status' 'show license s' 'show license' 'show license status extra' \
  'license smart usage interval 3651' 'license smart usage interval -1' '   ' \
  'show license eventlog 4294967295' 'license smart save usage rum-id x file y' \
  'configure terminal' 'end' 'exit'
con housekeeping 'license smart sync' 'license smart sync local' 'license smart clear eventlog' \
  'license smart factory reset' 'show license all'

# The harness's own valid envelopes and files.
cargo test -q -p tally-tests --test fuzz_corpus -- --ignored write_harness_seeds > /dev/null
for t in envelope armour import provision console; do
  printf '%-10s %4d files\n' "$t" "$(ls "$corpus/$t" | wc -l)"
done

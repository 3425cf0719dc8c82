//! The built-in scenario of `tally-sim demo`: one product instance from first license use to
//! trust established with an ID token, an authorization code for an export-controlled license,
//! an acknowledged report online, a communication failure, the air-gapped round trip, and the
//! return of the authorization code.

/// Console lines of the demo. `!` lines are IOS comments: the narration.
pub const SCRIPT: &str = r#"! Tally demo: a two-member Catalyst 9200L stack running Smart Licensing Using Policy.
! It boots with no license in use, so nothing is owed (POL-4).
show license udi
show license summary
! The stack starts consuming its licenses (one per member); HSECK9 is requested too.
sim usage network-essentials 2
sim usage dna-essentials 2
sim usage hseck9 1
show license summary
! HSECK9 is export-controlled: NOT AUTHORIZED, its feature stays off, until an authorization
! code is installed. The unenforced licenses are IN USE and their usage is recorded.
! Connect directly to CSSM (transport smart). The account holds a custom policy.
sim authority custom-policy "SLE Policy" ack yes perpetual 60/60/60 subscription 30/30/30 enforced -/90/90 export -/90/90
configure terminal
license smart transport smart
license smart usage interval 20
end
! Direct communication needs a trust code from CSSM (TRUST-3): without one, nothing goes out.
license smart sync
show license history message
! The operator makes an ID token in the Virtual Account and installs trust for both members.
sim authority idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm expires 30d uses 10
license smart trust idtoken NGMwMjk5mYtNZaxMS00NzZmtgWm all
show license status
! The account owns two HSECK9 licenses: request an authorization code for both members.
sim authority pool hseck9 2
license smart authorization request add hseck9 all
show license summary
show license authorization
sim feature hseck9
! A month passes: the device pushes its RUM reports at the scheduled time, polls for the ACK,
! and records it.
sim clock advance 31d
show license status
show license rum feature all
! The link to CSSM fails: every attempt raises COMM_FAILED; the first success COMM_RESTORED.
sim link down
license smart sync
sim clock advance 10m
sim link up
license smart sync
sim clock advance 10m
! Air-gapped operation: no connectivity (transport off). Usage goes out in a signed file,
! the authority answers with an ACK file, and the device imports it.
configure terminal
license smart transport off
end
sim usage network-essentials 3
sim clock advance 2d
license smart save usage unreported file bootflash:usage.txt
sim authority upload bootflash:usage.txt bootflash:ack.txt
license smart import bootflash:ack.txt
! A file that is not an ACK, policy or code is refused and changes nothing.
license smart import bootflash:usage.txt
show license rum id all detail
! HSECK9 is no longer needed: switch it off, then return the authorization codes offline.
sim usage hseck9 0
license smart authorization return all offline bootflash:return.txt
sim authority upload bootflash:return.txt bootflash:return-ack.txt
show license all
show license eventlog
"#;

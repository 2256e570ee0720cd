//! NAMES_REQ and DUMP_REQ (§3.3, §3.4). These list every node on the server,
//! so each runs with the server to itself.

use crate::script::{Exchange, Reply, A, B, C};
use crate::wire::{smileys, Alive2};

use super::framing::padded_names;

pub fn exchanges() -> Vec<Exchange> {
    vec![
        Exchange::new("names/empty", "the port header alone")
            .isolated()
            .names("NAMES"),
        Exchange::new("names/trailing_bytes", "bytes after `n` are ignored")
            .isolated()
            .request_as("NAMES with 3 more bytes", b"\x00\x04nxyz", Reply::Names),
        Exchange::new(
            "names/newest_first",
            "newest registration first; leavers vanish",
        )
        .isolated()
        .register(A, &Alive2::new("ls-a", 4601))
        .register(B, &Alive2::new("ls-b", 4602))
        .register(C, &Alive2::new("ls-c", 4603))
        .names("NAMES with three nodes")
        .unregister(B, "ls-b")
        .names("NAMES after the middle one left")
        .unregister(A, "ls-a")
        .unregister(C, "ls-c")
        .names("NAMES after all left"),
        Exchange::new(
            "names/reregistered_is_newest",
            "a node that comes back is listed first",
        )
        .isolated()
        .register(A, &Alive2::new("ls-back", 4604))
        .register(B, &Alive2::new("ls-stay", 4605))
        .unregister(A, "ls-back")
        .register(C, &Alive2::new("ls-back", 4606))
        .names("NAMES"),
        Exchange::new("names/odd_names", "names are written as raw bytes")
            .isolated()
            .register(A, &Alive2::new("ls-ünï 名", 4607))
            .register(B, &Alive2::new(smileys(250), 4608))
            .register(C, &Alive2::new("ls sp", 0))
            .names("NAMES"),
        Exchange::new("names/port_range", "ports 0 and 65535 in decimal")
            .isolated()
            .register(A, &Alive2::new("ls-p0", 0))
            .register(B, &Alive2::new("ls-p65535", 65535))
            .names("NAMES"),
        Exchange::new(
            "names/refusals_not_listed",
            "refused registrations are not listed",
        )
        .isolated()
        .register(A, &Alive2::new("ls-dup", 4609))
        .register(B, &Alive2::new("ls-dup", 4610))
        .register(C, &Alive2::new(b"ls-\xff", 4611))
        .names("NAMES"),
        Exchange::new("dump/empty", "the port header, and no active node")
            .isolated()
            .dump("DUMP"),
        Exchange::new("dump/trailing_bytes", "bytes after `d` are ignored")
            .isolated()
            .request_as("DUMP with 2 more bytes", b"\x00\x03dxy", Reply::Dump)
            .register(A, &Alive2::new("ls-dt", 4612))
            .dump("DUMP"),
        Exchange::new(
            "dump/active_and_old",
            "active nodes newest first, then leavers oldest first",
        )
        .isolated()
        .register(A, &Alive2::new("ls-d1", 4613))
        .register(B, &Alive2::new("ls-d2", 4614))
        .register(C, &Alive2::new("ls-d3", 4615))
        .unregister(B, "ls-d2")
        .unregister(A, "ls-d1")
        .dump("DUMP with one active, two old")
        .unregister(C, "ls-d3")
        .dump("DUMP with three old"),
        Exchange::new("dump/unicode_and_extra", "names raw; extra is not shown")
            .isolated()
            .register(A, &Alive2::new("ls-dü", 4616).extra(b"hidden"))
            .register(B, &Alive2::new(smileys(3), 4617))
            .dump("DUMP"),
        Exchange::new(
            "dump/after_reregistration",
            "a name that came back leaves the old list",
        )
        .isolated()
        .register(A, &Alive2::new("ls-dr", 4618))
        .unregister(A, "ls-dr")
        .register(B, &Alive2::new("ls-dr", 4619))
        .dump("DUMP"),
        Exchange::new(
            "names/length_3057_with_node",
            "a padded NAMES lists like any other",
        )
        .isolated()
        .register(A, &Alive2::new("ls-pad", 4620))
        .request_as("NAMES with Length 3057", padded_names(3057), Reply::Names),
    ]
}

//! The table of registered nodes and OTP's creation numbering (§5).
//!
//! Lookups by name are O(1); listings come out newest first. Names that were
//! registered before are remembered (the "unregistered list") so that a node
//! coming back gets a fresh creation. The registry knows nothing of sockets:
//! whoever owns a registration passes an [`Evict`] hook that the registry hands
//! back when somebody else (STOP, KILL) removes it.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::codec::{NodeInfo, MAX_NAME_CHARS, MAX_SYMLEN};

/// Size of the unregistered list before its oldest entry is recycled.
pub const RETIRED_CAP: usize = 1000;
/// The same cap when OTP's epmd runs with `-d`.
pub const DEBUG_RETIRED_CAP: usize = 5;

/// Tells a registration's owner that the server removed it (STOP or KILL).
pub type Evict = Box<dyn FnOnce() + Send>;

/// Identifies one registration, so that a stale owner cannot remove a newer
/// registration of the same name.
pub type RegistrationId = u64;

/// Why a well-formed ALIVE2 was refused; the client gets creation 99 (§3.1 step 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    NameTooLong,
    InvalidNameEncoding,
    ExtraTooLong,
    NameTaken,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RegisterError::NameTooLong => "node name is too long",
            RegisterError::InvalidNameEncoding => "invalid node name encoding",
            RegisterError::ExtraTooLong => "extra data is too long",
            RegisterError::NameTaken => "node name already occupied",
        })
    }
}

impl std::error::Error for RegisterError {}

/// What the embedding process attaches to a registration of its own, to know
/// it again when it lists or evicts it (the NIF keeps the owning Erlang
/// process there).
pub type LocalTag = Arc<dyn Any + Send + Sync>;

/// Who holds a registration open.
#[derive(Clone)]
pub enum Owner {
    /// A client connection: its descriptor (which DUMP shows) and address.
    Connection { fd: i32, peer: SocketAddr },
    /// Code in the embedding process (a node of the VM the server runs in).
    Local(LocalTag),
}

impl Owner {
    /// The descriptor DUMP shows: -1 when no socket holds the registration.
    pub fn fd(&self) -> i32 {
        match self {
            Owner::Connection { fd, .. } => *fd,
            Owner::Local(_) => -1,
        }
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Connection { fd, peer } => f
                .debug_struct("Connection")
                .field("fd", fd)
                .field("peer", peer)
                .finish(),
            Owner::Local(_) => f.write_str("Local"),
        }
    }
}

/// A live registration.
pub struct Registration {
    pub id: RegistrationId,
    pub node: NodeInfo,
    /// OTP's 32-bit `cr_counter`; see [`creation_for_reply`].
    pub creation: u32,
    pub owner: Owner,
    pub registered_at: SystemTime,
    evict: Option<Evict>,
}

impl Registration {
    /// The creation its node was given, as the ALIVE2 reply carried it.
    pub fn reply_creation(&self) -> u32 {
        creation_for_reply(self.creation, self.node.wants_extended_creation())
    }

    /// Hands the eviction hook to the caller, who runs it outside any lock.
    pub fn take_evict(&mut self) -> Option<Evict> {
        self.evict.take()
    }
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("node", &self.node)
            .field("creation", &self.creation)
            .field("owner", &self.owner)
            .field("registered_at", &self.registered_at)
            .finish_non_exhaustive()
    }
}

/// What the unregistered list keeps of a name.
#[derive(Debug, Clone, Copy)]
struct Retired {
    seq: u64,
    port: u16,
    fd: i32,
    creation: u32,
}

/// The creation an ALIVE2 reply carries: the counter itself in a `v` reply, a
/// value in 1..=3 in a `y` reply (§5.1).
pub fn creation_for_reply(creation: u32, extended: bool) -> u32 {
    if extended {
        creation
    } else {
        creation % 3 + 1
    }
}

fn bump(c: u32) -> u32 {
    c.wrapping_add(1).max(4)
}

fn unix_seconds() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as u32)
}

/// §3.1 step 6, in OTP's order (the duplicate check comes last).
fn validate(node: &NodeInfo) -> Result<(), RegisterError> {
    if node.name.len() > MAX_SYMLEN {
        return Err(RegisterError::NameTooLong);
    }
    let name = std::str::from_utf8(&node.name).map_err(|_| RegisterError::InvalidNameEncoding)?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(RegisterError::NameTooLong);
    }
    if node.extra.len() > MAX_SYMLEN {
        return Err(RegisterError::ExtraTooLong);
    }
    Ok(())
}

/// Registered nodes plus the memory of names used before.
pub struct Registry {
    live: HashMap<Vec<u8>, Registration>,
    /// Registration id (monotonic) -> name: iteration order is age.
    live_by_age: BTreeMap<RegistrationId, Vec<u8>>,
    retired: HashMap<Vec<u8>, Retired>,
    retired_by_age: BTreeMap<u64, Vec<u8>>,
    retired_cap: usize,
    next_seq: u64,
    clock: fn() -> u32,
    /// The NAMES lines as last listed; dropped whenever a node comes or goes.
    listing: Option<Vec<u8>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.live.len())
            .field("retired", &self.retired.len())
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new(RETIRED_CAP)
    }
}

impl Registry {
    /// An empty registry whose unregistered list recycles above `retired_cap`.
    pub fn new(retired_cap: usize) -> Self {
        Registry::with_clock(retired_cap, unix_seconds)
    }

    /// As [`Registry::new`], with the clock that seeds creations of new names.
    pub fn with_clock(retired_cap: usize, clock: fn() -> u32) -> Self {
        Registry {
            live: HashMap::new(),
            live_by_age: BTreeMap::new(),
            retired: HashMap::new(),
            retired_by_age: BTreeMap::new(),
            retired_cap,
            next_seq: 0,
            clock,
            listing: None,
        }
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The id that the next successful [`Registry::register`] under the same
    /// lock returns, for an owner that must know its id before it registers.
    pub fn upcoming_id(&self) -> RegistrationId {
        self.next_seq + 1
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Registers a node; returns its id and creation counter.
    pub fn register(
        &mut self,
        node: NodeInfo,
        owner: Owner,
        evict: Option<Evict>,
    ) -> Result<(RegistrationId, u32), RegisterError> {
        validate(&node)?;
        if self.live.contains_key(&node.name) {
            return Err(RegisterError::NameTaken);
        }
        let creation = if let Some(old) = self.retired.remove(&node.name) {
            self.retired_by_age.remove(&old.seq);
            bump(old.creation)
        } else if self.retired.len() > self.retired_cap {
            // OTP recycles the oldest record without bumping its counter.
            let (_, name) = self
                .retired_by_age
                .pop_first()
                .expect("retired list is not empty");
            self.retired
                .remove(&name)
                .expect("retired maps agree")
                .creation
        } else {
            bump((self.clock)())
        };
        let id = self.seq();
        self.listing = None;
        self.live_by_age.insert(id, node.name.clone());
        self.live.insert(
            node.name.clone(),
            Registration {
                id,
                node,
                creation,
                owner,
                registered_at: SystemTime::now(),
                evict,
            },
        );
        Ok((id, creation))
    }

    /// Ends registration `id` of `name`, if it is still the live one.
    pub fn unregister(&mut self, name: &[u8], id: RegistrationId) -> Option<Registration> {
        match self.live.get(name) {
            Some(r) if r.id == id => self.remove(name),
            _ => None,
        }
    }

    /// Ends whatever registration `name` has (STOP).
    pub fn remove(&mut self, name: &[u8]) -> Option<Registration> {
        let reg = self.live.remove(name)?;
        self.listing = None;
        self.live_by_age.remove(&reg.id);
        let seq = self.seq();
        self.retired_by_age.insert(seq, name.to_vec());
        self.retired.insert(
            name.to_vec(),
            Retired {
                seq,
                port: reg.node.port,
                fd: reg.owner.fd(),
                creation: reg.creation,
            },
        );
        Some(reg)
    }

    /// Ends every registration (a relaxed KILL), newest first.
    pub fn remove_all(&mut self) -> Vec<Registration> {
        let names: Vec<Vec<u8>> = self.live_by_age.values().rev().cloned().collect();
        names.iter().filter_map(|n| self.remove(n)).collect()
    }

    /// Who holds the live registration of `name`.
    pub fn owner(&self, name: &[u8]) -> Option<&Owner> {
        self.live.get(name).map(|r| &r.owner)
    }

    pub fn lookup(&self, name: &[u8]) -> Option<&NodeInfo> {
        self.live.get(name).map(|r| &r.node)
    }

    /// The NAMES lines, made by `list` only if a node came or went since the
    /// last call: hosts are listed far more often than they change.
    pub fn listing(&mut self, list: impl FnOnce(&Registry) -> Vec<u8>) -> &[u8] {
        if self.listing.is_none() {
            self.listing = Some(list(self));
        }
        self.listing.as_deref().unwrap_or_default()
    }

    /// Live registrations, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> + '_ {
        self.live_by_age.values().rev().map(|n| &self.live[n])
    }

    /// The unregistered list, oldest first: `(name, port, fd)`.
    pub fn retired(&self) -> impl Iterator<Item = (&[u8], u16, i32)> + '_ {
        self.retired_by_age.values().map(|n| {
            let r = &self.retired[n];
            (n.as_slice(), r.port, r.fd)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u32 = 1_795_672_902;

    fn node(name: &str, port: u16) -> NodeInfo {
        NodeInfo::normal(name, port)
    }

    fn registry() -> Registry {
        Registry::with_clock(RETIRED_CAP, || NOW)
    }

    fn local() -> Owner {
        Owner::Local(Arc::new(()))
    }

    #[test]
    fn upcoming_id_is_the_id_register_returns() {
        let mut r = registry();
        let first = r.upcoming_id();
        let (a, _) = r.register(node("a", 1), local(), None).unwrap();
        assert_eq!(a, first);
        // A refused registration does not use the id up; a removal moves it on.
        let next = r.upcoming_id();
        assert!(r.register(node("a", 2), local(), None).is_err());
        assert_eq!(r.upcoming_id(), next);
        r.unregister(b"a", a).unwrap();
        let next = r.upcoming_id();
        assert_eq!(r.register(node("b", 1), local(), None).unwrap().0, next);
    }

    #[test]
    fn a_local_owner_keeps_its_tag() {
        let mut r = registry();
        let tag: LocalTag = Arc::new(7u32);
        r.register(node("a", 1), Owner::Local(tag), None).unwrap();
        let owner = &r.iter().next().unwrap().owner;
        let Owner::Local(tag) = owner else {
            panic!("not local: {owner:?}");
        };
        assert_eq!(tag.downcast_ref::<u32>(), Some(&7));
        assert_eq!(format!("{owner:?}"), "Local");
    }

    #[test]
    fn new_name_gets_now_plus_one_and_reregistration_bumps() {
        let mut r = registry();
        let (id, c) = r.register(node("foo", 1234), local(), None).unwrap();
        assert_eq!(c, NOW + 1);
        assert!(r.unregister(b"foo", id).is_some());
        let (_, c2) = r.register(node("foo", 1234), local(), None).unwrap();
        assert_eq!(c2, NOW + 2);
        assert_eq!(creation_for_reply(c2, false), (NOW + 2) % 3 + 1);
        assert_eq!(creation_for_reply(c2, true), NOW + 2);
    }

    #[test]
    fn listing_is_made_again_only_after_a_change() {
        let mut r = registry();
        let names =
            |r: &Registry| -> Vec<u8> { r.iter().flat_map(|x| x.node.name.clone()).collect() };
        let mut made = 0;
        let mut list = |r: &mut Registry| {
            r.listing(|r| {
                made += 1;
                names(r)
            })
            .to_vec()
        };
        assert_eq!(list(&mut r), b"");
        let (id, _) = r.register(node("a", 1), local(), None).unwrap();
        r.register(node("b", 2), local(), None).unwrap();
        assert_eq!(list(&mut r), b"ba");
        assert_eq!(list(&mut r), b"ba");
        assert!(r.register(node("a", 3), local(), None).is_err());
        assert!(r.unregister(b"b", id).is_none());
        assert_eq!(list(&mut r), b"ba");
        r.unregister(b"a", id).unwrap();
        assert_eq!(list(&mut r), b"b");
        r.remove_all();
        assert_eq!(list(&mut r), b"");
        assert_eq!(made, 4);
    }

    #[test]
    fn bump_wraps_to_four() {
        assert_eq!(bump(u32::MAX), 4);
        assert_eq!(bump(2), 4);
        assert_eq!(bump(4), 5);
    }

    #[test]
    fn duplicate_and_invalid_names_are_refused() {
        let mut r = registry();
        r.register(node("foo", 1), local(), None).unwrap();
        assert_eq!(
            r.register(node("foo", 2), local(), None).unwrap_err(),
            RegisterError::NameTaken
        );
        assert_eq!(r.lookup(b"foo").unwrap().port, 1);
        let mut bad = node("x", 1);
        bad.name = vec![0xc0, 0x80]; // overlong NUL
        assert_eq!(
            r.register(bad, local(), None).unwrap_err(),
            RegisterError::InvalidNameEncoding
        );
        assert_eq!(
            r.register(node(&"a".repeat(256), 1), local(), None)
                .unwrap_err(),
            RegisterError::NameTooLong
        );
        assert!(r
            .register(node(&"😈".repeat(255), 1), local(), None)
            .is_ok());
        let mut big = node("big", 1);
        big.extra = vec![0xff; MAX_SYMLEN + 1];
        assert_eq!(
            r.register(big.clone(), local(), None).unwrap_err(),
            RegisterError::ExtraTooLong
        );
        big.extra.pop();
        assert!(r.register(big, local(), None).is_ok());
    }

    #[test]
    fn stale_owner_cannot_remove_newer_registration() {
        let mut r = registry();
        let (old, _) = r.register(node("foo", 1), local(), None).unwrap();
        r.remove(b"foo");
        let (new, _) = r.register(node("foo", 2), local(), None).unwrap();
        assert!(r.unregister(b"foo", old).is_none());
        assert!(r.unregister(b"foo", new).is_some());
    }

    #[test]
    fn listing_is_newest_first_and_retired_oldest_first() {
        let mut r = registry();
        let ids: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|n| r.register(node(n, 1), local(), None).unwrap().0)
            .collect();
        let names: Vec<_> = r.iter().map(|x| x.node.name.clone()).collect();
        assert_eq!(names, [b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]);
        r.unregister(b"b", ids[1]);
        r.unregister(b"a", ids[0]);
        let retired: Vec<_> = r.retired().map(|(n, _, _)| n.to_vec()).collect();
        assert_eq!(retired, [b"b".to_vec(), b"a".to_vec()]);
    }

    #[test]
    fn over_cap_new_name_inherits_oldest_retired_creation() {
        let mut r = Registry::with_clock(2, || NOW);
        for (i, n) in ["a", "b", "c"].iter().enumerate() {
            let (id, _) = r.register(node(n, 1), local(), None).unwrap();
            r.unregister(n.as_bytes(), id).unwrap();
            assert_eq!(r.retired().count(), i + 1);
        }
        // Three retired > cap 2: "d" takes "a"'s record, unbumped.
        let (_, c) = r.register(node("d", 1), local(), None).unwrap();
        assert_eq!(c, NOW + 1);
        let retired: Vec<_> = r.retired().map(|(n, _, _)| n.to_vec()).collect();
        assert_eq!(retired, [b"b".to_vec(), b"c".to_vec()]);
        // At the cap (not over it) a new name is seeded from the clock again.
        let (_, c) = r.register(node("e", 1), local(), None).unwrap();
        assert_eq!(c, NOW + 1);
        assert_eq!(r.retired().count(), 2);
    }

    #[test]
    fn remove_all_hands_back_evict_hooks() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let count = Arc::new(AtomicUsize::new(0));
        let mut r = registry();
        for n in ["a", "b"] {
            let c = count.clone();
            let evict: Evict = Box::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            });
            r.register(node(n, 1), local(), Some(evict)).unwrap();
        }
        for mut reg in r.remove_all() {
            reg.take_evict().unwrap()();
        }
        assert_eq!(count.load(Ordering::SeqCst), 2);
        assert!(r.is_empty());
    }
}

//! How what a connection did becomes an [`Event`]: the outcome of a
//! dispatched request, and the reason a connection closed. Pure: the server
//! emits what these return.

use std::net::SocketAddr;

use crate::events::{DropReason, Event};
use crate::registry::RegisterError;
use crate::session::{Close, Outcome};

/// The event for what a dispatched request did, if it is one worth reporting.
pub fn outcome_event(peer: SocketAddr, outcome: &Outcome) -> Option<Event<'_>> {
    Some(match outcome {
        Outcome::RefusedNonLocal(command) => Event::RefusedNonLocal {
            peer,
            command: *command,
        },
        Outcome::Registered {
            name,
            port,
            creation,
        } => Event::Registered {
            name,
            port: *port,
            creation: *creation,
        },
        Outcome::RegisterRefused {
            name,
            reason: RegisterError::NameTaken,
        } => Event::NameTaken { name },
        Outcome::RegisterRefused { name, reason } => Event::RegisterRefused { name, reason },
        Outcome::Replied | Outcome::KillAccepted => return None,
        Outcome::KillRefused => Event::KillRefused,
        Outcome::Stopped { name, removed } => Event::Stopped {
            name,
            registered: removed.is_some(),
        },
        Outcome::StopRefused { name } => Event::StopRefused { name },
    })
}

/// The event for why a connection closed; none after a served request.
pub fn close_event(peer: SocketAddr, close: &Close) -> Option<Event<'_>> {
    Some(match close {
        Close::Done => return None,
        Close::Kill => Event::Killed,
        Close::Incomplete(got) => Event::Incomplete { peer, got: *got },
        Close::Timeout => Event::Timeout { peer },
        Close::Frame(e) => Event::Dropped {
            peer,
            reason: DropReason::Frame(e),
        },
        Close::Request(e) => Event::Dropped {
            peer,
            reason: DropReason::Request(e),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::LocalCommand;

    fn peer() -> SocketAddr {
        "10.0.0.1:4000".parse().unwrap()
    }

    #[test]
    fn outcomes() {
        let taken = Outcome::RegisterRefused {
            name: b"a".to_vec(),
            reason: RegisterError::NameTaken,
        };
        assert!(matches!(
            outcome_event(peer(), &taken),
            Some(Event::NameTaken { name: b"a" })
        ));
        let too_long = Outcome::RegisterRefused {
            name: b"b".to_vec(),
            reason: RegisterError::NameTooLong,
        };
        assert!(matches!(
            outcome_event(peer(), &too_long),
            Some(Event::RegisterRefused { name: b"b", .. })
        ));
        let refused = Outcome::RefusedNonLocal(LocalCommand::Kill);
        assert!(matches!(
            outcome_event(peer(), &refused),
            Some(Event::RefusedNonLocal {
                command: LocalCommand::Kill,
                ..
            })
        ));
        assert!(outcome_event(peer(), &Outcome::Replied).is_none());
        assert!(outcome_event(peer(), &Outcome::KillAccepted).is_none());
    }

    #[test]
    fn closes() {
        assert!(close_event(peer(), &Close::Done).is_none());
        assert!(matches!(
            close_event(peer(), &Close::Kill),
            Some(Event::Killed)
        ));
        assert!(matches!(
            close_event(peer(), &Close::Incomplete(3)),
            Some(Event::Incomplete { got: 3, .. })
        ));
        assert!(matches!(
            close_event(peer(), &Close::Timeout),
            Some(Event::Timeout { .. })
        ));
    }
}

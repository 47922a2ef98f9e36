//! Roles in a room and what each may do (docs/api.md §2.3).

use crate::actor::Actor;
use crate::error::Action;
use crate::ids::ClientId;
use crate::model::{Room, RoomChanges};

/// The strongest role an actor holds in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Not a member.
    Outsider,
    /// A plain member.
    Member,
    /// A room manager.
    Manager,
    /// The room owner.
    Owner,
    /// A platform administrator (API key or flagged client).
    PlatformAdmin,
}

/// What a room records about one client: the facts its role is decided from. Storage can
/// read these for one client cheaply, inside the transaction that acts on the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Membership {
    /// The client owns the room.
    pub is_owner: bool,
    /// The client is one of its managers.
    pub is_manager: bool,
    /// The client is one of its members.
    pub is_member: bool,
}

impl Role {
    /// The strongest role of `actor` in a room that records `membership` about it (a
    /// platform administrator's membership does not matter).
    #[must_use]
    pub fn of(actor: &Actor, membership: Membership) -> Self {
        if actor.is_platform_admin() {
            Self::PlatformAdmin
        } else if actor.client_id().is_none() {
            Self::Outsider
        } else if membership.is_owner {
            Self::Owner
        } else if membership.is_manager {
            Self::Manager
        } else if membership.is_member {
            Self::Member
        } else {
            Self::Outsider
        }
    }

    /// Platform administrators, the owner and managers: may delete messages, update the
    /// room, manage members and read the audit log.
    #[must_use]
    pub fn can_moderate(self) -> bool {
        self >= Self::Manager
    }
}

impl Room {
    /// Whether `id` is among the members.
    #[must_use]
    pub fn has_member(&self, id: &ClientId) -> bool {
        self.members.binary_search(id).is_ok()
    }

    /// What this room records about `id`.
    #[must_use]
    pub fn membership(&self, id: &ClientId) -> Membership {
        Membership {
            is_owner: self.owner.as_ref() == Some(id),
            is_manager: self.managers.contains(id),
            is_member: self.has_member(id),
        }
    }

    /// The actor's strongest role here.
    #[must_use]
    pub fn role_of(&self, actor: &Actor) -> Role {
        let membership = actor
            .client_id()
            .map(|id| self.membership(id))
            .unwrap_or_default();
        Role::of(actor, membership)
    }

    /// Platform administrators, the owner and managers: may delete messages, update the
    /// room, manage members and read the audit log.
    #[must_use]
    pub fn can_moderate(&self, actor: &Actor) -> bool {
        self.role_of(actor).can_moderate()
    }

    /// Platform administrators and the owner: may hand the room to a new owner.
    #[must_use]
    pub fn can_change_owner(&self, actor: &Actor) -> bool {
        self.role_of(actor) >= Role::Owner
    }

    /// Whether `actor` may apply `changes`: platform administrators, the owner and
    /// managers may update the room; handing it to a new owner needs an administrator or
    /// the owner.
    ///
    /// # Errors
    /// The [`Action`] refused: `UpdateRoom` or `ChangeOwner`.
    pub fn may_apply(&self, actor: &Actor, changes: &RoomChanges) -> Result<(), Action> {
        if !self.can_moderate(actor) {
            return Err(Action::UpdateRoom);
        }
        let new_owner = changes
            .owner
            .as_ref()
            .is_some_and(|o| self.owner.as_ref() != Some(o));
        if new_owner && !self.can_change_owner(actor) {
            return Err(Action::ChangeOwner);
        }
        Ok(())
    }

    /// Whether `actor` may invite members: platform administrators, the owner and managers.
    ///
    /// # Errors
    /// [`Action::ManageMembers`].
    pub fn may_add_members(&self, actor: &Actor) -> Result<(), Action> {
        if self.can_moderate(actor) {
            Ok(())
        } else {
            Err(Action::ManageMembers)
        }
    }

    /// Whether `actor` may remove `members`: moderators may remove anyone but the owner; a
    /// member may remove only itself (leave).
    ///
    /// # Errors
    /// [`Action::ManageMembers`], or [`Action::RemoveOwner`] when the owner is among them.
    pub fn may_remove_members(&self, actor: &Actor, members: &[ClientId]) -> Result<(), Action> {
        let leaving_alone = actor
            .client_id()
            .is_some_and(|me| self.has_member(me) && members.iter().all(|m| m == me));
        if !self.can_moderate(actor) && !leaving_alone {
            return Err(Action::ManageMembers);
        }
        if self
            .owner
            .as_ref()
            .is_some_and(|owner| members.contains(owner))
        {
            return Err(Action::RemoveOwner);
        }
        Ok(())
    }

    /// Platform administrators and members: may read the room and its messages.
    #[must_use]
    pub fn can_read(&self, actor: &Actor) -> bool {
        self.role_of(actor) >= Role::Member
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::fixtures::cast_room as room;

    fn id(s: &str) -> ClientId {
        ClientId::from_trusted(s.to_owned())
    }

    fn client(s: &str, admin: bool) -> Actor {
        Actor::Client {
            id: id(s),
            is_platform_admin: admin,
        }
    }

    #[test]
    fn roles_are_resolved_strongest_first() {
        let r = room();
        assert_eq!(r.role_of(&Actor::Platform), Role::PlatformAdmin);
        assert_eq!(r.role_of(&client("stranger", true)), Role::PlatformAdmin);
        assert_eq!(r.role_of(&client("owner", false)), Role::Owner);
        assert_eq!(r.role_of(&client("manager", false)), Role::Manager);
        assert_eq!(r.role_of(&client("member", false)), Role::Member);
        assert_eq!(r.role_of(&client("stranger", false)), Role::Outsider);
    }

    #[test]
    fn moderation_needs_manager_or_above() {
        let r = room();
        assert!(r.can_moderate(&client("manager", false)));
        assert!(r.can_moderate(&client("owner", false)));
        assert!(!r.can_moderate(&client("member", false)));
        assert!(!r.can_moderate(&client("stranger", false)));
        assert!(r.can_change_owner(&client("owner", false)));
        assert!(!r.can_change_owner(&client("manager", false)));
        assert!(r.can_read(&client("member", false)));
        assert!(!r.can_read(&client("stranger", false)));
    }
}

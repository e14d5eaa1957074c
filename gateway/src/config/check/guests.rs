//! `guests`: what happens as guest access runs out (invitations,
//! reminders, the end of the last assignment).

use std::time::Duration;

use super::Checker;
use crate::config::file::GuestsFile;
use crate::config::runtime::{Guests, LifecycleAction};

impl Checker<'_> {
    /// `guests`, with defaults.
    pub(super) fn guests(&mut self, f: Option<&GuestsFile>) -> Guests {
        let mut g = Guests::default();
        let Some(f) = f else { return g };
        if let Some(l) = &f.invitation_lifetime
            && let Some(d) = self.duration(l)
        {
            if d > Duration::from_secs(90 * 86_400) {
                self.err(l, "guests.invitation_lifetime is at most 90d");
            } else {
                g.invitation_lifetime = d;
            }
        }
        if let Some(d) = f.reminder_before.as_ref().and_then(|d| self.duration(d)) {
            g.reminder_before = d;
        }
        if let Some(d) = f.delete_after.as_ref().and_then(|d| self.duration(d)) {
            g.delete_after = d;
        }
        if let Some(a) = &f.on_last_assignment_end {
            g.on_last_assignment_end = match a.value.as_str() {
                "none" => LifecycleAction::None,
                "block" => LifecycleAction::Block,
                "delete" => LifecycleAction::Delete,
                other => {
                    self.err(
                        a,
                        format_args!(
                            "`{other}` is not a choice for guests.on_last_assignment_end (one of: none, block, delete)"
                        ),
                    );
                    LifecycleAction::None
                }
            };
        }
        g
    }
}

//! `/.portcullis/manage/…` on the auth host: app owners manage the guests
//! of their own apps.

use super::{Handler, Reply};

impl Handler<'_> {
    pub(super) async fn manage(&self) -> Reply {
        self.message(404, "Not found", "There is nothing at this address.")
    }
}

//! `/.portcullis/sign-up…` on the auth host: partners ask for access to an
//! app that allows it.

use super::{Handler, Reply};

impl Handler<'_> {
    pub(super) async fn sign_up(&self) -> Reply {
        self.message(404, "Not found", "There is nothing at this address.")
    }
}

//! The landing page of the auth host: the signed-in person's apps.

use crate::config::App;
use crate::portal::{Handler, Reply, paths};
use crate::store::UserType;
use minijinja::context;

impl Handler<'_> {
    /// Where an app starts: its first host and path prefix, on the scheme
    /// and port this request came in on.
    pub(in crate::portal) fn app_url(&self, a: &App) -> Option<String> {
        let host = a.hosts.first()?;
        let path = a.path_prefix.as_deref().unwrap_or("/");
        Some(format!(
            "{}://{host}{}{path}",
            self.scheme(),
            self.req.port_suffix
        ))
    }

    /// The signed-in person's apps (the access panel grows from here).
    pub(super) async fn landing(&self) -> Reply {
        let Some((claims, user)) = self.auth_session().await else {
            return Reply::redirect(paths::SIGN_IN.to_string());
        };
        // Owners get a way to their apps' guests.
        let groups: Vec<String> = self
            .gateway
            .store
            .groups_of(&user.id)
            .await
            .unwrap_or_default()
            .iter()
            .chain(&claims.groups)
            .map(|g| g.to_ascii_lowercase())
            .collect();
        let owns_apps = self
            .snapshot
            .config
            .apps
            .iter()
            .any(|a| a.owners.iter().any(|o| o.matches(&user.email, &groups)));
        let assigned: Vec<(String, Option<time::OffsetDateTime>)> =
            if user.user_type == UserType::Guest {
                match self.gateway.store.assignments_of_user(&user.id).await {
                    Ok(a) => a
                        .into_iter()
                        .filter(|a| a.is_live(self.time()))
                        .map(|a| (a.app, a.expires_at))
                        .collect(),
                    Err(e) => return self.unavailable("assignments", &e),
                }
            } else {
                Vec::new()
            };
        let apps: Vec<minijinja::Value> = self
            .snapshot
            .config
            .apps
            .iter()
            .filter_map(|a| {
                let until = assigned.iter().find(|(n, _)| n == &a.name).map(|(_, e)| *e);
                if user.user_type != UserType::Member && until.is_none() {
                    return None;
                }
                Some(context! {
                    title => a.title,
                    description => a.description,
                    until => until.flatten().map(crate::invitations::date),
                    url => self.app_url(a)?,
                })
            })
            .collect();
        self.page(
            200,
            "signed_in.html",
            context! { email => user.email, apps, owns_apps },
        )
    }
}

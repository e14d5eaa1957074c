//! The landing page of the auth host: the access panel. A tile per app the
//! signed-in person can open (its icon, title, description and, for a
//! guest, the end of their access), then the apps they can see but not
//! open, each with its way to ask the owners: the app's sign-up form when
//! it takes requests (`access_requests`), else an e-mail to its owners.

use crate::i18n::t;
use crate::access_requests;
use crate::config::{App, AppIcon};
use crate::html::encode_component;
use crate::portal::{Handler, Reply, paths};
use crate::store::{Assignment, RequestStatus, User, UserType};
use minijinja::context;

/// Letter tiles' colours: white text on each has a contrast of at least
/// 4.5:1 (WCAG AA).
const TILE_COLOURS: &[&str] = &[
    "#0b57d0", "#00695c", "#6a1b9a", "#b3261e", "#37474f", "#ad1457", "#2e6b30", "#8a4b00",
];

/// How an app can be asked for.
enum Ask {
    /// Its sign-up form (`apps[].sign_up`).
    SignUp(String),
    /// A request is waiting for the owners since this date.
    Pending(String),
    /// An e-mail to its owners.
    Mail(String),
    /// No way we know of: the page says to ask the inviter.
    Nobody,
}

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

    /// The access panel.
    pub(super) async fn landing(&self) -> Reply {
        let Some((claims, user)) = self.auth_session().await else {
            return Reply::redirect(format!(
                "{}?rd={}",
                paths::SIGN_IN,
                encode_component(paths::APPS)
            ));
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
        let assignments: Vec<Assignment> = if user.user_type == UserType::Guest {
            match self.gateway.store.assignments_of_user(&user.id).await {
                Ok(a) => a,
                Err(e) => return self.unavailable("assignments", &e),
            }
        } else {
            Vec::new()
        };
        let now = self.time();
        let mut apps = Vec::new();
        let mut others = Vec::new();
        for a in &self.snapshot.config.apps {
            let Some(url) = self.app_url(a) else { continue };
            let mine = assignments.iter().find(|x| x.app == a.name);
            let live = user.user_type == UserType::Member || mine.is_some_and(|x| x.is_live(now));
            if live {
                apps.push(context! {
                    url,
                    until => mine.and_then(|x| x.expires_at).map(crate::invitations::date),
                    ..self.tile(a)
                });
                continue;
            }
            let ended = mine
                .and_then(|x| x.expires_at)
                .map(crate::invitations::date);
            // Never shared and takes no requests: not shown, nothing to read.
            if ended.is_none() && a.sign_up.is_none() {
                continue;
            }
            let ask = match self.ask(a, &user).await {
                Ok(ask) => ask,
                Err(r) => return r,
            };
            // Shown only when there is something to say: an access that
            // ended, or an app that takes requests.
            if ended.is_none() && !matches!(ask, Ask::SignUp(_) | Ask::Pending(_)) {
                continue;
            }
            let (ask_url, pending) = match ask {
                Ask::SignUp(u) | Ask::Mail(u) => (Some(u), None),
                Ask::Pending(since) => (None, Some(since)),
                Ask::Nobody => (None, None),
            };
            others.push(context! { ended, ask_url, pending, ..self.tile(a) });
        }
        let reply = self.page(
            200,
            "apps.html",
            context! {
                email => user.email,
                name => user.display_name,
                apps, others, owns_apps,
            },
        );
        with_icon_sources(reply, &self.snapshot.config.apps)
    }

    /// What every tile shows: the icon (or a letter) and the words.
    pub(in crate::portal) fn tile(&self, a: &App) -> minijinja::Value {
        let icon = a.icon.as_ref().map(|i| match i {
            AppIcon::File(f) => format!(
                "{}{}?v={}",
                paths::ICONS,
                encode_component(&a.name),
                f.version
            ),
            AppIcon::Url(u) => u.clone(),
        });
        let letter = a
            .title
            .chars()
            .find(|c| c.is_alphanumeric())
            .map(|c| c.to_uppercase().to_string())
            .unwrap_or_else(|| "?".into());
        let hue = a.name.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        context! {
            name => a.name,
            title => a.title,
            description => a.description,
            icon, letter,
            colour => TILE_COLOURS[hue % TILE_COLOURS.len()],
        }
    }

    /// How `user` can ask for `app`: its sign-up form when it takes
    /// requests from their address (or the request already waiting), else
    /// an e-mail to its owners.
    async fn ask(&self, app: &App, user: &User) -> Result<Ask, Reply> {
        let config = &self.snapshot.config;
        if user.user_type == UserType::Guest
            && let Some(sign_up) = &app.sign_up
            && access_requests::check_domain(config, sign_up, &user.email.to_ascii_lowercase())
                .is_ok()
        {
            return match self
                .gateway
                .store
                .list_access_requests(Some(&app.name))
                .await
            {
                Ok(list) => Ok(
                    match list
                        .into_iter()
                        .find(|r| r.user_id == user.id && r.status == RequestStatus::Pending)
                    {
                        Some(r) => Ask::Pending(crate::invitations::date(r.created_at)),
                        None => Ask::SignUp(format!(
                            "/.portcullis/sign-up/form?app={}",
                            encode_component(&app.name)
                        )),
                    },
                ),
                Err(e) => Err(self.unavailable("sign-up requests", &e)),
            };
        }
        let (owners, _) = crate::guests::owner_emails(&self.gateway.store, app, &user.email).await;
        if owners.is_empty() {
            return Ok(Ask::Nobody);
        }
        let subject = t!(self.lang, "msg-access-subject", app = &app.title);
        Ok(Ask::Mail(format!(
            "mailto:{}?subject={}",
            owners
                .iter()
                .map(|o| encode_component(o))
                .collect::<Vec<_>>()
                .join(","),
            encode_component(&subject)
        )))
    }
}

/// The apps page shows icons from this host and from the origins of
/// `https://` icons: its `img-src` names them (and nothing else).
pub(in crate::portal) fn with_icon_sources(mut reply: Reply, apps: &[App]) -> Reply {
    let mut sources = vec!["data:".to_string(), "'self'".to_string()];
    for a in apps {
        if let Some(AppIcon::Url(u)) = &a.icon
            && let Ok(url) = openidconnect::url::Url::parse(u)
        {
            let origin = url.origin().ascii_serialization();
            if !sources.contains(&origin) {
                sources.push(origin);
            }
        }
    }
    for (name, value) in &mut reply.headers {
        if *name == "content-security-policy" {
            *value = value.replacen(
                "img-src data:",
                &format!("img-src {}", sources.join(" ")),
                1,
            );
        }
    }
    reply
}

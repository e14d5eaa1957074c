//! Security info (`/.portcullis/security`, issue 17), end to end against
//! the real `portcullis serve`: set up the authenticator, replace it only
//! with a current code, make new recovery codes (the old ones stop
//! working), sign out the other sessions.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

#[allow(dead_code)]
mod support;

use support::panel::*;
use time::OffsetDateTime;

#[tokio::test]
async fn security_info_sets_up_the_authenticator_and_renews_recovery_codes() {
    let env = start(true).await;
    let gw = &env.gw;
    let bob = user_id(&env, BOB).await;
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    let (page, secret, old_codes) = enroll_from_security_info(&env, &mut b).await;

    // A wrong code: said on the page, the codes stay.
    let hashes = gw.store.unused_recovery_code_hashes(&bob).await.unwrap();
    let wrong = env
        .act(
            &mut b,
            &page,
            &[("action", "recovery_codes"), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(
        wrong.body.contains("That code is not right."),
        "{}",
        wrong.body
    );
    // Not a code at all: said, and no try counted.
    let junk = env
        .act(
            &mut b,
            &page,
            &[("action", "recovery_codes"), ("code", "abc")],
        )
        .await;
    assert_eq!(junk.status, 400);
    assert!(
        junk.body.contains("did not count as a try"),
        "{}",
        junk.body
    );
    assert_eq!(
        gw.store.unused_recovery_code_hashes(&bob).await.unwrap(),
        hashes
    );

    // The next step's code: ten new codes, shown once; the old ones fail.
    let renewed = env
        .act(
            &mut b,
            &page,
            &[("action", "recovery_codes"), ("code", &totp(&secret, 1))],
        )
        .await;
    assert_eq!(
        renewed.heading(),
        "Save your recovery codes",
        "{}",
        renewed.body
    );
    assert!(renewed.body.contains("the earlier ones no longer work"));
    let new_codes: Vec<&str> = renewed
        .body
        .split("<code>")
        .skip(1)
        .filter_map(|s| s.split("</code>").next())
        .collect();
    assert_eq!(new_codes.len(), 10);
    assert!(new_codes.iter().all(|c| !old_codes.iter().any(|o| o == c)));
    let totp_check = portcullis::mfa::Totp::default();
    let now = OffsetDateTime::now_utc();
    assert!(
        totp_check
            .use_recovery_code(&gw.store, &bob, &old_codes[0], now)
            .await
            .is_err(),
        "an old code no longer works"
    );
    assert_eq!(
        totp_check
            .use_recovery_code(&gw.store, &bob, new_codes[0], now)
            .await
            .unwrap(),
        9
    );
    let left = b.open(&env.url(AUTH, SECURITY)).await;
    assert_eq!(
        left.by_id("recovery-left").as_deref(),
        Some("9 unused recovery codes left.")
    );
    let audit = gw
        .store
        .list_audit(&portcullis::store::AuditQuery {
            subject: Some(bob.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "recovery_codes_regenerated" && e.actor == bob),
        "{audit:?}"
    );
}

/// Replacing the authenticator takes a current code: a wrong one keeps
/// the factor as it was; the right one shows a new key, confirmed by a
/// code from it, and the old key no longer works.
#[tokio::test]
async fn replacing_the_authenticator_needs_a_current_code() {
    let env = start(true).await;
    let gw = &env.gw;
    let bob = user_id(&env, BOB).await;
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    let (page, old_secret, _) = enroll_from_security_info(&env, &mut b).await;
    let before = gw.store.get_totp_factor(&bob).await.unwrap().unwrap();

    let wrong = env
        .act(&mut b, &page, &[("action", "reenroll"), ("code", "000000")])
        .await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(wrong.heading(), "Security info");
    let same = gw.store.get_totp_factor(&bob).await.unwrap().unwrap();
    assert_eq!(same.secret, before.secret);
    assert!(same.confirmed_at.is_some());
    // The enrollment link does not replace a confirmed factor either.
    let sneak = b
        .open(&env.url(AUTH, "/.portcullis/security?step=enroll"))
        .await;
    assert_eq!(sneak.status, 409, "{}", sneak.body);
    assert_eq!(
        gw.store
            .get_totp_factor(&bob)
            .await
            .unwrap()
            .unwrap()
            .secret,
        before.secret
    );

    let enroll = env
        .act(
            &mut b,
            &page,
            &[("action", "reenroll"), ("code", &totp(&old_secret, 1))],
        )
        .await;
    assert_eq!(
        enroll.heading(),
        "Set up two-step verification",
        "{}",
        enroll.body
    );
    assert!(
        enroll.body.contains("Your new authenticator"),
        "{}",
        enroll.body
    );
    let new_secret = enroll.by_id("secret").unwrap();
    assert_ne!(new_secret.replace(' ', ""), old_secret.replace(' ', ""));
    // Until a code from the new key confirms it, the old key is the factor
    // (issue 17): unchanged in the store, and its codes still pass.
    let waiting = gw.store.get_totp_factor(&bob).await.unwrap().unwrap();
    assert_eq!(waiting.secret, before.secret);
    assert!(waiting.confirmed_at.is_some());
    let later = OffsetDateTime::now_utc() + time::Duration::seconds(90);
    portcullis::mfa::Totp::default()
        .verify(&gw.store, &bob, &totp(&old_secret, 3), later)
        .await
        .expect("the old key works while the new one waits");
    // A wrong code from the new key: said, and the same key again (no new
    // QR code, no dead entry in the app).
    let wrong_new = env
        .act(
            &mut b,
            &enroll,
            &[("action", "confirm_replacement"), ("code", "000000")],
        )
        .await;
    assert_eq!(wrong_new.status, 401, "{}", wrong_new.body);
    assert!(
        wrong_new.body.contains("That code is not right."),
        "{}",
        wrong_new.body
    );
    assert_eq!(
        wrong_new.by_id("secret").as_deref(),
        Some(new_secret.as_str())
    );
    let pending = b.open(&env.url(AUTH, SECURITY)).await;
    assert!(pending.by_id("replacing").is_some(), "{}", pending.body);
    // The new key's code: it is the factor now, the old one stops.
    let done = env
        .act(
            &mut b,
            &wrong_new,
            &[
                ("action", "confirm_replacement"),
                ("code", &totp(&new_secret, 0)),
            ],
        )
        .await;
    assert_eq!(
        done.by_id("notice").as_deref(),
        Some("Your new authenticator is set up."),
        "{}",
        done.body
    );
    support::chromium::render_pages(
        "security_pages",
        &[
            ("36-security-wrong-code", wrong.body.as_str()),
            ("37-security-new-key", enroll.body.as_str()),
            ("38-security-new-key-wrong-code", wrong_new.body.as_str()),
            ("39-security-replaced", done.body.as_str()),
        ],
    )
    .await;
    let factor = gw.store.get_totp_factor(&bob).await.unwrap().unwrap();
    assert!(factor.confirmed_at.is_some());
    assert_eq!(factor.secret, base32(&new_secret));
    assert!(factor.replacement.is_none());
    let old_later = portcullis::mfa::Totp::default()
        .verify(
            &gw.store,
            &bob,
            &totp(&old_secret, 5),
            later + time::Duration::seconds(60),
        )
        .await;
    assert!(old_later.is_err(), "the old key no longer works");
    let audit = gw
        .store
        .list_audit(&portcullis::store::AuditQuery {
            subject: Some(bob.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "mfa_replaced" && e.actor == bob),
        "{audit:?}"
    );
}

/// "Keep my current authenticator" forgets the new key; the old one stays.
#[tokio::test]
async fn replacing_the_authenticator_can_be_cancelled() {
    let env = start(true).await;
    let gw = &env.gw;
    let bob = user_id(&env, BOB).await;
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    let (page, old_secret, _) = enroll_from_security_info(&env, &mut b).await;
    let enroll = env
        .act(
            &mut b,
            &page,
            &[("action", "reenroll"), ("code", &totp(&old_secret, 1))],
        )
        .await;
    assert!(enroll.by_id("keep-current").is_some(), "{}", enroll.body);
    let kept = env
        .act(&mut b, &enroll, &[("action", "cancel_replacement")])
        .await;
    assert_eq!(
        kept.by_id("notice").as_deref(),
        Some("Your current authenticator stays; the new key was discarded.")
    );
    assert!(kept.by_id("replacing").is_none(), "{}", kept.body);
    let factor = gw.store.get_totp_factor(&bob).await.unwrap().unwrap();
    assert_eq!(factor.secret, base32(&old_secret));
    assert!(factor.replacement.is_none());
}

/// The sessions list and "sign out everywhere else": the other browser's
/// session is refused on the auth host and on the app host; this one stays.
#[tokio::test]
async fn security_info_signs_out_the_other_sessions() {
    let env = start(true).await;
    let mut b = env.browser();
    env.sign_in(&mut b, BOB).await;
    let alone = b.open(&env.url(AUTH, SECURITY)).await;
    assert!(
        alone.body.contains("You are signed in only here."),
        "{}",
        alone.body
    );
    assert!(alone.by_id("sign-out-others").is_none());

    let mut other = env.browser();
    let wiki = other.open(&env.url("wiki.test", "/")).await;
    let on_wiki = env.password(&mut other, &wiki, BOB).await;
    assert_eq!(
        (on_wiki.status, on_wiki.url.host_str()),
        (200, Some("wiki.test"))
    );

    let page = b.open(&env.url(AUTH, SECURITY)).await;
    let list = page.body.split("id=\"session-list\"").nth(1).unwrap();
    let list = list.split("</ul>").next().unwrap();
    assert_eq!(list.matches("<li>").count(), 2, "{list}");
    assert_eq!(list.matches("This browser").count(), 1, "{list}");
    assert!(list.contains("signed in with a password on "), "{list}");
    assert_eq!(
        page.by_id("sign-out-others").as_deref(),
        Some("Sign out everywhere else (1)")
    );
    let done = env
        .act(&mut b, &page, &[("action", "sign_out_others")])
        .await;
    assert_eq!(
        done.by_id("notice").as_deref(),
        Some("Your other sessions are signed out.")
    );
    assert!(
        done.body.contains("You are signed in only here."),
        "{}",
        done.body
    );
    // The other browser: signed out on the auth host and on the app.
    let panel = other.get(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(panel.status, 302, "{panel:?}");
    assert_eq!(
        panel.location.as_ref().unwrap().path(),
        "/.portcullis/sign-in"
    );
    let app = other.get(&env.url("wiki.test", "/")).await;
    assert_eq!(app.status, 302, "{app:?}");
    // This browser: still in.
    let mine = b.open(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(mine.heading(), "Your apps");
}

/// Issue 17: one chosen session can be signed out, and each row says when,
/// how and from which browser it signed in; this browser's is marked and
/// has no button (its way out is "Sign out").
#[tokio::test]
async fn security_info_signs_out_one_chosen_session() {
    let env = start(true).await;
    let gw = &env.gw;
    let bob = user_id(&env, BOB).await;
    let mut b = env.browser();
    b.user_agent = Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36".into());
    env.sign_in(&mut b, BOB).await;
    let mut laptop = env.browser();
    laptop.user_agent =
        Some("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0".into());
    env.sign_in(&mut laptop, BOB).await;
    let mut phone = env.browser();
    phone.user_agent = Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1".into());
    env.sign_in(&mut phone, BOB).await;

    let page = b.open(&env.url(AUTH, SECURITY)).await;
    let list = page.body.split("id=\"session-list\"").nth(1).unwrap();
    let list = list.split("</ul>").next().unwrap();
    let rows: Vec<&str> = list.split("<li>").skip(1).collect();
    assert_eq!(rows.len(), 3, "{list}");
    let mine = rows.iter().find(|r| r.contains("This browser")).unwrap();
    assert!(
        mine.contains("This browser</strong> (Chrome on Windows)"),
        "{mine}"
    );
    assert!(mine.contains("You are here"), "{mine}");
    assert!(!mine.contains("sign_out_session"), "{mine}");
    let firefox = rows
        .iter()
        .find(|r| r.contains("<strong>Firefox on Linux</strong>"))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(
        firefox.contains("signed in with a password on "),
        "{firefox}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("<strong>Safari on iOS</strong>")),
        "{list}"
    );
    // The row names its session by a digest, never by the session id.
    let chosen = firefox
        .split("name=\"session\" value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap();
    let sids: Vec<String> = gw
        .store
        .sessions_of_user(&bob, OffsetDateTime::now_utc())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    assert!(sids.iter().all(|sid| !page.body.contains(sid.as_str())));

    let done = env
        .act(
            &mut b,
            &page,
            &[("action", "sign_out_session"), ("session", chosen)],
        )
        .await;
    assert_eq!(
        done.by_id("notice").as_deref(),
        Some("That session is signed out."),
        "{}",
        done.body
    );
    assert!(!done.body.contains("Firefox on Linux"), "{}", done.body);
    // Only that one: the laptop is out, the phone and this browser stay.
    let out = laptop.get(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(out.status, 302, "{out:?}");
    let still = phone.get(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(still.status, 200, "{still:?}");
    let here = b.get(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(here.status, 200);
    // Again, or a digest of no session of Bob's: nothing happens.
    let again = env
        .act(
            &mut b,
            &done,
            &[("action", "sign_out_session"), ("session", chosen)],
        )
        .await;
    assert_eq!(
        again.by_id("notice").as_deref(),
        Some("That session had already ended.")
    );
    let after = phone.get(&env.url(AUTH, "/.portcullis/apps")).await;
    assert_eq!(after.status, 200);
    let audit = gw
        .store
        .list_audit(&portcullis::store::AuditQuery {
            subject: Some(bob.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.action == "session_ended").count(),
        1,
        "{audit:?}"
    );
    support::chromium::render_pages(
        "security_sessions",
        &[("40-security-sessions", page.body.as_str())],
    )
    .await;
}

/// Issue 17, "no dead ends": every page of the partner's own journey has a
/// way on or out. The password page offers another address; the MFA step
/// says what to do without the phone and lets one sign out; setting up from
/// security info can be left for later; security info links the passkeys,
/// and the passkeys page links back (signed out, it comes back to itself
/// after signing in). Each page is rendered in Chromium and checked by
/// axe-core at laptop and phone sizes.
#[tokio::test]
async fn partner_pages_each_have_a_way_on_or_out() {
    let env = start(true).await;
    let mut b = env.browser();
    let away = b
        .get(&env.url(AUTH, "/.portcullis/security/passkeys"))
        .await;
    assert_eq!(away.status, 302, "{away:?}");
    let to = away.location.clone().unwrap();
    assert_eq!(to.path(), "/.portcullis/sign-in");
    assert_eq!(to.query(), Some("rd=/.portcullis/security/passkeys"));

    let form = b.open(&env.url(AUTH, "/.portcullis/sign-in")).await;
    let pw = b
        .submit(&form, "/.portcullis/sign-in", &[("email", BOB)])
        .await;
    assert_eq!(pw.heading(), "Enter your password", "{}", pw.body);
    assert_eq!(
        pw.by_id("use-another").as_deref(),
        Some("Not you? Use another address")
    );
    env.password(&mut b, &form, BOB).await;

    let security = b.open(&env.url(AUTH, SECURITY)).await;
    assert!(
        security.by_id("passkeys-link").is_some(),
        "{}",
        security.body
    );
    let passkeys = b
        .open(&env.url(AUTH, "/.portcullis/security/passkeys"))
        .await;
    assert_eq!(passkeys.heading(), "Passkeys", "{}", passkeys.body);
    assert!(
        passkeys
            .body
            .contains("<a href=\"/.portcullis/security\">Back to security info</a>"),
        "{}",
        passkeys.body
    );
    let (_, _, _) = enroll_from_security_info(&env, &mut b).await;
    // Setting up from security info can wait (Olivia has no authenticator).
    let mut olivia = env.browser();
    env.sign_in(&mut olivia, OLIVIA).await;
    let enroll = olivia
        .open(&env.url(AUTH, "/.portcullis/security?step=enroll"))
        .await;
    assert_eq!(
        enroll.by_id("not-now").as_deref(),
        Some("Not now: back to security info")
    );

    // A new sign-in: the MFA step's page.
    let mut later = env.browser();
    env.sign_in(&mut later, BOB).await;
    let verify = later
        .open(&env.url(AUTH, "/.portcullis/mfa?rd=%2F.portcullis%2Fapps"))
        .await;
    assert_eq!(verify.heading(), "Verify it's you", "{}", verify.body);
    assert!(
        verify
            .by_id("lost-phone")
            .is_some_and(|t| t.starts_with("Lost your phone? Type one of your recovery codes")),
        "{}",
        verify.body
    );
    // One "lost your phone" answer: recovery codes, then the self-service
    // request (issue 20), then the way out.
    assert!(
        verify
            .links()
            .iter()
            .any(|l| l.path() == "/.portcullis/mfa/lost"),
        "{}",
        verify.body
    );
    assert_eq!(verify.body.matches("id=\"lost-phone\"").count(), 1);
    assert_eq!(
        verify.by_id("sign-out").as_deref(),
        Some("Not you? Sign out")
    );
    // Locked after five wrong codes: the page says for how long.
    let mut wrong = None;
    for _ in 0..5 {
        wrong = Some(
            later
                .submit(&verify, "/.portcullis/mfa", &[("code", "000000")])
                .await,
        );
    }
    let wrong = wrong.unwrap();
    assert_eq!(wrong.status, 429, "{}", wrong.body);
    assert!(
        wrong.body.contains("Try again in 15 minutes (after "),
        "{}",
        wrong.body
    );

    support::chromium::render_pages(
        "partner_ways_out",
        &[
            ("50-password-another-address", pw.body.as_str()),
            ("51-security-info-passkeys", security.body.as_str()),
            ("52-passkeys-ways-out", passkeys.body.as_str()),
            ("53-enroll-not-now", enroll.body.as_str()),
            ("54-mfa-verify-lost-phone", verify.body.as_str()),
            ("55-mfa-locked", wrong.body.as_str()),
        ],
    )
    .await;
}

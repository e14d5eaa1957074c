# Messages the portal's code words (gateway/src/portal).
msg-link-incomplete = The sign-in link is incomplete.
msg-link-expired-title = Sign-in link expired
msg-link-expired = This sign-in link was already used or has expired.
msg-code-malformed = That is not a code: type the 6 digits the app shows (or a recovery code). This did not count as a try.
msg-code-wrong-wait = That code is not right. Wait for the app to show the next code and type that one.
msg-form-wrong-step = The form does not match this step.
msg-code-wrong = That code is not right.
msg-code-replayed = That code was already used. Wait for the next one.
msg-passkey-refused = That passkey was not accepted. Try again.
msg-stronger-add-passkey = This app asks for a stronger kind of two-step verification than a code from an authenticator app: a passkey (a security key, or your device's fingerprint, face or PIN), or signing in with an organisation account that uses one. Add a passkey, then open the app again.
msg-stronger-needed = This app asks for phishing-resistant two-step verification: a passkey (a security key, or your device's fingerprint, face or PIN), or signing in with an organisation account that uses one. A code from an authenticator app will not do for this app.
msg-too-many-title = Too many attempts
msg-mfa-locked = { $minutes ->
    [one] Two-step verification is locked after too many wrong codes. Try again in 1 minute (after { $time } UTC), or use a recovery code then.
   *[other] Two-step verification is locked after too many wrong codes. Try again in { $minutes } minutes (after { $time } UTC), or use a recovery code then.
}
msg-not-signed-in-title = You are not signed in
msg-consent-declined = Without your consent you cannot use the apps shared with you.
msg-page-expired-title = This page has expired
msg-page-expired = The form was not sent from this sign-in page, or it is too old.
msg-access-subject = Access to { $app }
msg-passkey-added = Passkey added.
msg-passkey-already = That authenticator is registered already.
msg-passkey-not-added = The passkey could not be added. Try again.
msg-passkey-removed = Passkey removed.
msg-passkey-none = There is no such passkey.
msg-form-wrong-page = The form does not match this page.
msg-verify-first-title = Verify it's you first
msg-verify-first = You already have a second factor. Open one of your apps and verify it's you, then come back to add a passkey.
msg-not-totp-code = That is not a code: type the 6 digits your authenticator app shows. This did not count as a try.
msg-authenticator-set-up = Your new authenticator is set up.
msg-others-signed-out = Your other sessions are signed out.
msg-authenticator-exists = You already have an authenticator. To replace it, type a code from it below.
msg-authenticator-locked = Too many wrong codes: your authenticator is locked for a while. Try again later.
msg-no-authenticator = You have no authenticator set up.
msg-method-passcode = a code sent by e-mail
msg-method-password = a password
msg-method-idp = your account at { $idp }
msg-too-many-codes = Too many codes were asked for. Wait a while, then try again.
msg-passcode-wrong = { $left ->
    [one] That code is not right. 1 try left.
   *[other] That code is not right. { $left } tries left.
}
msg-code-invalid-title = Code no longer valid
msg-code-invalid = That code has expired or was tried too often. Ask for a new one.
msg-form-incomplete = The form is incomplete.
msg-method-not-offered = That way of signing in is not offered.
msg-too-many-attempts = Too many attempts. Wait a few minutes, then try again.
msg-password-wrong = The e-mail or password is not right.
msg-email-invalid = Enter a valid e-mail address.
msg-no-way-title = No way to sign in
msg-no-way = There is no sign-in for this e-mail address here. Ask the person who invited you.
msg-sign-in-with = Sign in with { $idp }
msg-email-me-code = E-mail me a one-time code
notice-invited = Invitation sent.
notice-extended-until = Access extended. { $who } can use { $app } until { $date }.
notice-extended-for = Access extended for { $who }.
notice-extended = Access extended.
notice-ended-for = Access ended. { $who } can no longer open { $app }.
notice-ended = Access ended.
notice-resent = Invitation sent again with a new link.
notice-revoked = Invitation withdrawn.
notice-mfa-reset-for = { $who }'s MFA was reset: they set up a new authenticator at their next sign-in.
notice-mfa-reset = The guest's MFA was reset: they set up a new authenticator at their next sign-in.
msg-not-your-app-title = Not your app
msg-not-your-app = You can manage the guests of the apps you own only.
msg-choose-action = Choose an action.
msg-days-too-far = Days: { $who } already has access until { $until }; access can reach at most { $max } days from today ({ $last }).
msg-days-range = Days: enter a whole number from 1 to { $max }.
msg-invitation-not-pending = This invitation is no longer pending (accepted, withdrawn or expired).
msg-field-message = Message
msg-host-invalid = The host name is not valid.
msg-idp-unavailable-title = Sign-in service unavailable
msg-idp-unavailable = Your organisation's sign-in service cannot be reached right now. Try again in a few minutes.
msg-brand-unavailable = { $brand } cannot be reached right now. Try again in a few minutes.
msg-tenant-title = Your organisation cannot sign in here
msg-tenant = Accounts of your organisation are not allowed to sign in to this service. Sign in with another account, or ask your contact to allow your organisation.
msg-sign-in-failed-title = Sign-in failed
msg-answer-unverified = The answer from your sign-in service could not be verified.
msg-method-gone = That way of signing in is gone.
msg-email-unconfirmed-title = E-mail not confirmed
msg-email-unconfirmed = Your organisation's sign-in service did not confirm your e-mail address, so it cannot be matched to an invitation. Ask your organisation's IT team, or your contact here.
msg-brand-email-unconfirmed = { $brand } did not confirm an e-mail address for your account, so it cannot be matched to an invitation. Confirm your primary e-mail address at { $brand }, then sign in again.
msg-answer-incomplete = The answer from the sign-in service is incomplete.
msg-sign-in-expired-title = Sign-in expired
msg-sign-in-expired = This sign-in was already finished or took too long.
msg-other-browser = This sign-in was started in another browser. Start again here.
msg-idp-said-no = The sign-in service did not sign you in.
msg-account-blocked = Your access has been blocked. Contact the person who invited you.
msg-member-domain-title = Use your organisation's sign-in
msg-member-domain = This address belongs to the organisation's own domain. Sign in with the organisation's sign-in service, not a partner's.
msg-not-invited-title = No access yet
msg-not-invited = You have not been invited to any app here. Ask your contact to invite you.
msg-linked-elsewhere-title = Use the account you first signed in with
msg-linked-elsewhere = This e-mail address is already linked to another sign-in account. Sign in with that one.
msg-no-sign-up-title = No sign-up here
msg-no-sign-up = This app does not take requests for access. Ask your contact to invite you.
msg-no-request-needed-title = No request needed
msg-no-request-needed = Addresses of the organisation need no sign-up: sign in with your work account.
msg-domain-not-allowed-title = Not available for your address
msg-domain-not-allowed = This app does not take requests from { $domain } addresses. Ask your contact to invite you.
msg-too-many-requests = Too many requests from your network. Wait a few minutes, then try again.
msg-have-access-title = You already have access
msg-have-access = You can already use { $app }.
msg-request-sent-title = Request sent
msg-request-sent = Your request for { $app } was sent to its owners. You get an e-mail when they decide.
msg-request-pending-title = Request pending
msg-request-pending = You already asked for access to { $app }; its owners have not decided yet. You get an e-mail when they do.
msg-request-not-found-title = Request not found
msg-request-not-found = There is no such access request. Check that you opened the whole link from the e-mail.
msg-not-owner-title = Not an owner of this app
msg-not-owner = Only the owners of this app can review its access requests.
msg-approve-or-deny = Choose approve or deny.
msg-request-approved-title = Request approved
msg-request-approved = Access to { $app } has started; the partner was told by e-mail.
msg-request-denied-title = Request denied
msg-request-denied = The partner was told by e-mail.
msg-already-decided-title = Already decided
request-status-pending = pending
request-status-approved = approved
request-status-denied = denied
msg-sign-in-refused-title = Sign-in refused
msg-sign-in-refused = Your sign-in service may not sign in this e-mail address here.
msg-passcode-resend-wait-now = The code asked for just now may still be on its way. You can ask for a new one in { $resend_in ->
    [one] 1 second
   *[other] { $resend_in } seconds
}. This did not count towards the limit.
msg-passcode-resend-wait = The code asked for { $waited } seconds ago may still be on its way. You can ask for a new one in { $resend_in ->
    [one] 1 second
   *[other] { $resend_in } seconds
}. This did not count towards the limit.
msg-session-signed-out = That session is signed out.
msg-session-already-ended = That session had already ended.
msg-authenticator-kept = Your current authenticator stays; the new key was discarded.
msg-replacement-code-wrong = That code is not right. Wait for the app to show the next code for the new entry and type that one.
msg-replacement-expired = The new key waited too long and was discarded; your current authenticator still works. Start again below.


# A lost authenticator (gateway/src/portal/recovery.rs, issue 20)
msg-lost-member-title = Ask your organisation
msg-lost-member = You sign in with your organisation's own account, so its own process applies: ask your IT help desk to reset your authenticator.
msg-lost-verified-title = You are verified already
msg-lost-verified = You passed two-step verification in this session: replace your authenticator or add a passkey on your security info page.
msg-lost-too-often = You asked too often. Wait a day, or ask your contact directly.
msg-lost-no-approver-title = Nobody here can approve this
msg-lost-no-approver = None of your apps has an owner who could let you set up a new authenticator. Ask the person who invited you.
msg-lost-not-found = There is no such request. Check that you opened the whole link from the e-mail.
msg-lost-choose = Choose approve or deny.
msg-lost-approved-title = Request approved
msg-lost-approved = The guest was sent a link to set up a new authenticator. It works once, for 30 minutes, in the browser they asked from.
msg-lost-denied-title = Request denied
msg-lost-denied = The guest was told by e-mail.
msg-lost-decided-title = Already decided
msg-lost-decided = This request was already decided, or it lapsed. The guest can ask again.
msg-lost-not-approver-title = Not yours to approve
msg-lost-not-approver = Only the owners of this guest's apps (or whoever invited them) can approve this request.
msg-lost-link-used-title = This link was used already
msg-lost-link-used = Each link works once. If you could not finish, ask again from the two-step verification page.
msg-lost-link-expired-title = This link has expired
msg-lost-link-expired = The link worked for 30 minutes after the approval. Ask again from the two-step verification page.
msg-lost-other-browser-title = Open the link in the browser you asked from
msg-lost-other-browser = For your safety the link works only in the browser where you asked for it. Open it there, or ask again from this browser.
msg-lost-other-user-title = This link is for someone else
msg-lost-other-user = You are signed in with another account than the one that asked. Sign out, then sign in with that account.
msg-lost-link-unknown-title = Link not found
msg-lost-link-unknown = This link does not work. Check that you opened the whole link from the e-mail.

# Passkeys (gateway/src/portal/passkeys_page.rs, signin/passkey.rs)
msg-passkey-renamed = Passkey renamed.
msg-passkey-org-title = Sign in with your organisation's account
msg-passkey-org = Your account signs in with your organisation's own sign-in service. Enter your e-mail address to continue.
msg-passkey-sign-in-refused = That passkey was not accepted. Try again, or enter your e-mail address.
msg-method-passkey = a passkey

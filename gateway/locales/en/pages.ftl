# The portal's pages (gateway/src/portal/templates). $org: the
# organisation; $app: an app's title; $email: an e-mail address.

# Shared by several pages.
going-to = to continue to { $app }
signed-in-as = Signed in as { $email }
nav-your-account = Your account
nav-your-apps = Your apps
nav-security-info = Security info
nav-manage-guests = Manage your apps' guests
nav-all-owned = All your apps
nav-sign-out = Sign out
button-next = Next
button-sign-in = Sign in
button-verify = Verify
button-cancel = Cancel
button-continue = Continue
code-label = Code
link-sign-in = Sign in
link-sign-in-again = Sign in again
link-your-apps = Your apps
link-second-step = Continue with the second step

# sign_in.html
sign-in-title = Sign in
sign-in-reauth = Sign in again to continue: this app asks for a recent sign-in.
sign-in-email-label = Your work or school e-mail
sign-in-own-account = You sign in with your own organisation's account; { $org } never sees your password.

# password.html
password-title = Enter your password
password-label = Password

# choose.html, sign_up_idp.html
choose-title = Choose how to sign in

# passcode.html
passcode-title = Enter your code
passcode-sent = If { $email } may sign in here, we have sent a code to it. It is valid for { $minutes } minutes.
passcode-no-code = No code?
passcode-check-address = Check that { $email } is the address you were invited with, and look in your spam folder.
passcode-only-invited = Only invited addresses get a code. If you were invited with another address, use that one; otherwise ask the person who invited you.
passcode-only-invited-app = Only invited addresses get a code. If you were invited with another address, use that one; otherwise ask the person who invited you or the owner of { $app }.
passcode-only-invited-owners = Only invited addresses get a code. If you were invited with another address, use that one; otherwise ask the person who invited you or the owner of { $app } ({ $owners }).
passcode-other-address = Use another address
passcode-resend = Send a new code
passcode-resend-wait = You can ask for a new code in { $seconds } seconds.

# consent.html
consent-title = Review permissions
consent-receives = { $org } will receive from your sign-in:
consent-name = your name ({ $name })
consent-email = your e-mail address ({ $email })
consent-uses = It uses them to decide your access and to show the apps shared with you.
consent-terms = Read { $link } (version { $version }).
consent-terms-link = the terms of use of { $org }
consent-accept = Accept

# invitation.html
invitation-title = Your invitation
invitation-heading = You are invited
invitation-invites = { $inviter } invites you to use { $apps } at { $org }.
invitation-access = Your access lasts { $access }. You sign in with your own work, school or personal account for { $email }.
invitation-access-until = until { $date }
invitation-access-days = { $days ->
    [one] { $days } day from when you accept
   *[other] { $days } days from when you accept
}
invitation-other = You are signed in as { $other }. This invitation is for { $email }: { $link } first.
invitation-sign-out-link = sign out
invitation-accept = Accept and sign in
invitation-not-found-title = Invitation not found
invitation-not-found-text = This invitation link is not valid.
invitation-other-person-title = This invitation is for someone else
invitation-other-person-text = You are signed in with another e-mail address than the one { $who } invited.
invitation-other-person-next = Switch account: sign out, then open the link again and sign in with the invited address.
invitation-sign-in-to-apps = Sign in to your apps

# mfa_enroll.html
mfa-enroll-title = Set up two-step verification
mfa-enroll-replacing = Your new authenticator: your current one keeps working until you type a code from this one below.
mfa-enroll-asked = { $org } asks for a second step for this app.
mfa-enroll-scan = Scan this code with an authenticator app (for example Microsoft Authenticator or Google Authenticator).
mfa-enroll-qr-alt = QR code for your authenticator app
mfa-enroll-on-phone = On this phone? { $link }.
mfa-enroll-add-link = Add to your authenticator app
mfa-enroll-type-key = Or type this key:
mfa-enroll-code-label = The 6-digit code the app shows

# mfa_verify.html
mfa-verify-title = Verify it's you
mfa-verify-passkey-required = This app asks for a passkey.
mfa-verify-use-passkey = Use your passkey.
mfa-verify-use-passkey-or-code = Use your passkey, or a code below.
mfa-verify-passkey-button = Use a passkey
mfa-verify-enter-code = Enter the code from your authenticator app, or one of your recovery codes.
mfa-verify-manage-passkeys = Manage passkeys

# recovery_codes.html
recovery-title = Your recovery codes
recovery-heading = Save your recovery codes
recovery-renewed = Your new recovery codes: the earlier ones no longer work. If you lose your phone, each of these codes lets you in once. They are shown only now: keep them somewhere safe.
recovery-first = Two-step verification is on. If you lose your phone, each of these codes lets you in once. They are shown only now: keep them somewhere safe.

# passkeys.html
passkeys-title = Passkeys
passkeys-intro = A passkey signs you in with your device's fingerprint, face or PIN, or a security key. It works only on this site, so a look-alike page cannot use it.
passkeys-name = Name
passkeys-added = Added
passkeys-last-used = Last used
passkeys-never = never
passkeys-remove = Remove
passkeys-remove-named = Remove { $name }
passkeys-none = You have no passkeys yet.
passkeys-add = Add a passkey
passkeys-name-placeholder = Laptop, YubiKey…

# apps.html
apps-title = Your apps
apps-until = Access until { $date }
apps-none = No apps are shared with you yet. When someone invites you, the app shows up here.
apps-ask-heading = Apps you can ask for
apps-ended = Your access ended on { $date }.
apps-pending = You asked on { $date }; the owners have not decided yet.
apps-ask = Ask for access
apps-ask-for = to { $app }
apps-ask-inviter = Ask the person who invited you.

# security.html
security-title = Security info
security-authenticator = Authenticator app
security-state-on = Set up
security-since = since { $date }
security-locked = Locked after too many wrong codes until { $until }.
security-new-phone = New phone? Type a code from your current authenticator app, then scan the new key.
security-current-code = Current code
security-replace = Replace authenticator
security-lost-phone = Lost the phone? Sign in with a recovery code, or choose “I lost my authenticator” when you are asked to verify: the owners of your apps can let you set up a new one. The person who invited you can also reset it.
security-state-pending = Not finished
security-finish = Finish setting up your authenticator
security-state-off = Not set up
security-why = Apps that ask for a second step will have you set one up. You can do it now.
security-set-up = Set up an authenticator app
security-recovery = Recovery codes
security-recovery-left = { $count ->
    [one] 1 unused recovery code left.
   *[other] { $count } unused recovery codes left.
}
security-recovery-low = Make new ones before you run out.
security-recovery-new = New codes replace all the earlier ones, and are shown once.
security-recovery-make = Make new recovery codes
security-sessions = Where you are signed in
security-this-browser = This browser
security-session = signed in with { $how } on { $started }; ends { $ends }
security-sign-out-others = Sign out everywhere else ({ $count })
security-only-here = You are signed in only here.

# sign_out.html
sign-out-title = Sign out
signed-out-title = Signed out
signed-out-heading = You are signed out
sign-out-question = Sign out of every app of { $org } in this browser?
sign-out-stay = Stay signed in: back to your apps
signed-out-text = You are signed out of every app of { $org } in this browser.
signed-out-was-using = You were using { $app }.
signed-out-sign-in-app = Sign in again to { $app }
signed-out-sign-in-other = Sign in to another app
signed-out-idp = Your organisation's account is still signed in on this device.
signed-out-idp-link = Sign out of it too

# manage_apps.html, manage_app.html, manage_confirm_end.html
manage-apps-title = Apps you own
manage-apps-intro = Choose an app to invite guests, extend or end their access, and see who signed in.
manage-apps-manage = Manage guests
manage-apps-none = You do not own any app here. App owners are set in the gateway's configuration.
manage-app-title = Guests of { $app }
manage-invite = Invite a guest
manage-email = E-mail
manage-days = Days of access
manage-message = Personal message (optional)
manage-language = Language of the e-mail
manage-days-note = Access starts when they accept the invitation.
manage-send-invitation = Send invitation
manage-guests = Guests
manage-col-guest = Guest
manage-col-access = Access
manage-col-mfa = Two-step
manage-col-last = Last sign-in
manage-col-actions = Actions
manage-col-invited-by = Invited by
manage-col-link-expires = Link expires
guest-state-blocked = blocked
manage-until = until { $date }
manage-ended = ended
manage-ended-on = ended { $date }
manage-mfa-on = Authenticator set up
manage-mfa-locked = Locked (wrong codes)
manage-mfa-pending = Setting up
manage-mfa-off = Not set up
manage-never = Never
manage-add-days = Add days after { $date }
manage-days-from-today = Days from today
manage-extend = Extend
manage-end-now = End access now
manage-reset-mfa = Reset MFA
manage-no-guests = No guests yet. Invite someone above.
manage-pending = Pending invitations
manage-send-again = Send again
manage-withdraw = Withdraw
manage-no-pending = No pending invitations.
manage-requests = Sign-up requests
manage-request-asked = { $email } asked on { $date }
manage-review = review
manage-no-requests = No requests waiting.
manage-end-heading = End { $guest }'s access?
manage-end-title = End access for { $guest }?
manage-end-what = { $guest } can no longer open { $app }: the next page they load is refused, within seconds. Their other apps are not touched.
manage-end-again = You can invite them again later.

# sign_up*.html
sign-up-title = Ask for access
sign-up-ask = Ask { $org } for access to { $app }.
sign-up-own-account = Next you sign in with your own organisation's account; { $org } never sees your password.
sign-up-form-title = Your request
sign-up-form-intro = You ask for access to { $app } as { $email }.
sign-up-form-required = (required)
sign-up-form-send = Send request
sign-up-form-automatic = Access starts as soon as you send the request.
sign-up-form-reviewed = An owner of the app reviews your request; you get an e-mail with the answer.
sign-up-idp-note = { $app } takes requests from people who sign in with one of these.
sign-up-review-title = Access request
sign-up-review-asks = { $requester } asks for access to { $app } (asked on { $asked }).
sign-up-review-days = Approving gives access for { $days } days.
sign-up-review-approve = Approve
sign-up-review-deny = Deny
sign-up-review-decided = This request was { $status }.
sign-up-review-decided-by = This request was { $status } by { $who }.
passkeys-not-used = The passkey was not used. Try again, or use another way.

# Issue 17: security info, ways out, owners
security-new-phone-keeps = The current one keeps working until the new one is confirmed.
security-replacing = You started replacing it: your current authenticator still works. Type a code from it to see the new key again.
security-session-alone = Signed in with { $how } on { $started }; ends { $ends }
security-you-are-here = You are here
security-sign-out-session = Sign out
security-sign-out-which = { $device } signed in on { $started }
security-the-session = the session
device-browser-on = { $browser } on { $platform }
device-platform = a { $platform } device
mfa-enroll-own = Your authenticator app for two-step verification.
mfa-enroll-keep-current = Keep my current authenticator
mfa-enroll-not-now-security = Not now: back to security info
mfa-enroll-not-now-sign-out = Not now: sign out
mfa-verify-lost-phone = Lost your phone? Type one of your recovery codes above.
mfa-verify-sign-out = Not you? Sign out
signin-not-you-other-address = Not you? Use another address
passkeys-back-to-security = Back to security info
manage-passkeys = { $count ->
    [one] 1 passkey
   *[other] { $count } passkeys
}
manage-managed-by = Managed by { $owners }.
manage-managers-and = {" "}and{" "}
manage-managers-group = the group { $group } ({ $members })
manage-managers-group-idp = the group { $group } (its members as their sign-in says)
manage-managers-group-empty = the group { $group } (no members yet)

# mfa_lost.html, lost_ask.html, lost_review.html, lost_reenrol.html:
# a lost authenticator (issue 20)
mfa-lost-link = I lost my authenticator
mfa-lost-member = Lost your authenticator? Your organisation's own process applies: ask your IT help desk to reset it.
lost-ask-title = Lost your authenticator?
lost-ask-sent = We asked the owners of your apps to approve. When one of them does, you get an e-mail with a link.
lost-ask-sent-again = Your request is still with the owners of your apps. When one of them approves, you get an e-mail with a link.
lost-ask-in-this-browser = in this browser
lost-ask-open-link = Open that link { $here }, within 30 minutes of the approval. It lets you set up a new authenticator or passkey once; your lost one stops working.
lost-ask-intro = If you no longer have the authenticator app or passkey you verify with, the owners of your apps can let you set up a new one. We send them your request by e-mail.
lost-ask-intro-app = If you no longer have the authenticator app or passkey you verify with, the owners of { $app } can let you set up a new one. We send them your request by e-mail.
lost-ask-how = When one of them approves, you get an e-mail with a link that works once, for 30 minutes, and only in this browser.
lost-ask-button = Ask to set up a new authenticator
lost-review-title = New authenticator request
lost-review-asks = { $guest } lost their authenticator and asks to set up a new one (asked on { $asked }).
lost-review-asks-app = { $guest } lost their authenticator and asks to set up a new one, on the way to { $app } (asked on { $asked }).
lost-review-note = Approve only if you know the request is genuine: if you are not sure, ask them through a channel you already trust. Approving e-mails them a link that works once, for 30 minutes, in the browser they asked from; their lost authenticator and passkeys stop working when they use it.
lost-review-closed = This request is no longer open.
lost-reenrol-title = Set up a new authenticator
lost-reenrol-done = Your lost authenticator and passkeys no longer work. Set up a new way to verify it's you:
lost-reenrol-app = Set up an authenticator app
lost-reenrol-intro = Signed in as { $email }. Continuing removes your lost authenticator and passkeys, so that you can set up new ones. This link works once.

# passkey_rename.html, security_passkeys.html, passkey_sign_in.html (issue 20)
passkeys-rename-title = Rename a passkey
passkeys-rename-passkey = Passkey
passkeys-rename-new-name = New name
passkeys-rename-button = Rename
passkeys-count = { $count ->
    [0] You have no passkeys yet.
    [one] You have 1 passkey.
   *[other] You have { $count } passkeys.
}
passkeys-about = A passkey signs you in with your device's fingerprint, face or PIN, or a security key.
passkeys-too-many = Too many passkey attempts. Wait a few minutes, then try again.
passkey-sign-in-button = Sign in with a passkey

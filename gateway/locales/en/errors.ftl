# Refusals and error pages (gateway/src/refusal.rs, the proxy's own pages).
# $app: the app's title; $org: the organisation; $who: whom to ask;
# $date: a date in this language.

refusal-this-app = this app
refusal-what-next = What you can do:
refusal-signed-in-as = You are signed in as { $email }.
refusal-ways-on = Ways on
refusal-your-apps = Your apps
refusal-switch-account = Switch account
refusal-sign-out = Sign out
refusal-quote-id = If you contact someone about this, quote the request id.
refusal-request-id = Request id:
refusal-help = Help:
refusal-ask-whom = Whom to ask:

reason-not_shared-title = This app has not been shared with you
reason-not_shared-what = { $app } has not been shared with the account you are signed in with.
reason-not_shared-next = If you need it, ask { $who } to share it with you. If you have another account that has access, switch to it.
reason-access_ended-title = Your access has ended
reason-access_ended-what = Your access to { $app } has ended.
reason-access_ended-what-date = Your access to { $app } ended on { $date }.
reason-access_ended-next = If you still need it, ask { $who } to extend your access.
reason-mfa_required-title = A second sign-in step is needed
reason-mfa_required-what = { $app } asks for a second sign-in step, such as a code from an authenticator app.
reason-mfa_required-next = Complete the second step, then you are taken to the app.
reason-stronger_mfa_required-title = A stronger sign-in is needed
reason-stronger_mfa_required-what = { $app } asks for a stronger second step than the one you used, such as a passkey or a security key.
reason-stronger_mfa_required-next = Sign in again with a stronger method. If you do not have one, ask { $who } which methods are accepted.
reason-location-title = Not available from where you are
reason-location-what = { $app } cannot be opened from the network or country you are connecting from.
reason-location-next = Try again from an allowed place, for example your office network or a VPN, or ask { $who }.
reason-device_platform-title = Not available on this device
reason-device_platform-what = { $app } cannot be opened from this kind of device.
reason-device_platform-next = Try again from another device, such as a computer, or ask { $who }.
reason-policy_block-title = Access blocked
reason-policy_block-what = The access rules of { $org } do not let this request through to { $app }.
reason-policy_block-next = If you think you should have access, ask { $who } and quote the request id below.
reason-account_blocked-title = Your account is blocked
reason-account_blocked-what = Your account can no longer be used to open the apps of { $org }.
reason-account_blocked-next = If you think this is a mistake, ask { $who } and quote the request id below.
reason-sign_in_required-title = Sign in to continue
reason-sign_in_required-what = You need to sign in to open { $app }.
reason-sign_in_required-next = Sign in, then try again.
reason-invitation_used-title = Invitation already used
reason-invitation_used-what = This invitation was already accepted.
reason-invitation_used-next = Sign in to see your apps.
reason-invitation_expired-title = Invitation expired
reason-invitation_expired-what = This invitation has expired.
reason-invitation_expired-next = Ask { $who } to send you a new one.
reason-invitation_withdrawn-title = Invitation withdrawn
reason-invitation_withdrawn-what = This invitation was withdrawn.
reason-invitation_withdrawn-next = Ask { $who } if you still need access.
reason-not_invited-title = This invitation is not for you
reason-not_invited-what = This invitation link is not valid for you: it was not found, or it was sent to another e-mail address.
reason-not_invited-next = Check that you opened the whole link from the e-mail, and that you are signed in with the address it was sent to. Otherwise, ask { $who }.

# Whom to ask, most specific first. $owners: e-mail addresses and groups.
ask-inviter = { $inviter }, who invited you
ask-owner = the owner of the app ({ $owners })
ask-owners = the owners of the app ({ $owners })
ask-group = members of the group { $group }
ask-support = { $support }
ask-fallback = the person who invited you or the help desk of { $org }
support-default = the help desk of { $org }

# The proxy's own error pages.
error-not-found-title = Not found
error-no-app-here = There is no app at this address.
error-nothing-here = There is nothing at this address.
error-bad-request-title = Bad request
error-path-not-allowed = The request path is not allowed.
error-host-not-valid = The request's host is not valid.
error-forwarding-headers = The forwarding headers are malformed.
error-unreadable = The request could not be read.
error-unavailable-title = Unavailable
error-not-checked = The request could not be checked.
error-check-later = Access could not be checked right now; try again shortly.
error-app-unavailable-title = App unavailable
error-app-no-answer = The app did not answer.
error-went-wrong-title = Something went wrong
error-not-completed = The request could not be completed.
error-too-large-title = Request too large
error-too-large = The request is larger than this gateway accepts.
error-next-404 = Check the address, or open the app from your apps page.
error-next-400 = Go back and try again, or open the app from your apps page.
error-next-5xx = Try again in a few minutes. If it keeps happening, tell { $who } and quote the request id.
error-sign-in-unavailable-title = Sign-in unavailable
error-sign-in-not-set-up = Sign-in is not set up on this gateway: no sign-in host is configured.
error-page-not-shown = This page could not be shown.
error-framing = The request's framing is ambiguous.
error-refused-title = Refused
error-forward-auth-refused = This forward-auth request was refused; see the gateway log for the request id.
error-sign-in-later = Signing in is not possible right now. Try again in a few minutes.

# E-mails (gateway/src/mail/templates). $org: the organisation.

mail-footer = This message was sent by the sign-in service of { $org }. Please do not reply to it.
mail-help = Questions? Ask { $support }.
mail-or-open = Or open this link:
mail-on-date = on { $date }

mail-passcode-subject = Your { $org } sign-in code
mail-passcode-intro = Use this code to sign in to { $org }:
mail-passcode-valid = { $minutes ->
    [one] It is valid for { $minutes } minute.
   *[other] It is valid for { $minutes } minutes.
} Never share it with anyone: { $org } will never ask you for it.
mail-passcode-ignore = If you did not try to sign in, you can ignore this message.

mail-invitation-subject = { $inviter } invited you to { $org }
mail-invitation-intro = { $count ->
    [one] { $inviter } invited you to use this app at { $org }:
   *[other] { $inviter } invited you to use these apps at { $org }:
}
mail-invitation-message-from = Message from { $inviter }:
mail-invitation-accept = Accept the invitation
mail-invitation-accept-text = Accept the invitation:
mail-invitation-how = You sign in with your own work, school or personal account. The invitation expires { $expires }.
mail-invitation-ignore = If you did not expect this invitation, you can ignore it.
mail-invitation-footer = If you did not expect this invitation, you can ignore it. { $org } will not share your e-mail address.

mail-access-ending-subject = Your access to { $app } at { $org } ends { $ends }
mail-access-ending-owner-subject = Access of { $guest } to { $app } ends { $ends }
mail-access-ending-title = Access to { $app } ends { $ends }
mail-access-ending-owner = The access of { $guest } to { $app }, an app you own at { $org }, ends { $ends }.
mail-access-ending-owner-next = To keep it, extend the assignment before then; otherwise nothing needs to be done.
mail-access-ending-guest = Your access to { $app } at { $org } ends { $ends }.
mail-access-ending-guest-next = If you still need it, ask the person who invited you to extend it.

mail-signup-request-subject = { $requester } asks for access to { $app }
mail-signup-request-text = { $requester } asks for access to { $app }, an app you own at { $org }.
mail-signup-request-review = Review the request
mail-signup-request-review-text = Review the request:

mail-signup-approved-subject = Your request for { $app } was approved
mail-signup-declined-subject = Your request for { $app } was declined
mail-signup-approved = Your request for access to { $app } at { $org } was approved.
mail-signup-approved-open = Open { $app }
mail-signup-approved-text = Your request for access to { $app } at { $org } was approved. Open it here:
mail-signup-declined = Your request for access to { $app } at { $org } was declined.
mail-signup-declined-panel = Your other apps are on your access panel:

# A lost authenticator (issue 20)
mail-mfa-recovery-request-subject = { $guest } lost their sign-in authenticator and asks to set up a new one
mail-mfa-recovery-request-title = { $guest } asks to set up a new authenticator
mail-mfa-recovery-request-text = { $guest }, a guest of { $apps } at { $org }, lost the authenticator they use for two-step verification and asks to set up a new one.
mail-mfa-recovery-request-check = Approve only if you know this request is genuine: if you are not sure, ask them through a channel you already trust (a phone number you have, a colleague). Approving sends them a link that works for 30 minutes, once, and only in the browser they asked from.
mail-mfa-recovery-approved-subject = Set up a new authenticator for { $org }
mail-mfa-recovery-declined-subject = Your request to set up a new authenticator for { $org } was declined
mail-mfa-recovery-approved = Your request to set up a new authenticator for { $org } was approved.
mail-mfa-recovery-approved-open = { $minutes ->
    [one] Open this link in the same browser you asked from, within { $minutes } minute. It works once.
   *[other] Open this link in the same browser you asked from, within { $minutes } minutes. It works once.
}
mail-mfa-recovery-approved-button = Set up a new authenticator
mail-mfa-recovery-not-you = If you did not ask for this, do not open the link, and tell your contact at { $org }.
mail-mfa-recovery-declined = Your request to set up a new authenticator for { $org } was declined. Ask your contact there what to do next.
mail-mfa-recovery-your-apps = Your apps:

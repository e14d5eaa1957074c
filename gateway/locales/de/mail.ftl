# E-Mails (gateway/src/mail/templates).

mail-footer = Diese Nachricht wurde vom Anmeldedienst von { $org } gesendet. Bitte antworten Sie nicht darauf.
mail-help = Fragen? Wenden Sie sich an { $support }.
mail-or-open = Oder öffnen Sie diesen Link:
mail-on-date = am { $date }

mail-passcode-subject = Ihr Anmeldecode für { $org }
mail-passcode-intro = Mit diesem Code melden Sie sich bei { $org } an:
mail-passcode-valid = { $minutes ->
    [one] Er ist { $minutes } Minute gültig.
   *[other] Er ist { $minutes } Minuten gültig.
} Geben Sie ihn niemandem weiter: { $org } wird Sie nie danach fragen.
mail-passcode-ignore = Wenn Sie nicht versucht haben, sich anzumelden, können Sie diese Nachricht ignorieren.

mail-invitation-subject = { $inviter } hat Sie zu { $org } eingeladen
mail-invitation-intro = { $count ->
    [one] { $inviter } hat Sie eingeladen, diese App bei { $org } zu nutzen:
   *[other] { $inviter } hat Sie eingeladen, diese Apps bei { $org } zu nutzen:
}
mail-invitation-message-from = Nachricht von { $inviter }:
mail-invitation-accept = Einladung annehmen
mail-invitation-accept-text = Einladung annehmen:
mail-invitation-how = Sie melden sich mit Ihrem eigenen Arbeits-, Schul- oder privaten Konto an. Die Einladung läuft { $expires } ab.
mail-invitation-ignore = Wenn Sie diese Einladung nicht erwartet haben, können Sie sie ignorieren.
mail-invitation-footer = Wenn Sie diese Einladung nicht erwartet haben, können Sie sie ignorieren. { $org } gibt Ihre E-Mail-Adresse nicht weiter.

mail-access-ending-subject = Ihr Zugriff auf { $app } bei { $org } endet { $ends }
mail-access-ending-owner-subject = Der Zugriff von { $guest } auf { $app } endet { $ends }
mail-access-ending-title = Zugriff auf { $app } endet { $ends }
mail-access-ending-owner = Der Zugriff von { $guest } auf { $app }, eine App, die Sie bei { $org } verantworten, endet { $ends }.
mail-access-ending-owner-next = Um ihn zu behalten, verlängern Sie die Zuweisung vorher; andernfalls ist nichts zu tun.
mail-access-ending-guest = Ihr Zugriff auf { $app } bei { $org } endet { $ends }.
mail-access-ending-guest-next = Wenn Sie ihn noch brauchen, bitten Sie die Person, die Sie eingeladen hat, ihn zu verlängern.

mail-signup-request-subject = { $requester } bittet um Zugriff auf { $app }
mail-signup-request-text = { $requester } bittet um Zugriff auf { $app }, eine App, die Sie bei { $org } verantworten.
mail-signup-request-review = Anfrage prüfen
mail-signup-request-review-text = Anfrage prüfen:

mail-signup-approved-subject = Ihre Anfrage für { $app } wurde genehmigt
mail-signup-declined-subject = Ihre Anfrage für { $app } wurde abgelehnt
mail-signup-approved = Ihre Anfrage auf Zugriff auf { $app } bei { $org } wurde genehmigt.
mail-signup-approved-open = { $app } öffnen
mail-signup-approved-text = Ihre Anfrage auf Zugriff auf { $app } bei { $org } wurde genehmigt. Öffnen Sie die App hier:
mail-signup-declined = Ihre Anfrage auf Zugriff auf { $app } bei { $org } wurde abgelehnt.
mail-signup-declined-panel = Ihre anderen Apps finden Sie auf Ihrer App-Seite:

# A lost authenticator (issue 20)
mail-mfa-recovery-request-subject = { $guest } hat den Authenticator für die Anmeldung verloren und möchte einen neuen einrichten
mail-mfa-recovery-request-title = { $guest } möchte einen neuen Authenticator einrichten
mail-mfa-recovery-request-text = { $guest }, Gast von { $apps } bei { $org }, hat den Authenticator für die zweistufige Bestätigung verloren und möchte einen neuen einrichten.
mail-mfa-recovery-request-check = Genehmigen Sie nur, wenn Sie wissen, dass die Anfrage echt ist: Fragen Sie im Zweifel über einen Weg nach, dem Sie bereits vertrauen (eine Telefonnummer, die Sie haben, eine Kollegin oder einen Kollegen). Eine Genehmigung schickt einen Link, der 30 Minuten lang einmal funktioniert, und nur in dem Browser, in dem angefragt wurde.
mail-mfa-recovery-approved-subject = Richten Sie einen neuen Authenticator für { $org } ein
mail-mfa-recovery-declined-subject = Ihre Anfrage, einen neuen Authenticator für { $org } einzurichten, wurde abgelehnt
mail-mfa-recovery-approved = Ihre Anfrage, einen neuen Authenticator für { $org } einzurichten, wurde genehmigt.
mail-mfa-recovery-approved-open = { $minutes ->
    [one] Öffnen Sie diesen Link innerhalb von { $minutes } Minute in dem Browser, in dem Sie angefragt haben. Er funktioniert einmal.
   *[other] Öffnen Sie diesen Link innerhalb von { $minutes } Minuten in dem Browser, in dem Sie angefragt haben. Er funktioniert einmal.
}
mail-mfa-recovery-approved-button = Neuen Authenticator einrichten
mail-mfa-recovery-not-you = Wenn Sie das nicht angefragt haben, öffnen Sie den Link nicht und informieren Sie Ihre Ansprechperson bei { $org }.
mail-mfa-recovery-declined = Ihre Anfrage, einen neuen Authenticator für { $org } einzurichten, wurde abgelehnt. Fragen Sie Ihre Ansprechperson dort, wie es weitergeht.
mail-mfa-recovery-your-apps = Ihre Apps:

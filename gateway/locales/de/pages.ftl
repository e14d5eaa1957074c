# Die Seiten des Portals (gateway/src/portal/templates).

going-to = weiter zu { $app }
signed-in-as = Angemeldet als { $email }
nav-your-account = Ihr Konto
nav-your-apps = Ihre Apps
nav-security-info = Sicherheitsinformationen
nav-manage-guests = Gäste Ihrer Apps verwalten
nav-all-owned = Alle Ihre Apps
nav-sign-out = Abmelden
button-next = Weiter
button-sign-in = Anmelden
button-verify = Bestätigen
button-cancel = Abbrechen
button-continue = Weiter
code-label = Code
link-sign-in = Anmelden
link-sign-in-again = Erneut anmelden
link-your-apps = Ihre Apps
link-second-step = Mit dem zweiten Schritt fortfahren

sign-in-title = Anmelden
sign-in-reauth = Melden Sie sich erneut an, um fortzufahren: Diese App verlangt eine frische Anmeldung.
sign-in-email-label = Ihre geschäftliche oder schulische E-Mail-Adresse
sign-in-own-account = Sie melden sich mit dem Konto Ihrer eigenen Organisation an; { $org } sieht Ihr Passwort nie.

password-title = Passwort eingeben
password-label = Passwort

choose-title = Anmeldeweg wählen

passcode-title = Code eingeben
passcode-sent = Wenn sich { $email } hier anmelden darf, haben wir einen Code an diese Adresse gesendet. Er ist { $minutes } Minuten gültig.
passcode-no-code = Kein Code angekommen?
passcode-check-address = Prüfen Sie, ob { $email } die Adresse ist, mit der Sie eingeladen wurden, und sehen Sie im Spam-Ordner nach.
passcode-only-invited = Nur eingeladene Adressen erhalten einen Code. Wenn Sie mit einer anderen Adresse eingeladen wurden, verwenden Sie diese; fragen Sie sonst die Person, die Sie eingeladen hat.
passcode-only-invited-app = Nur eingeladene Adressen erhalten einen Code. Wenn Sie mit einer anderen Adresse eingeladen wurden, verwenden Sie diese; fragen Sie sonst die Person, die Sie eingeladen hat, oder die Verantwortlichen von { $app }.
passcode-only-invited-owners = Nur eingeladene Adressen erhalten einen Code. Wenn Sie mit einer anderen Adresse eingeladen wurden, verwenden Sie diese; fragen Sie sonst die Person, die Sie eingeladen hat, oder die Verantwortlichen von { $app } ({ $owners }).
passcode-other-address = Andere Adresse verwenden
passcode-resend = Neuen Code senden
passcode-resend-wait = Einen neuen Code können Sie in { $seconds } Sekunden anfordern.

consent-title = Berechtigungen prüfen
consent-receives = { $org } erhält aus Ihrer Anmeldung:
consent-name = Ihren Namen ({ $name })
consent-email = Ihre E-Mail-Adresse ({ $email })
consent-uses = Damit wird über Ihren Zugriff entschieden, und die für Sie freigegebenen Apps werden angezeigt.
consent-terms = Lesen Sie { $link } (Version { $version }).
consent-terms-link = die Nutzungsbedingungen von { $org }
consent-accept = Akzeptieren

invitation-title = Ihre Einladung
invitation-heading = Sie sind eingeladen
invitation-invites = { $inviter } lädt Sie ein, { $apps } bei { $org } zu nutzen.
invitation-access = Ihr Zugriff gilt { $access }. Sie melden sich mit Ihrem eigenen Arbeits-, Schul- oder privaten Konto für { $email } an.
invitation-access-until = bis zum { $date }
invitation-access-days = { $days ->
    [one] { $days } Tag ab der Annahme
   *[other] { $days } Tage ab der Annahme
}
invitation-other = Sie sind als { $other } angemeldet. Diese Einladung ist für { $email }: Bitte zuerst { $link }.
invitation-sign-out-link = abmelden
invitation-accept = Annehmen und anmelden
invitation-not-found-title = Einladung nicht gefunden
invitation-not-found-text = Dieser Einladungslink ist ungültig.
invitation-other-person-title = Diese Einladung ist für jemand anderen
invitation-other-person-text = Sie sind mit einer anderen E-Mail-Adresse angemeldet als der, die { $who } eingeladen hat.
invitation-other-person-next = Wechseln Sie das Konto: Melden Sie sich ab, öffnen Sie den Link erneut und melden Sie sich mit der eingeladenen Adresse an.
invitation-sign-in-to-apps = Bei Ihren Apps anmelden

mfa-enroll-title = Bestätigung in zwei Schritten einrichten
mfa-enroll-replacing = Ihr neuer Authenticator: Der bisherige funktioniert weiter, bis Sie unten einen Code aus diesem eingeben.
mfa-enroll-asked = { $org } verlangt für diese App einen zweiten Schritt.
mfa-enroll-scan = Scannen Sie diesen Code mit einer Authenticator-App (zum Beispiel Microsoft Authenticator oder Google Authenticator).
mfa-enroll-qr-alt = QR-Code für Ihre Authenticator-App
mfa-enroll-on-phone = Auf diesem Smartphone? { $link }.
mfa-enroll-add-link = Zur Authenticator-App hinzufügen
mfa-enroll-type-key = Oder geben Sie diesen Schlüssel ein:
mfa-enroll-code-label = Der 6-stellige Code, den die App anzeigt

mfa-verify-title = Bestätigen Sie, dass Sie es sind
mfa-verify-passkey-required = Diese App verlangt einen Passkey.
mfa-verify-use-passkey = Verwenden Sie Ihren Passkey.
mfa-verify-use-passkey-or-code = Verwenden Sie Ihren Passkey oder einen Code unten.
mfa-verify-passkey-button = Passkey verwenden
mfa-verify-enter-code = Geben Sie den Code aus Ihrer Authenticator-App oder einen Ihrer Wiederherstellungscodes ein.
mfa-verify-manage-passkeys = Passkeys verwalten

recovery-title = Ihre Wiederherstellungscodes
recovery-heading = Wiederherstellungscodes speichern
recovery-renewed = Ihre neuen Wiederherstellungscodes: Die früheren gelten nicht mehr. Wenn Sie Ihr Smartphone verlieren, lässt Sie jeder dieser Codes einmal hinein. Sie werden nur jetzt angezeigt: Bewahren Sie sie sicher auf.
recovery-first = Die Bestätigung in zwei Schritten ist eingeschaltet. Wenn Sie Ihr Smartphone verlieren, lässt Sie jeder dieser Codes einmal hinein. Sie werden nur jetzt angezeigt: Bewahren Sie sie sicher auf.

passkeys-title = Passkeys
passkeys-intro = Mit einem Passkey melden Sie sich per Fingerabdruck, Gesicht oder PIN Ihres Geräts oder mit einem Sicherheitsschlüssel an. Er funktioniert nur auf dieser Website, eine nachgemachte Seite kann ihn also nicht verwenden.
passkeys-name = Name
passkeys-added = Hinzugefügt
passkeys-last-used = Zuletzt verwendet
passkeys-never = nie
passkeys-remove = Entfernen
passkeys-remove-named = { $name } entfernen
passkeys-none = Sie haben noch keine Passkeys.
passkeys-add = Passkey hinzufügen
passkeys-name-placeholder = Laptop, YubiKey…

apps-title = Ihre Apps
apps-until = Zugriff bis { $date }
apps-none = Noch sind keine Apps für Sie freigegeben. Wenn Sie jemand einlädt, erscheint die App hier.
apps-ask-heading = Apps, um die Sie bitten können
apps-ended = Ihr Zugriff endete am { $date }.
apps-pending = Sie haben am { $date } angefragt; die Verantwortlichen haben noch nicht entschieden.
apps-ask = Zugriff anfragen
apps-ask-for = für { $app }
apps-ask-inviter = Fragen Sie die Person, die Sie eingeladen hat.

security-title = Sicherheitsinformationen
security-authenticator = Authenticator-App
security-state-on = Eingerichtet
security-since = seit { $date }
security-locked = Nach zu vielen falschen Codes gesperrt bis { $until }.
security-new-phone = Neues Smartphone? Geben Sie einen Code aus Ihrer bisherigen Authenticator-App ein und scannen Sie dann den neuen Schlüssel.
security-current-code = Aktueller Code
security-replace = Authenticator ersetzen
security-lost-phone = Smartphone verloren? Melden Sie sich mit einem Wiederherstellungscode an, oder wählen Sie bei der Bestätigung „Ich habe meinen Authenticator verloren“: Die Verantwortlichen Ihrer Apps können Ihnen erlauben, einen neuen einzurichten. Auch die Person, die Sie eingeladen hat, kann ihn zurücksetzen.
security-state-pending = Nicht abgeschlossen
security-finish = Einrichtung des Authenticators abschließen
security-state-off = Nicht eingerichtet
security-why = Apps, die einen zweiten Schritt verlangen, lassen Sie einen einrichten. Sie können das jetzt tun.
security-set-up = Authenticator-App einrichten
security-recovery = Wiederherstellungscodes
security-recovery-left = { $count ->
    [one] Noch 1 unbenutzter Wiederherstellungscode.
   *[other] Noch { $count } unbenutzte Wiederherstellungscodes.
}
security-recovery-low = Erstellen Sie neue, bevor sie ausgehen.
security-recovery-new = Neue Codes ersetzen alle früheren und werden einmal angezeigt.
security-recovery-make = Neue Wiederherstellungscodes erstellen
security-sessions = Wo Sie angemeldet sind
security-this-browser = Dieser Browser
security-session = angemeldet mit { $how } am { $started }; endet { $ends }
security-sign-out-others = Überall sonst abmelden ({ $count })
security-only-here = Sie sind nur hier angemeldet.

sign-out-title = Abmelden
signed-out-title = Abgemeldet
signed-out-heading = Sie sind abgemeldet
sign-out-question = Von allen Apps von { $org } in diesem Browser abmelden?
sign-out-stay = Angemeldet bleiben: zurück zu Ihren Apps
signed-out-text = Sie sind in diesem Browser von allen Apps von { $org } abgemeldet.
signed-out-was-using = Sie haben { $app } verwendet.
signed-out-sign-in-app = Erneut bei { $app } anmelden
signed-out-sign-in-other = Bei einer anderen App anmelden
signed-out-idp = Das Konto Ihrer Organisation ist auf diesem Gerät noch angemeldet.
signed-out-idp-link = Auch davon abmelden

manage-apps-title = Ihre Apps als Verantwortliche/r
manage-apps-intro = Wählen Sie eine App, um Gäste einzuladen, ihren Zugriff zu verlängern oder zu beenden und zu sehen, wer sich angemeldet hat.
manage-apps-manage = Gäste verwalten
manage-apps-none = Sie sind hier für keine App verantwortlich. Die Verantwortlichen werden in der Konfiguration des Gateways festgelegt.
manage-app-title = Gäste von { $app }
manage-invite = Gast einladen
manage-email = E-Mail
manage-days = Tage Zugriff
manage-message = Persönliche Nachricht (optional)
manage-language = Sprache der E-Mail
manage-days-note = Der Zugriff beginnt, wenn die Einladung angenommen wird.
manage-send-invitation = Einladung senden
manage-guests = Gäste
manage-col-guest = Gast
manage-col-access = Zugriff
manage-col-mfa = Zweiter Schritt
manage-col-last = Letzte Anmeldung
manage-col-actions = Aktionen
manage-col-invited-by = Eingeladen von
manage-col-link-expires = Link läuft ab
guest-state-blocked = gesperrt
manage-until = bis { $date }
manage-ended = beendet
manage-ended-on = beendet am { $date }
manage-mfa-on = Authenticator eingerichtet
manage-mfa-locked = Gesperrt (falsche Codes)
manage-mfa-pending = Wird eingerichtet
manage-mfa-off = Nicht eingerichtet
manage-never = Nie
manage-add-days = Tage nach dem { $date } hinzufügen
manage-days-from-today = Tage ab heute
manage-extend = Verlängern
manage-end-now = Zugriff jetzt beenden
manage-reset-mfa = MFA zurücksetzen
manage-no-guests = Noch keine Gäste. Laden Sie oben jemanden ein.
manage-pending = Offene Einladungen
manage-send-again = Erneut senden
manage-withdraw = Zurückziehen
manage-no-pending = Keine offenen Einladungen.
manage-requests = Zugriffsanfragen
manage-request-asked = { $email } hat am { $date } angefragt
manage-review = prüfen
manage-no-requests = Keine Anfragen offen.
manage-end-heading = Zugriff von { $guest } beenden?
manage-end-title = Zugriff von { $guest } beenden?
manage-end-what = { $guest } kann { $app } nicht mehr öffnen: Die nächste Seite, die geladen wird, wird innerhalb von Sekunden abgelehnt. Andere Apps sind nicht betroffen.
manage-end-again = Sie können die Person später erneut einladen.

sign-up-title = Zugriff anfragen
sign-up-ask = Bitten Sie { $org } um Zugriff auf { $app }.
sign-up-own-account = Als Nächstes melden Sie sich mit dem Konto Ihrer eigenen Organisation an; { $org } sieht Ihr Passwort nie.
sign-up-form-title = Ihre Anfrage
sign-up-form-intro = Sie fragen als { $email } um Zugriff auf { $app } an.
sign-up-form-required = (erforderlich)
sign-up-form-send = Anfrage senden
sign-up-form-automatic = Der Zugriff beginnt, sobald Sie die Anfrage senden.
sign-up-form-reviewed = Eine verantwortliche Person der App prüft Ihre Anfrage; Sie erhalten die Antwort per E-Mail.
sign-up-idp-note = { $app } nimmt Anfragen von Personen an, die sich mit einem dieser Wege anmelden.
sign-up-review-title = Zugriffsanfrage
sign-up-review-asks = { $requester } bittet um Zugriff auf { $app } (angefragt am { $asked }).
sign-up-review-days = Eine Genehmigung gibt Zugriff für { $days } Tage.
sign-up-review-approve = Genehmigen
sign-up-review-deny = Ablehnen
sign-up-review-decided = Diese Anfrage wurde { $status }.
sign-up-review-decided-by = Diese Anfrage wurde von { $who } { $status }.
passkeys-not-used = Der Passkey wurde nicht verwendet. Versuchen Sie es erneut oder wählen Sie einen anderen Weg.

# Issue 17: security info, ways out, owners
security-new-phone-keeps = Der bisherige funktioniert weiter, bis der neue bestätigt ist.
security-replacing = Sie haben begonnen, ihn zu ersetzen: Ihr bisheriger Authenticator funktioniert weiter. Geben Sie einen Code daraus ein, um den neuen Schlüssel noch einmal zu sehen.
security-session-alone = Angemeldet mit { $how } am { $started }; endet { $ends }
security-you-are-here = Sie sind hier
security-sign-out-session = Abmelden
security-sign-out-which = { $device }, angemeldet am { $started }
security-the-session = die Sitzung
device-browser-on = { $browser } unter { $platform }
device-platform = ein { $platform }-Gerät
mfa-enroll-own = Ihre Authenticator-App für die Bestätigung in zwei Schritten.
mfa-enroll-keep-current = Bisherigen Authenticator behalten
mfa-enroll-not-now-security = Nicht jetzt: zurück zu den Sicherheitsinformationen
mfa-enroll-not-now-sign-out = Nicht jetzt: abmelden
mfa-verify-lost-phone = Smartphone verloren? Geben Sie oben einen Ihrer Wiederherstellungscodes ein.
mfa-verify-sign-out = Nicht Sie? Abmelden
signin-not-you-other-address = Nicht Sie? Andere Adresse verwenden
passkeys-back-to-security = Zurück zu den Sicherheitsinformationen
manage-passkeys = { $count ->
    [one] 1 Passkey
   *[other] { $count } Passkeys
}
manage-managed-by = Verwaltet von { $owners }.
manage-managers-and = {" "}und{" "}
manage-managers-group = der Gruppe { $group } ({ $members })
manage-managers-group-idp = der Gruppe { $group } (ihre Mitglieder laut ihrer Anmeldung)
manage-managers-group-empty = der Gruppe { $group } (noch ohne Mitglieder)

# mfa_lost.html, lost_ask.html, lost_review.html, lost_reenrol.html:
# a lost authenticator (issue 20)
mfa-lost-link = Ich habe meinen Authenticator verloren
mfa-lost-member = Authenticator verloren? Es gilt das Verfahren Ihrer eigenen Organisation: Bitten Sie Ihren IT-Helpdesk, ihn zurückzusetzen.
lost-ask-title = Authenticator verloren?
lost-ask-sent = Wir haben die Verantwortlichen Ihrer Apps um Genehmigung gebeten. Sobald eine oder einer von ihnen zustimmt, erhalten Sie eine E-Mail mit einem Link.
lost-ask-sent-again = Ihre Anfrage liegt noch bei den Verantwortlichen Ihrer Apps. Sobald eine oder einer von ihnen zustimmt, erhalten Sie eine E-Mail mit einem Link.
lost-ask-in-this-browser = in diesem Browser
lost-ask-open-link = Öffnen Sie diesen Link { $here }, innerhalb von 30 Minuten nach der Genehmigung. Mit ihm können Sie einmal einen neuen Authenticator oder Passkey einrichten; der verlorene funktioniert dann nicht mehr.
lost-ask-intro = Wenn Sie die Authenticator-App oder den Passkey, mit dem Sie sich bestätigen, nicht mehr haben, können die Verantwortlichen Ihrer Apps Ihnen erlauben, einen neuen einzurichten. Wir senden ihnen Ihre Anfrage per E-Mail.
lost-ask-intro-app = Wenn Sie die Authenticator-App oder den Passkey, mit dem Sie sich bestätigen, nicht mehr haben, können die Verantwortlichen von { $app } Ihnen erlauben, einen neuen einzurichten. Wir senden ihnen Ihre Anfrage per E-Mail.
lost-ask-how = Sobald eine oder einer von ihnen zustimmt, erhalten Sie eine E-Mail mit einem Link, der einmal funktioniert, 30 Minuten lang und nur in diesem Browser.
lost-ask-button = Einrichtung eines neuen Authenticators anfragen
lost-review-title = Anfrage für einen neuen Authenticator
lost-review-asks = { $guest } hat den Authenticator verloren und möchte einen neuen einrichten (angefragt am { $asked }).
lost-review-asks-app = { $guest } hat den Authenticator verloren und möchte einen neuen einrichten, auf dem Weg zu { $app } (angefragt am { $asked }).
lost-review-note = Genehmigen Sie nur, wenn Sie wissen, dass die Anfrage echt ist: Fragen Sie im Zweifel über einen Weg nach, dem Sie bereits vertrauen. Eine Genehmigung schickt per E-Mail einen Link, der einmal funktioniert, 30 Minuten lang, in dem Browser, in dem angefragt wurde; der verlorene Authenticator und die Passkeys funktionieren nicht mehr, sobald der Link verwendet wird.
lost-review-closed = Diese Anfrage ist nicht mehr offen.
lost-reenrol-title = Neuen Authenticator einrichten
lost-reenrol-done = Ihr verlorener Authenticator und Ihre Passkeys funktionieren nicht mehr. Richten Sie einen neuen Weg ein, zu bestätigen, dass Sie es sind:
lost-reenrol-app = Authenticator-App einrichten
lost-reenrol-intro = Angemeldet als { $email }. Wenn Sie fortfahren, werden Ihr verlorener Authenticator und Ihre Passkeys entfernt, damit Sie neue einrichten können. Dieser Link funktioniert einmal.

# passkey_rename.html, security_passkeys.html, passkey_sign_in.html (issue 20)
passkeys-rename-title = Passkey umbenennen
passkeys-rename-passkey = Passkey
passkeys-rename-new-name = Neuer Name
passkeys-rename-button = Umbenennen
passkeys-count = { $count ->
    [0] Sie haben noch keine Passkeys.
    [one] Sie haben 1 Passkey.
   *[other] Sie haben { $count } Passkeys.
}
passkeys-about = Ein Passkey meldet Sie mit Fingerabdruck, Gesicht oder PIN Ihres Geräts oder mit einem Sicherheitsschlüssel an.
passkeys-too-many = Zu viele Passkey-Versuche. Warten Sie einige Minuten und versuchen Sie es dann erneut.
passkey-sign-in-button = Mit einem Passkey anmelden

# Meldungen aus dem Code des Portals.
msg-link-incomplete = Der Anmeldelink ist unvollständig.
msg-link-expired-title = Anmeldelink abgelaufen
msg-link-expired = Dieser Anmeldelink wurde bereits verwendet oder ist abgelaufen.
msg-code-malformed = Das ist kein Code: Geben Sie die 6 Ziffern ein, die die App anzeigt (oder einen Wiederherstellungscode). Dies zählte nicht als Versuch.
msg-code-wrong-wait = Dieser Code stimmt nicht. Warten Sie, bis die App den nächsten Code anzeigt, und geben Sie diesen ein.
msg-form-wrong-step = Das Formular passt nicht zu diesem Schritt.
msg-code-wrong = Dieser Code stimmt nicht.
msg-code-replayed = Dieser Code wurde bereits verwendet. Warten Sie auf den nächsten.
msg-passkey-refused = Dieser Passkey wurde nicht akzeptiert. Versuchen Sie es erneut.
msg-stronger-add-passkey = Diese App verlangt eine stärkere Art der Bestätigung als einen Code aus einer Authenticator-App: einen Passkey (einen Sicherheitsschlüssel oder Fingerabdruck, Gesicht oder PIN Ihres Geräts) oder die Anmeldung mit einem Organisationskonto, das einen verwendet. Fügen Sie einen Passkey hinzu und öffnen Sie die App dann erneut.
msg-stronger-needed = Diese App verlangt eine phishing-resistente Bestätigung: einen Passkey (einen Sicherheitsschlüssel oder Fingerabdruck, Gesicht oder PIN Ihres Geräts) oder die Anmeldung mit einem Organisationskonto, das einen verwendet. Ein Code aus einer Authenticator-App reicht für diese App nicht.
msg-too-many-title = Zu viele Versuche
msg-mfa-locked = { $minutes ->
    [one] Die Bestätigung in zwei Schritten ist nach zu vielen falschen Codes gesperrt. Versuchen Sie es in 1 Minute erneut (nach { $time } Uhr UTC) oder verwenden Sie dann einen Wiederherstellungscode.
   *[other] Die Bestätigung in zwei Schritten ist nach zu vielen falschen Codes gesperrt. Versuchen Sie es in { $minutes } Minuten erneut (nach { $time } Uhr UTC) oder verwenden Sie dann einen Wiederherstellungscode.
}
msg-not-signed-in-title = Sie sind nicht angemeldet
msg-consent-declined = Ohne Ihre Zustimmung können Sie die für Sie freigegebenen Apps nicht nutzen.
msg-page-expired-title = Diese Seite ist abgelaufen
msg-page-expired = Das Formular wurde nicht von dieser Anmeldeseite gesendet, oder es ist zu alt.
msg-access-subject = Zugriff auf { $app }
msg-passkey-added = Passkey hinzugefügt.
msg-passkey-already = Dieser Authenticator ist bereits registriert.
msg-passkey-not-added = Der Passkey konnte nicht hinzugefügt werden. Versuchen Sie es erneut.
msg-passkey-removed = Passkey entfernt.
msg-passkey-none = Diesen Passkey gibt es nicht.
msg-form-wrong-page = Das Formular passt nicht zu dieser Seite.
msg-verify-first-title = Bestätigen Sie zuerst, dass Sie es sind
msg-verify-first = Sie haben bereits einen zweiten Faktor. Öffnen Sie eine Ihrer Apps und bestätigen Sie, dass Sie es sind; kommen Sie dann zurück, um einen Passkey hinzuzufügen.
msg-not-totp-code = Das ist kein Code: Geben Sie die 6 Ziffern ein, die Ihre Authenticator-App anzeigt. Dies zählte nicht als Versuch.
msg-authenticator-set-up = Ihr neuer Authenticator ist eingerichtet.
msg-others-signed-out = Ihre anderen Sitzungen sind abgemeldet.
msg-authenticator-exists = Sie haben bereits einen Authenticator. Um ihn zu ersetzen, geben Sie unten einen Code daraus ein.
msg-authenticator-locked = Zu viele falsche Codes: Ihr Authenticator ist eine Weile gesperrt. Versuchen Sie es später erneut.
msg-no-authenticator = Sie haben keinen Authenticator eingerichtet.
msg-method-passcode = einem per E-Mail gesendeten Code
msg-method-password = einem Passwort
msg-method-idp = Ihrem Konto bei { $idp }
msg-too-many-codes = Es wurden zu viele Codes angefordert. Warten Sie eine Weile und versuchen Sie es dann erneut.
msg-passcode-wrong = { $left ->
    [one] Dieser Code stimmt nicht. Noch 1 Versuch.
   *[other] Dieser Code stimmt nicht. Noch { $left } Versuche.
}
msg-code-invalid-title = Code nicht mehr gültig
msg-code-invalid = Dieser Code ist abgelaufen oder wurde zu oft versucht. Fordern Sie einen neuen an.
msg-form-incomplete = Das Formular ist unvollständig.
msg-method-not-offered = Dieser Anmeldeweg wird nicht angeboten.
msg-too-many-attempts = Zu viele Versuche. Warten Sie ein paar Minuten und versuchen Sie es dann erneut.
msg-password-wrong = E-Mail-Adresse oder Passwort stimmen nicht.
msg-email-invalid = Geben Sie eine gültige E-Mail-Adresse ein.
msg-no-way-title = Keine Anmeldung möglich
msg-no-way = Für diese E-Mail-Adresse gibt es hier keine Anmeldung. Fragen Sie die Person, die Sie eingeladen hat.
msg-sign-in-with = Mit { $idp } anmelden
msg-email-me-code = Einmalcode per E-Mail senden
notice-invited = Einladung gesendet.
notice-extended-until = Zugriff verlängert. { $who } kann { $app } bis zum { $date } nutzen.
notice-extended-for = Zugriff für { $who } verlängert.
notice-extended = Zugriff verlängert.
notice-ended-for = Zugriff beendet. { $who } kann { $app } nicht mehr öffnen.
notice-ended = Zugriff beendet.
notice-resent = Einladung mit neuem Link erneut gesendet.
notice-revoked = Einladung zurückgezogen.
notice-mfa-reset-for = Die MFA von { $who } wurde zurückgesetzt: Bei der nächsten Anmeldung wird ein neuer Authenticator eingerichtet.
notice-mfa-reset = Die MFA des Gastes wurde zurückgesetzt: Bei der nächsten Anmeldung wird ein neuer Authenticator eingerichtet.
msg-not-your-app-title = Nicht Ihre App
msg-not-your-app = Sie können nur die Gäste der Apps verwalten, für die Sie verantwortlich sind.
msg-choose-action = Wählen Sie eine Aktion.
msg-days-too-far = Tage: { $who } hat bereits Zugriff bis zum { $until }; der Zugriff kann höchstens { $max } Tage ab heute reichen ({ $last }).
msg-days-range = Tage: Geben Sie eine ganze Zahl von 1 bis { $max } ein.
msg-invitation-not-pending = Diese Einladung ist nicht mehr offen (angenommen, zurückgezogen oder abgelaufen).
msg-field-message = Nachricht
msg-host-invalid = Der Hostname ist ungültig.
msg-idp-unavailable-title = Anmeldedienst nicht erreichbar
msg-idp-unavailable = Der Anmeldedienst Ihrer Organisation ist gerade nicht erreichbar. Versuchen Sie es in ein paar Minuten erneut.
msg-brand-unavailable = { $brand } ist gerade nicht erreichbar. Versuchen Sie es in ein paar Minuten erneut.
msg-tenant-title = Ihre Organisation kann sich hier nicht anmelden
msg-tenant = Konten Ihrer Organisation dürfen sich bei diesem Dienst nicht anmelden. Melden Sie sich mit einem anderen Konto an, oder bitten Sie Ihre Kontaktperson, Ihre Organisation zuzulassen.
msg-sign-in-failed-title = Anmeldung fehlgeschlagen
msg-answer-unverified = Die Antwort Ihres Anmeldedienstes konnte nicht überprüft werden.
msg-method-gone = Diesen Anmeldeweg gibt es nicht mehr.
msg-email-unconfirmed-title = E-Mail-Adresse nicht bestätigt
msg-email-unconfirmed = Der Anmeldedienst Ihrer Organisation hat Ihre E-Mail-Adresse nicht bestätigt, daher kann sie keiner Einladung zugeordnet werden. Fragen Sie die IT Ihrer Organisation oder Ihre Kontaktperson hier.
msg-brand-email-unconfirmed = { $brand } hat keine E-Mail-Adresse für Ihr Konto bestätigt, daher kann es keiner Einladung zugeordnet werden. Bestätigen Sie Ihre primäre E-Mail-Adresse bei { $brand } und melden Sie sich dann erneut an.
msg-answer-incomplete = Die Antwort des Anmeldedienstes ist unvollständig.
msg-sign-in-expired-title = Anmeldung abgelaufen
msg-sign-in-expired = Diese Anmeldung wurde bereits abgeschlossen oder hat zu lange gedauert.
msg-other-browser = Diese Anmeldung wurde in einem anderen Browser begonnen. Beginnen Sie hier neu.
msg-idp-said-no = Der Anmeldedienst hat Sie nicht angemeldet.
msg-account-blocked = Ihr Zugriff wurde gesperrt. Wenden Sie sich an die Person, die Sie eingeladen hat.
msg-member-domain-title = Verwenden Sie die Anmeldung Ihrer Organisation
msg-member-domain = Diese Adresse gehört zur eigenen Domain der Organisation. Melden Sie sich mit dem Anmeldedienst der Organisation an, nicht mit dem eines Partners.
msg-not-invited-title = Noch kein Zugriff
msg-not-invited = Sie wurden hier noch zu keiner App eingeladen. Bitten Sie Ihre Kontaktperson, Sie einzuladen.
msg-linked-elsewhere-title = Verwenden Sie das Konto, mit dem Sie sich zuerst angemeldet haben
msg-linked-elsewhere = Diese E-Mail-Adresse ist bereits mit einem anderen Anmeldekonto verknüpft. Melden Sie sich mit diesem an.
msg-no-sign-up-title = Hier keine Anfrage möglich
msg-no-sign-up = Diese App nimmt keine Zugriffsanfragen an. Bitten Sie Ihre Kontaktperson, Sie einzuladen.
msg-no-request-needed-title = Keine Anfrage nötig
msg-no-request-needed = Adressen der Organisation brauchen keine Anfrage: Melden Sie sich mit Ihrem Arbeitskonto an.
msg-domain-not-allowed-title = Für Ihre Adresse nicht verfügbar
msg-domain-not-allowed = Diese App nimmt keine Anfragen von Adressen bei { $domain } an. Bitten Sie Ihre Kontaktperson, Sie einzuladen.
msg-too-many-requests = Zu viele Anfragen aus Ihrem Netzwerk. Warten Sie ein paar Minuten und versuchen Sie es dann erneut.
msg-have-access-title = Sie haben bereits Zugriff
msg-have-access = Sie können { $app } bereits nutzen.
msg-request-sent-title = Anfrage gesendet
msg-request-sent = Ihre Anfrage für { $app } wurde an die Verantwortlichen gesendet. Sie erhalten eine E-Mail, wenn sie entschieden haben.
msg-request-pending-title = Anfrage offen
msg-request-pending = Sie haben bereits um Zugriff auf { $app } gebeten; die Verantwortlichen haben noch nicht entschieden. Sie erhalten eine E-Mail, wenn sie es tun.
msg-request-not-found-title = Anfrage nicht gefunden
msg-request-not-found = Diese Zugriffsanfrage gibt es nicht. Prüfen Sie, ob Sie den ganzen Link aus der E-Mail geöffnet haben.
msg-not-owner-title = Sie sind für diese App nicht verantwortlich
msg-not-owner = Nur die Verantwortlichen dieser App können ihre Zugriffsanfragen prüfen.
msg-approve-or-deny = Wählen Sie Genehmigen oder Ablehnen.
msg-request-approved-title = Anfrage genehmigt
msg-request-approved = Der Zugriff auf { $app } hat begonnen; die Partnerin bzw. der Partner wurde per E-Mail informiert.
msg-request-denied-title = Anfrage abgelehnt
msg-request-denied = Die Partnerin bzw. der Partner wurde per E-Mail informiert.
msg-already-decided-title = Bereits entschieden
request-status-pending = offen
request-status-approved = genehmigt
request-status-denied = abgelehnt
msg-sign-in-refused-title = Anmeldung abgelehnt
msg-sign-in-refused = Ihr Anmeldedienst darf diese E-Mail-Adresse hier nicht anmelden.
msg-passcode-resend-wait-now = Der gerade angeforderte Code ist vielleicht noch unterwegs. Einen neuen können Sie in { $resend_in ->
    [one] 1 Sekunde
   *[other] { $resend_in } Sekunden
} anfordern. Das wurde nicht auf das Limit angerechnet.
msg-passcode-resend-wait = Der vor { $waited } Sekunden angeforderte Code ist vielleicht noch unterwegs. Einen neuen können Sie in { $resend_in ->
    [one] 1 Sekunde
   *[other] { $resend_in } Sekunden
} anfordern. Das wurde nicht auf das Limit angerechnet.
msg-session-signed-out = Diese Sitzung ist abgemeldet.
msg-session-already-ended = Diese Sitzung war bereits beendet.
msg-authenticator-kept = Ihr bisheriger Authenticator bleibt; der neue Schlüssel wurde verworfen.
msg-replacement-code-wrong = Dieser Code stimmt nicht. Warten Sie, bis die App für den neuen Eintrag den nächsten Code anzeigt, und geben Sie diesen ein.
msg-replacement-expired = Der neue Schlüssel hat zu lange gewartet und wurde verworfen; Ihr bisheriger Authenticator funktioniert weiter. Beginnen Sie unten neu.


# A lost authenticator (gateway/src/portal/recovery.rs, issue 20)
msg-lost-member-title = Fragen Sie Ihre Organisation
msg-lost-member = Sie melden sich mit dem Konto Ihrer eigenen Organisation an, daher gilt deren Verfahren: Bitten Sie Ihren IT-Helpdesk, Ihren Authenticator zurückzusetzen.
msg-lost-verified-title = Sie sind bereits bestätigt
msg-lost-verified = Sie haben in dieser Sitzung bereits bestätigt, dass Sie es sind: Ersetzen Sie Ihren Authenticator oder fügen Sie einen Passkey auf Ihrer Seite mit den Sicherheitsinformationen hinzu.
msg-lost-too-often = Sie haben zu oft angefragt. Warten Sie einen Tag, oder wenden Sie sich direkt an Ihre Ansprechperson.
msg-lost-no-approver-title = Niemand hier kann dies genehmigen
msg-lost-no-approver = Keine Ihrer Apps hat Verantwortliche, die Ihnen erlauben könnten, einen neuen Authenticator einzurichten. Fragen Sie die Person, die Sie eingeladen hat.
msg-lost-not-found = Diese Anfrage gibt es nicht. Prüfen Sie, ob Sie den vollständigen Link aus der E-Mail geöffnet haben.
msg-lost-choose = Wählen Sie Genehmigen oder Ablehnen.
msg-lost-approved-title = Anfrage genehmigt
msg-lost-approved = Der Gast hat einen Link erhalten, um einen neuen Authenticator einzurichten. Er funktioniert einmal, 30 Minuten lang, in dem Browser, in dem angefragt wurde.
msg-lost-denied-title = Anfrage abgelehnt
msg-lost-denied = Der Gast wurde per E-Mail benachrichtigt.
msg-lost-decided-title = Bereits entschieden
msg-lost-decided = Über diese Anfrage wurde bereits entschieden, oder sie ist abgelaufen. Der Gast kann erneut anfragen.
msg-lost-not-approver-title = Nicht Ihre Entscheidung
msg-lost-not-approver = Nur die Verantwortlichen der Apps dieses Gastes (oder wer ihn eingeladen hat) können diese Anfrage genehmigen.
msg-lost-link-used-title = Dieser Link wurde bereits verwendet
msg-lost-link-used = Jeder Link funktioniert einmal. Wenn Sie nicht fertig geworden sind, fragen Sie auf der Seite für die Bestätigung erneut an.
msg-lost-link-expired-title = Dieser Link ist abgelaufen
msg-lost-link-expired = Der Link funktionierte 30 Minuten lang nach der Genehmigung. Fragen Sie auf der Seite für die Bestätigung erneut an.
msg-lost-other-browser-title = Öffnen Sie den Link in dem Browser, in dem Sie angefragt haben
msg-lost-other-browser = Zu Ihrer Sicherheit funktioniert der Link nur in dem Browser, in dem Sie ihn angefragt haben. Öffnen Sie ihn dort, oder fragen Sie in diesem Browser erneut an.
msg-lost-other-user-title = Dieser Link ist für jemand anderen
msg-lost-other-user = Sie sind mit einem anderen Konto angemeldet als dem, das angefragt hat. Melden Sie sich ab und dann mit diesem Konto an.
msg-lost-link-unknown-title = Link nicht gefunden
msg-lost-link-unknown = Dieser Link funktioniert nicht. Prüfen Sie, ob Sie den vollständigen Link aus der E-Mail geöffnet haben.

# Passkeys (gateway/src/portal/passkeys_page.rs, signin/passkey.rs)
msg-passkey-renamed = Passkey umbenannt.
msg-passkey-org-title = Melden Sie sich mit dem Konto Ihrer Organisation an
msg-passkey-org = Ihr Konto meldet sich über den Anmeldedienst Ihrer eigenen Organisation an. Geben Sie Ihre E-Mail-Adresse ein, um fortzufahren.
msg-passkey-sign-in-refused = Dieser Passkey wurde nicht akzeptiert. Versuchen Sie es erneut, oder geben Sie Ihre E-Mail-Adresse ein.
msg-method-passkey = einem Passkey

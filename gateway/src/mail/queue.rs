//! Mail sent after the answer. A request queues its message here and
//! answers at once; a background task sends it. So the request takes the
//! same time whether there is a mail to send or not, and however slow the
//! relay is: a passcode sent inside the request made a known address ~2 s
//! and an unknown one ~3 ms with a slow SMTP server (issue 14 finding 3).
//!
//! Bounded both ways: at most [`CAPACITY`] messages wait (a full queue
//! refuses the next one at once instead of holding memory without end), and
//! at most [`SENDING`] are sent at the same time (a hanging relay ties up
//! that many connections, each until the mail timeout). A message that
//! cannot be sent is not retried: the caller's `on_failure` runs (it logs
//! and counts) and the person asks again.

use super::{MailError, Mailer, Message};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Messages that may wait to be sent.
pub const CAPACITY: usize = 1024;
/// Messages sent at the same time.
pub const SENDING: usize = 4;
/// How long a message waits before it is sent. The request that queued it
/// has answered by then, so not even the CPU the mail takes (rendering,
/// the TLS handshake) falls within the answer's time on a busy machine;
/// for an e-mail the pause is nothing.
pub const AFTER_ANSWER: Duration = Duration::from_millis(100);

/// What the caller does when its message was not sent: runs on the
/// sending task, after the request has been answered.
type OnFailure = Box<dyn FnOnce(&MailError) + Send>;

struct Job {
    to: String,
    /// `None`: the organisation's language.
    lang: Option<crate::i18n::Lang>,
    message: Message,
    on_failure: OnFailure,
}

/// The queue's sending end. Cheap to clone; the sending task ends once
/// every clone is dropped and the waiting messages are sent.
#[derive(Clone)]
pub struct MailQueue {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for MailQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailQueue")
            .field("waiting", &(CAPACITY - self.jobs.capacity()))
            .finish()
    }
}

impl MailQueue {
    /// Starts the sending task for `mailer` on the current tokio runtime,
    /// which must outlive the queue (the server builds it on its
    /// background runtime, which lives as long as the process).
    pub fn start(mailer: Mailer) -> MailQueue {
        let (jobs, mut waiting) = mpsc::channel::<Job>(CAPACITY);
        let sending = Arc::new(Semaphore::new(SENDING));
        tokio::spawn(async move {
            while let Some(job) = waiting.recv().await {
                // The semaphore is never closed: this waits for a free slot.
                let Ok(slot) = sending.clone().acquire_owned().await else {
                    return;
                };
                tokio::spawn(send(mailer.clone(), job, slot));
            }
        });
        MailQueue { jobs }
    }

    /// Queues `message` to `to` and returns at once, without I/O. When the
    /// message is not sent (the queue is full, the address is refused, the
    /// relay fails or times out), `on_failure` gets the error, here for a
    /// full queue, else later on the sending task. Never put the message
    /// (codes, links) in what `on_failure` logs.
    pub fn push(
        &self,
        to: &str,
        message: Message,
        on_failure: impl FnOnce(&MailError) + Send + 'static,
    ) {
        self.push_in(to, None, message, on_failure);
    }

    /// [`MailQueue::push`] in `lang` (`None`: the organisation's).
    pub fn push_in(
        &self,
        to: &str,
        lang: Option<crate::i18n::Lang>,
        message: Message,
        on_failure: impl FnOnce(&MailError) + Send + 'static,
    ) {
        let job = Job {
            to: to.to_string(),
            lang,
            message,
            on_failure: Box::new(on_failure),
        };
        let (job, error) = match self.jobs.try_send(job) {
            Ok(()) => return,
            Err(TrySendError::Full(job)) => (job, MailError::NotQueued("the mail queue is full")),
            Err(TrySendError::Closed(job)) => {
                (job, MailError::NotQueued("the mail queue has stopped"))
            }
        };
        tracing::warn!(kind = job.message.kind(), to = %job.to, error = %error, "mail not sent");
        (job.on_failure)(&error);
    }
}

/// Sends one queued message (`Mailer::send` logs the outcome) after
/// [`AFTER_ANSWER`], holding a sending slot until done.
async fn send(mailer: Mailer, job: Job, _slot: OwnedSemaphorePermit) {
    tokio::time::sleep(AFTER_ANSWER).await;
    if let Err(e) = mailer.send_in(&job.to, job.lang, &job.message).await {
        (job.on_failure)(&e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{DEFAULT_TIMEOUT, MailConfig, Smtp, SmtpTls, Transport};
    use std::sync::Mutex;
    use std::time::Instant;

    fn mailer(transport: Transport, timeout: Duration) -> Mailer {
        let cfg = MailConfig {
            from: "noreply@tailwindtraders.com".parse().expect("from"),
            transport,
            timeout,
        };
        Mailer::new(&cfg, "Tailwind Traders").expect("mailer")
    }

    fn passcode() -> Message {
        Message::Passcode {
            code: "48291377".into(),
            valid_minutes: 10,
        }
    }

    /// Collects the errors `on_failure` got.
    #[derive(Clone, Default)]
    struct Failures(Arc<Mutex<Vec<String>>>);

    impl Failures {
        fn hook(&self) -> impl FnOnce(&MailError) + Send + 'static {
            let seen = self.0.clone();
            move |e: &MailError| seen.lock().expect("lock").push(e.to_string())
        }

        fn seen(&self) -> Vec<String> {
            self.0.lock().expect("lock").clone()
        }
    }

    async fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        while !done() {
            if start.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    #[tokio::test]
    async fn a_queued_message_reaches_the_outbox_after_push_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = MailQueue::start(mailer(
            Transport::Outbox(dir.path().to_path_buf()),
            DEFAULT_TIMEOUT,
        ));
        let failures = Failures::default();
        queue.push("anna@contoso.com", passcode(), failures.hook());
        let count = || std::fs::read_dir(dir.path()).map_or(0, |d| d.count());
        assert!(wait_for(Duration::from_secs(5), || count() == 1).await);
        assert!(failures.seen().is_empty());
    }

    /// The reason for the queue: a relay that never answers does not hold
    /// up `push`; its failure reaches `on_failure` after the mail timeout.
    #[tokio::test]
    async fn push_does_not_wait_for_a_hanging_relay() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = silent.local_addr().expect("addr").port();
        let smtp = Smtp {
            host: "127.0.0.1".into(),
            port,
            tls: SmtpTls::None,
            credentials: None,
        };
        let queue = MailQueue::start(mailer(Transport::Smtp(smtp), Duration::from_secs(1)));
        let failures = Failures::default();
        let started = Instant::now();
        for _ in 0..3 {
            queue.push("anna@contoso.com", passcode(), failures.hook());
        }
        assert!(started.elapsed() < Duration::from_millis(50));
        let failed = || failures.seen().len() == 3;
        assert!(wait_for(Duration::from_secs(5), failed).await);
        let seen = failures.seen();
        assert!(
            seen.iter()
                .all(|e| e.contains("longer than") || e.contains("SMTP")),
            "{seen:?}"
        );
        assert!(
            !seen.iter().any(|e| e.contains("48291377")),
            "no code in errors"
        );
        drop(silent);
    }

    /// A full queue refuses at once: on a current-thread runtime the
    /// sending task cannot take anything until this test yields.
    #[tokio::test]
    async fn a_full_queue_refuses_the_next_message_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let queue = MailQueue::start(mailer(
            Transport::Outbox(dir.path().to_path_buf()),
            DEFAULT_TIMEOUT,
        ));
        let failures = Failures::default();
        // Refused addresses: each fails at once when its turn comes.
        for _ in 0..CAPACITY {
            queue.push("not an address", passcode(), failures.hook());
        }
        assert!(failures.seen().is_empty(), "all {CAPACITY} wait");
        queue.push("anna@contoso.com", passcode(), failures.hook());
        assert_eq!(failures.seen(), ["not sent: the mail queue is full"]);
        // Once the task has taken some, there is room again.
        let taken = || failures.seen().len() > 1;
        assert!(wait_for(Duration::from_secs(10), taken).await);
        queue.push("anna@contoso.com", passcode(), failures.hook());
        let full = failures
            .seen()
            .iter()
            .filter(|e| e.contains("full"))
            .count();
        assert_eq!(full, 1, "{:?}", failures.seen());
    }
}

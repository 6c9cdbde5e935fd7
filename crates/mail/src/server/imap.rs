//! The IMAP side: one session on the account's mailbox, opened on demand and dropped on any
//! error (the next operation reconnects). Reads by UID after a caller-kept cursor; sets no flags
//! but `\Deleted` (bodies are fetched with `BODY.PEEK[]`), so several devices can share the
//! mailbox.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use async_imap::types::{Flag, UnsolicitedResponse};
use async_imap::{Client, Session};
use futures_util::TryStreamExt as _;
use tokio::time::Instant;
use tokio_rustls::rustls::ClientConfig;
use zeroize::Zeroizing;

use super::error::ServerErrorKind;
use super::net::{self, Stream, timed};
use super::settings::{Endpoint, Security};
use crate::carrier::{Batch, FetchedMail, Skipped};
use crate::cursor::{Cursor, MailId};
use crate::error::SkipReason;
use crate::spool::{BatchLimits, MAX_MAIL_SIZE};

/// How often [`Imap::wait_once`] looks at the mailbox when the server has no IDLE.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// An open, logged-in session with the mailbox selected.
struct Live {
    session: Session<Stream>,
    /// The mailbox's UIDVALIDITY at SELECT.
    validity: u32,
    /// The server offers IDLE (RFC 2177).
    idle: bool,
    /// The server offers UID EXPUNGE (UIDPLUS, RFC 4315).
    uidplus: bool,
    /// Where async-imap puts untagged responses that came outside the command that asked.
    unsolicited: async_channel::Receiver<UnsolicitedResponse>,
}

/// The IMAP client of one account.
pub(crate) struct Imap {
    endpoint: Endpoint,
    login: String,
    password: Zeroizing<String>,
    mailbox: String,
    tls: Arc<ClientConfig>,
    use_idle: bool,
    live: Option<Live>,
}

/// Maps an async-imap error: I/O and lost connections are the network's, the rest the
/// server's answers.
fn imap_error(error: async_imap::error::Error) -> ServerErrorKind {
    use async_imap::error::Error;
    match error {
        Error::Io(e) => ServerErrorKind::Connection(e.to_string()),
        Error::ConnectionLost => ServerErrorKind::Connection("closed by the server".to_owned()),
        Error::No(text) => ServerErrorKind::Protocol(format!("NO {}", server_text(&text))),
        Error::Bad(text) => ServerErrorKind::Protocol(format!("BAD {}", server_text(&text))),
        other => ServerErrorKind::Protocol(other.to_string()),
    }
}

/// The server's own words in async-imap's rendering of a NO or BAD response
/// (`code: ..., info: Some("...")`), or the rendering itself.
fn server_text(rendered: &str) -> String {
    rendered
        .split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map(|(info, _)| info.replace("\\\"", "\""))
        .unwrap_or_else(|| rendered.to_owned())
}

impl Imap {
    pub(crate) fn new(
        endpoint: Endpoint,
        login: String,
        password: Zeroizing<String>,
        mailbox: String,
        tls: Arc<ClientConfig>,
        use_idle: bool,
    ) -> Imap {
        Imap {
            endpoint,
            login,
            password,
            mailbox,
            tls,
            use_idle,
            live: None,
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Forgets the session (after an error, or to force a reconnection).
    pub(crate) fn drop_session(&mut self) {
        self.live = None;
    }

    /// The open session, connecting, logging in and selecting first if needed.
    async fn live(&mut self) -> Result<&mut Live, ServerErrorKind> {
        if self.live.is_none() {
            let live = self.connect().await?;
            self.live = Some(live);
        }
        self.live
            .as_mut()
            .ok_or_else(|| ServerErrorKind::Connection("no session".to_owned()))
    }

    async fn connect(&self) -> Result<Live, ServerErrorKind> {
        let Endpoint {
            host,
            port,
            security,
        } = &self.endpoint;
        let tcp = net::tcp(host, *port, *security).await?;
        let client = match security {
            Security::Tls => {
                let mut client = Client::new(net::tls(tcp, host, &self.tls).await?);
                greeting(&mut client).await?;
                client
            }
            Security::Plain => {
                let mut client = Client::new(Stream::Plain(tcp));
                greeting(&mut client).await?;
                client
            }
            Security::StartTls => {
                let mut client = Client::new(Stream::Plain(tcp));
                greeting(&mut client).await?;
                timed(async {
                    client
                        .run_command_and_check_ok("STARTTLS", None)
                        .await
                        .map_err(|e| ServerErrorKind::NoStartTls(e.to_string()))
                })
                .await?;
                let Stream::Plain(tcp) = client.into_inner() else {
                    return Err(ServerErrorKind::Setup(
                        "STARTTLS on a TLS stream".to_owned(),
                    ));
                };
                Client::new(net::tls(tcp, host, &self.tls).await?)
            }
        };
        let mut session = timed(async {
            client
                .login(&self.login, self.password.as_str())
                .await
                .map_err(|(e, _)| match e {
                    async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                        ServerErrorKind::Login(server_text(&text))
                    }
                    other => imap_error(other),
                })
        })
        .await?;
        let capabilities =
            timed(async { session.capabilities().await.map_err(imap_error) }).await?;
        let idle = capabilities.has_str("IDLE");
        let uidplus = capabilities.has_str("UIDPLUS");
        let mailbox =
            timed(async { session.select(&self.mailbox).await.map_err(imap_error) }).await?;
        let validity = mailbox.uid_validity.ok_or_else(|| {
            ServerErrorKind::Protocol(format!("SELECT {} gave no UIDVALIDITY", self.mailbox))
        })?;
        let unsolicited = session.unsolicited_responses.clone();
        Ok(Live {
            session,
            validity,
            idle,
            uidplus,
            unsolicited,
        })
    }

    /// Logs in and selects the mailbox if not done yet (to check the settings).
    pub(crate) async fn check(&mut self) -> Result<(), ServerErrorKind> {
        self.live().await.map(|_| ())
    }

    /// One fetch attempt: see [`Carrier::fetch`](crate::Carrier::fetch).
    pub(crate) async fn fetch_once(
        &mut self,
        after: Option<&Cursor>,
        limits: BatchLimits,
    ) -> Result<Batch, ServerErrorKind> {
        let live = self.live().await?;
        let validity = live.validity;
        let last = after.map_or(0, |cursor| cursor.imap_position(validity));
        let mut batch = Batch {
            mails: Vec::new(),
            skipped: Vec::new(),
            cursor: Cursor::imap(validity, last),
            more: false,
        };
        let Some(start) = last.checked_add(1) else {
            return Ok(batch);
        };

        // Sizes and flags of everything after the cursor, in UID order. ("n:*" also names the
        // last mail when n is beyond it: hence the filter.)
        let listed: Vec<(u32, u32, bool)> = timed(async {
            let stream = live
                .session
                .uid_fetch(format!("{start}:*"), "(UID RFC822.SIZE FLAGS)")
                .await
                .map_err(imap_error)?;
            let fetches: Vec<_> = stream.try_collect().await.map_err(imap_error)?;
            Ok(fetches
                .iter()
                .filter_map(|f| {
                    let deleted = f.flags().any(|flag| flag == Flag::Deleted);
                    Some((f.uid?, f.size?, deleted))
                })
                .collect())
        })
        .await?;
        let listed: BTreeMap<u32, (u32, bool)> = listed
            .into_iter()
            .filter(|(uid, _, _)| *uid > last)
            .map(|(uid, size, deleted)| (uid, (size, deleted)))
            .collect();

        let max_mails = limits.max_mails.max(1);
        let max_size = u32::try_from(MAX_MAIL_SIZE).unwrap_or(u32::MAX);
        let mut chosen: Vec<u32> = Vec::new();
        let mut bytes: usize = 0;
        let mut end = last;
        for (&uid, &(size, deleted)) in &listed {
            if chosen.len() + batch.skipped.len() >= max_mails {
                batch.more = true;
                break;
            }
            if deleted {
                // Being erased by another device (or client): not news for anybody.
                end = uid;
                continue;
            }
            if size > max_size {
                batch.skipped.push(Skipped {
                    id: MailId::imap(validity, uid),
                    reason: SkipReason::TooLarge {
                        size: u64::from(size),
                        limit: u64::from(max_size),
                    },
                });
                end = uid;
                continue;
            }
            let total = bytes.saturating_add(usize::try_from(size).unwrap_or(usize::MAX));
            if !chosen.is_empty() && total > limits.max_bytes {
                batch.more = true;
                break;
            }
            bytes = total;
            chosen.push(uid);
            end = uid;
        }

        if !chosen.is_empty() {
            let set = chosen
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let wanted: BTreeSet<u32> = chosen.iter().copied().collect();
            let mut bodies: BTreeMap<u32, Vec<u8>> = timed(async {
                let stream = live
                    .session
                    .uid_fetch(&set, "(UID BODY.PEEK[])")
                    .await
                    .map_err(imap_error)?;
                let fetches: Vec<_> = stream.try_collect().await.map_err(imap_error)?;
                Ok(fetches
                    .iter()
                    .filter_map(|f| {
                        let uid = f.uid.filter(|uid| wanted.contains(uid))?;
                        Some((uid, f.body()?.to_vec()))
                    })
                    .collect())
            })
            .await?;
            for uid in chosen {
                // Absent: expunged since the listing (another device erased it).
                if let Some(raw) = bodies.remove(&uid) {
                    if raw.len() > MAX_MAIL_SIZE {
                        batch.skipped.push(Skipped {
                            id: MailId::imap(validity, uid),
                            reason: SkipReason::TooLarge {
                                size: u64::try_from(raw.len()).unwrap_or(u64::MAX),
                                limit: u64::from(max_size),
                            },
                        });
                        continue;
                    }
                    batch.mails.push(FetchedMail {
                        id: MailId::imap(validity, uid),
                        raw,
                        cursor: Cursor::imap(validity, uid),
                    });
                }
            }
        }
        batch.cursor = Cursor::imap(validity, end);
        Ok(batch)
    }

    /// One delete attempt: `UID STORE +FLAGS.SILENT (\Deleted)`, then `UID EXPUNGE` of those
    /// UIDs (or `EXPUNGE` without UIDPLUS). `uids` is an IMAP UID set (`7` or `3,5,9`). Mail of
    /// another UIDVALIDITY is gone already.
    pub(crate) async fn delete_once(
        &mut self,
        validity: u32,
        uids: &str,
    ) -> Result<(), ServerErrorKind> {
        let live = self.live().await?;
        if live.validity != validity {
            return Ok(());
        }
        let uidplus = live.uidplus;
        let session = &mut live.session;
        timed(async {
            let stream = session
                .uid_store(uids, "+FLAGS.SILENT (\\Deleted)")
                .await
                .map_err(imap_error)?;
            let _: Vec<_> = stream.try_collect().await.map_err(imap_error)?;
            if uidplus {
                let stream = session.uid_expunge(uids).await.map_err(imap_error)?;
                let _: Vec<_> = stream.try_collect().await.map_err(imap_error)?;
            } else {
                let stream = session.expunge().await.map_err(imap_error)?;
                let _: Vec<_> = stream.try_collect().await.map_err(imap_error)?;
            }
            Ok(())
        })
        .await
    }

    /// Whether the mailbox holds mail after `seen` (the end of the last batch; `None`: any).
    async fn has_new(live: &mut Live, seen: Option<&Cursor>) -> Result<bool, ServerErrorKind> {
        let last = match seen {
            None => 0,
            Some(cursor) => {
                let last = cursor.imap_position(live.validity);
                if last == 0 && *cursor != Cursor::imap(live.validity, 0) {
                    // A cursor of another UIDVALIDITY (or carrier): everything is new.
                    return Ok(true);
                }
                last
            }
        };
        let Some(start) = last.checked_add(1) else {
            return Ok(false);
        };
        let session = &mut live.session;
        let uids = timed(async {
            // NOOP first: the server reports what was delivered since the last command.
            session.noop().await.map_err(imap_error)?;
            session
                .uid_search(format!("UID {start}:*"))
                .await
                .map_err(imap_error)
        })
        .await?;
        Ok(uids.iter().any(|uid| *uid > last))
    }

    /// Waits until mail after `seen` may be there or `deadline` passes: IDLE if offered (and
    /// wanted), polling otherwise. Returns early, with `Ok`, when an IDLE session breaks: the
    /// caller fetches next, which reconnects.
    pub(crate) async fn wait_once(
        &mut self,
        seen: Option<&Cursor>,
        deadline: Instant,
    ) -> Result<(), ServerErrorKind> {
        let use_idle = self.use_idle;
        let live = self.live().await?;
        if Self::has_new(live, seen).await? {
            return Ok(());
        }
        if !(use_idle && live.idle) {
            loop {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(());
                }
                tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
                let live = self.live().await?;
                if Self::has_new(live, seen).await? {
                    return Ok(());
                }
            }
        }
        // IDLE. The session moves into the IDLE handle and comes back after DONE; if anything
        // fails on the way, it is dropped and the next operation reconnects.
        let Some(Live {
            session,
            validity,
            idle,
            uidplus,
            unsolicited,
        }) = self.live.take()
        else {
            return Ok(());
        };
        while unsolicited.try_recv().is_ok() {}
        let mut handle = session.idle();
        timed(async { handle.init().await.map_err(imap_error) }).await?;
        // Mail announced between the search above and the start of IDLE.
        let mut news = false;
        while let Ok(response) = unsolicited.try_recv() {
            news |= matches!(
                response,
                UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
            );
        }
        if !news {
            let left = deadline.saturating_duration_since(Instant::now());
            let (idle_wait, _stop) = handle.wait_with_timeout(left);
            match tokio::time::timeout(left, idle_wait).await {
                // New data, the timeout, or a manual interrupt: all end the wait.
                Ok(Ok(_)) | Err(_) => {}
                Ok(Err(error)) => return Err(imap_error(error)),
            }
        }
        let session = timed(async { handle.done().await.map_err(imap_error) }).await?;
        self.live = Some(Live {
            session,
            validity,
            idle,
            uidplus,
            unsolicited,
        });
        Ok(())
    }
}

/// Reads the server greeting.
async fn greeting(client: &mut Client<Stream>) -> Result<(), ServerErrorKind> {
    timed(async {
        match client.read_response().await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(ServerErrorKind::Connection(
                "closed before the greeting".to_owned(),
            )),
            Err(e) => Err(ServerErrorKind::Connection(e.to_string())),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::server_text;

    #[test]
    fn server_words_from_async_imap_renderings() {
        assert_eq!(
            server_text(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(server_text("something else"), "something else");
    }
}

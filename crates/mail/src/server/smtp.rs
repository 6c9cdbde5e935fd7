//! The SMTP side: one submission connection per send (connect, STARTTLS if asked, AUTH,
//! envelope, data, QUIT). Recipients are offered one by one first, so that each refused one is
//! reported with the server's reply; the mail then goes to the accepted ones only.

use std::sync::Arc;

use async_smtp::authentication::{Credentials, Mechanism};
use async_smtp::commands::{MailCommand, RcptCommand, RsetCommand};
use async_smtp::error::Error as SmtpError;
use async_smtp::response::Response;
use async_smtp::{EmailAddress, Envelope, SendableEmail, SmtpClient, SmtpTransport};
use tokio::io::BufStream;
use tokio_rustls::rustls::ClientConfig;
use zeroize::Zeroizing;

use super::error::ServerErrorKind;
use super::net::{self, Stream, timed};
use super::settings::{Endpoint, Security};
use crate::address::Address;
use crate::error::{DeliveryError, RecipientFailure};

type Transport = SmtpTransport<BufStream<Stream>>;

/// One mail of [`Smtp::send_batch`]: its valid recipients (spelling, address), deduplicated,
/// and its raw bytes.
pub(crate) type Submission<'a> = (Vec<(String, Address)>, &'a [u8]);

/// The SMTP client of one account.
pub(crate) struct Smtp {
    endpoint: Endpoint,
    login: String,
    password: Zeroizing<String>,
    tls: Arc<ClientConfig>,
}

/// What one submission did, when the session itself worked.
pub(crate) struct Outcome {
    /// Recipients that got it, as the caller spelled them.
    pub(crate) delivered: Vec<String>,
    /// Recipients the server refused, with its reply.
    pub(crate) failed: Vec<RecipientFailure>,
}

/// The reply's code as a number and its text.
fn reply(response: &Response) -> (u16, String) {
    (
        response.code.to_string().parse().unwrap_or(0),
        response.message.join(" "),
    )
}

/// An SMTP error as this crate's: a refusal (4xx/5xx reply) or a failure of the session.
enum Failure {
    Refused(u16, String),
    Session(ServerErrorKind),
}

fn classify(error: SmtpError) -> Failure {
    match error {
        SmtpError::Transient(response) | SmtpError::Permanent(response) => {
            let (code, text) = reply(&response);
            Failure::Refused(code, text)
        }
        SmtpError::Io(e) => Failure::Session(ServerErrorKind::Connection(e.to_string())),
        SmtpError::Timeout(_) => {
            Failure::Session(ServerErrorKind::Timeout(net::IO_TIMEOUT.as_secs()))
        }
        other => Failure::Session(ServerErrorKind::Protocol(other.to_string())),
    }
}

fn session_error(error: SmtpError) -> ServerErrorKind {
    match classify(error) {
        Failure::Refused(code, text) => ServerErrorKind::Protocol(format!("{code} {text}")),
        Failure::Session(kind) => kind,
    }
}

impl Smtp {
    pub(crate) fn new(
        endpoint: Endpoint,
        login: String,
        password: Zeroizing<String>,
        tls: Arc<ClientConfig>,
    ) -> Smtp {
        Smtp {
            endpoint,
            login,
            password,
            tls,
        }
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Connects, secures and authenticates a session.
    async fn open(&self) -> Result<Transport, ServerErrorKind> {
        let Endpoint {
            host,
            port,
            security,
        } = &self.endpoint;
        let tcp = net::tcp(host, *port, *security).await?;
        let client = || SmtpClient::new();
        let mut transport = match security {
            Security::Tls => {
                let stream = net::tls(tcp, host, &self.tls).await?;
                timed(async {
                    Transport::new(client(), BufStream::new(stream))
                        .await
                        .map_err(session_error)
                })
                .await?
            }
            Security::Plain => {
                timed(async {
                    Transport::new(client(), BufStream::new(Stream::Plain(tcp)))
                        .await
                        .map_err(session_error)
                })
                .await?
            }
            Security::StartTls => {
                let plain = timed(async {
                    Transport::new(client(), BufStream::new(Stream::Plain(tcp)))
                        .await
                        .map_err(session_error)
                })
                .await?;
                let inner = timed(async {
                    plain
                        .starttls()
                        .await
                        .map_err(|e| ServerErrorKind::NoStartTls(e.to_string()))
                })
                .await?;
                let Stream::Plain(tcp) = inner.into_inner() else {
                    return Err(ServerErrorKind::Setup(
                        "STARTTLS on a TLS stream".to_owned(),
                    ));
                };
                let stream = net::tls(tcp, host, &self.tls).await?;
                timed(async {
                    Transport::new(client().without_greeting(), BufStream::new(stream))
                        .await
                        .map_err(session_error)
                })
                .await?
            }
        };
        let credentials = Credentials::new(self.login.clone(), self.password.as_str().to_owned());
        let mut refusal = String::new();
        for mechanism in [Mechanism::Plain, Mechanism::Login] {
            match timed(async { Ok(transport.auth(mechanism, &credentials).await) }).await? {
                Ok(_) => return Ok(transport),
                Err(error) => match classify(error) {
                    // 535: the credentials are wrong; another mechanism will not change that.
                    Failure::Refused(535, text) => {
                        return Err(ServerErrorKind::Login(format!("535 {text}")));
                    }
                    Failure::Refused(code, text) => refusal = format!("{code} {text}"),
                    Failure::Session(kind) => return Err(kind),
                },
            }
        }
        Err(ServerErrorKind::Login(refusal))
    }

    /// Logs in once (to check the settings).
    pub(crate) async fn check(&self) -> Result<(), ServerErrorKind> {
        let mut transport = self.open().await?;
        let _ = timed(async { transport.quit().await.map_err(session_error) }).await;
        Ok(())
    }

    /// Submits several mails from `from` over one session (one connection, TLS handshake and
    /// login instead of one per mail): one result per mail, in order (`Err`: the session
    /// failed and nobody got that mail). Between mails the session is reset (`RSET`), so a
    /// refused mail leaves nothing behind for the next. A session that fails is dropped and the next mail opens a new
    /// one; if that cannot be opened, the remaining mails fail with the reason, unsent (the
    /// caller keeps them queued).
    pub(crate) async fn send_batch(
        &self,
        from: &Address,
        mails: &[Submission<'_>],
    ) -> Vec<Result<Outcome, ServerErrorKind>> {
        let mut results = Vec::with_capacity(mails.len());
        let mut session: Option<Transport> = None;
        let mut unreachable: Option<String> = None;
        for (recipients, raw) in mails {
            if let Some(why) = &unreachable {
                results.push(Err(ServerErrorKind::Connection(format!(
                    "not tried: {why}"
                ))));
                continue;
            }
            let mut transport = match session.take() {
                Some(mut transport) => {
                    let reset = timed(async {
                        transport
                            .get_mut()
                            .command(RsetCommand)
                            .await
                            .map_err(session_error)
                    })
                    .await;
                    match reset {
                        Ok(_) => transport,
                        Err(_) => match self.open().await {
                            Ok(transport) => transport,
                            Err(kind) => {
                                unreachable = Some(kind.to_string());
                                results.push(Err(kind));
                                continue;
                            }
                        },
                    }
                }
                None => match self.open().await {
                    Ok(transport) => transport,
                    Err(kind) => {
                        unreachable = Some(kind.to_string());
                        results.push(Err(kind));
                        continue;
                    }
                },
            };
            let outcome = submit(&mut transport, from, recipients, raw).await;
            if outcome.is_ok() {
                session = Some(transport);
            }
            results.push(outcome);
        }
        if let Some(mut transport) = session {
            let _ = timed(async { transport.quit().await.map_err(session_error) }).await;
        }
        results
    }
}

/// One mail on an open session: the recipients offered one by one (`MAIL`, `RCPT`s, `RSET`),
/// then the mail to those accepted. Leaves the session open. `Err` means the session failed
/// and nobody got the mail.
async fn submit(
    transport: &mut Transport,
    from: &Address,
    recipients: &[(String, Address)],
    raw: &[u8],
) -> Result<Outcome, ServerErrorKind> {
    let sender = EmailAddress::new(from.to_string())
        .map_err(|e| ServerErrorKind::Protocol(e.to_string()))?;
    let refuse_all = |code: u16, text: &str, who: &[(String, Address)]| Outcome {
        delivered: Vec::new(),
        failed: who
            .iter()
            .map(|(spelled, _)| RecipientFailure {
                recipient: spelled.clone(),
                error: DeliveryError::Refused {
                    code,
                    reply: text.to_owned(),
                },
            })
            .collect(),
    };

    // Offer the recipients one by one.
    let stream = transport.get_mut();
    let offered = timed(async {
        Ok(stream
            .command(MailCommand::new(Some(sender.clone()), Vec::new()))
            .await)
    })
    .await?;
    if let Err(error) = offered {
        return match classify(error) {
            Failure::Refused(code, text) => Ok(refuse_all(code, &text, recipients)),
            Failure::Session(kind) => Err(kind),
        };
    }
    let mut accepted: Vec<(String, EmailAddress)> = Vec::new();
    let mut failed = Vec::new();
    for (spelled, address) in recipients {
        let rcpt = EmailAddress::new(address.to_string())
            .map_err(|e| ServerErrorKind::Protocol(e.to_string()))?;
        let answer = timed(async {
            Ok(stream
                .command(RcptCommand::new(rcpt.clone(), Vec::new()))
                .await)
        })
        .await?;
        match answer {
            Ok(_) => accepted.push((spelled.clone(), rcpt)),
            Err(error) => match classify(error) {
                Failure::Refused(code, reply) => failed.push(RecipientFailure {
                    recipient: spelled.clone(),
                    error: DeliveryError::Refused { code, reply },
                }),
                Failure::Session(kind) => return Err(kind),
            },
        }
    }
    timed(async { stream.command(RsetCommand).await.map_err(session_error) }).await?;
    if accepted.is_empty() {
        return Ok(Outcome {
            delivered: Vec::new(),
            failed,
        });
    }

    // The mail, to the accepted recipients.
    let envelope = Envelope::new(
        Some(sender),
        accepted.iter().map(|(_, rcpt)| rcpt.clone()).collect(),
    )
    .map_err(|e| ServerErrorKind::Protocol(e.to_string()))?;
    // async-smtp ends the data with CRLF "." CRLF after the bytes given, so a mail that
    // already ends with a line break goes without it (otherwise it gains an empty line).
    let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
    let sent = timed(async {
        Ok(transport
            .send(SendableEmail::new(envelope, body.to_vec()))
            .await)
    })
    .await?;
    match sent {
        Ok(_) => Ok(Outcome {
            delivered: accepted.into_iter().map(|(spelled, _)| spelled).collect(),
            failed,
        }),
        Err(error) => match classify(error) {
            Failure::Refused(code, reply) => {
                failed.extend(accepted.into_iter().map(|(spelled, _)| RecipientFailure {
                    recipient: spelled,
                    error: DeliveryError::Refused {
                        code,
                        reply: reply.clone(),
                    },
                }));
                Ok(Outcome {
                    delivered: Vec::new(),
                    failed,
                })
            }
            Failure::Session(kind) => Err(kind),
        },
    }
}

//! `offrecord`: the command-line client of Offrecord. Parses the arguments, calls the library
//! (`offrecord::commands`), prints the result as text or JSON, and turns every error into one
//! sentence on standard error with exit status 1.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};
use offrecord::Report;
use offrecord::commands::{self, VerifyHow};
use offrecord::home::{Home, MailSetup};

/// Off-the-Record chats over email, on the embedded local spool or a mail server (IMAP + SMTP).
///
/// One account (one device) lives in each home directory. Chats are given by their number as
/// `offrecord chats` shows it.
#[derive(Parser)]
#[command(name = "offrecord", version)]
struct Cli {
    /// The account's directory [default: $OFFRECORD_HOME, else ~/.offrecord]
    #[arg(long, global = true, value_name = "DIR")]
    home: Option<PathBuf>,
    /// Print one JSON object per result instead of text
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account (its first device) in the home directory
    Init {
        /// The account's email address
        address: String,
        /// The spool directory shared with the accounts to talk to [default: offrecord-spool
        /// next to the home directory]
        #[arg(long, value_name = "DIR")]
        spool: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Set up another device of an existing account (see export-account-key)
    InitDevice {
        /// The account's email address
        address: String,
        /// The file written by `offrecord export-account-key` on a device of the account
        #[arg(long, value_name = "FILE")]
        account_key: PathBuf,
        /// The spool directory [default: offrecord-spool next to the home directory]
        #[arg(long, value_name = "DIR")]
        spool: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Write the account's secret OpenPGP key to a new file (mode 0600), for init-device
    ExportAccountKey {
        /// The file to create
        file: PathBuf,
    },
    /// Show the address, the OpenPGP fingerprint and this device's OTR fingerprint
    Whoami,
    /// Print the contact card to give to contacts
    Card {
        /// Print it as a vCard with the key (what Delta Chat imports; `contact add` reads both)
        #[arg(long)]
        vcard: bool,
    },
    /// Manage contacts
    Contact {
        #[command(subcommand)]
        action: ContactCommand,
    },
    /// List the contacts
    Contacts,
    /// List the chats (number, kind, state, contact, unread messages)
    Chats,
    /// Send a text in a chat (an address means the 1:1 chat with that contact)
    Send {
        /// A chat number, or a contact's address
        chat: String,
        /// The text (several words are joined with spaces)
        #[arg(required = true, num_args = 1.., allow_hyphen_values = true)]
        text: Vec<String>,
    },
    /// Start, accept, decline or close Off-the-Record chats
    Otr {
        #[command(subcommand)]
        action: OtrCommand,
    },
    /// Show a chat: state, why you cannot write, verification, session id, history
    ///
    /// Marks the messages seen, which starts their disappearing timers.
    Show {
        /// The chat number
        chat: String,
    },
    /// Verify the contact's OTR key in a chat
    #[command(group(ArgGroup::new("how").required(true).args(["fingerprint", "secret", "answer", "abort"])))]
    Verify {
        /// The chat number
        chat: String,
        /// Mark the fingerprint verified after comparing it (or the session id) out of band
        #[arg(long)]
        fingerprint: bool,
        /// Ask the contact to prove they know this shared secret (SMP)
        #[arg(long, value_name = "SECRET")]
        secret: Option<String>,
        /// The question the contact sees with --secret
        #[arg(long, value_name = "QUESTION", requires = "secret")]
        question: Option<String>,
        /// Answer the contact's verification request with the secret
        #[arg(long, value_name = "SECRET")]
        answer: Option<String>,
        /// Abort a running verification
        #[arg(long)]
        abort: bool,
    },
    /// Set how an Off-the-Record chat keeps its history
    Erasure {
        /// The chat number
        chat: String,
        /// on-close (kept until closed; the default), never-stored, or timer
        mode: ErasureMode,
        /// For timer: seconds after a message was seen until it disappears
        secs: Option<u64>,
    },
    /// Set how long invitations and key exchanges may take before they expire
    InviteLifetime {
        /// Seconds [the default is 7 days]
        #[arg(value_parser = clap::value_parser!(u64).range(1..))]
        secs: u64,
    },
    /// Send queued mail, fetch and process new mail, run timers
    Sync {
        /// Keep syncing until interrupted (Ctrl-C)
        #[arg(long)]
        watch: bool,
        /// With --watch: the longest pause between rounds, in seconds (new mail ends it early)
        #[arg(long, value_name = "SECS", default_value_t = 5,
              value_parser = clap::value_parser!(u64).range(1..=3600))]
        interval: u64,
    },
    /// Run alice, bob's phone and bob's laptop through a whole Off-the-Record chat
    Demo {
        /// Keep the three accounts in this directory [default: a temporary one, removed]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// A mail server instead of the spool (the password comes from $OFFRECORD_PASSWORD or
/// --password-file, never from the command line).
#[derive(Args)]
struct ServerArgs {
    /// Use this IMAP server (and --smtp-host) instead of the spool
    #[arg(
        long,
        value_name = "HOST",
        requires = "smtp_host",
        conflicts_with = "spool"
    )]
    imap_host: Option<String>,
    /// IMAP port [default: 993 for tls, 143 otherwise]
    #[arg(long, value_name = "PORT", requires = "imap_host")]
    imap_port: Option<u16>,
    /// IMAP connection security (plain only to loopback addresses)
    #[arg(
        long,
        value_name = "SECURITY",
        default_value = "tls",
        requires = "imap_host"
    )]
    imap_security: SecurityArg,
    /// The SMTP submission server
    #[arg(long, value_name = "HOST", requires = "imap_host")]
    smtp_host: Option<String>,
    /// SMTP port [default: 465 for tls, 587 otherwise]
    #[arg(long, value_name = "PORT", requires = "imap_host")]
    smtp_port: Option<u16>,
    /// SMTP connection security (plain only to loopback addresses)
    #[arg(
        long,
        value_name = "SECURITY",
        default_value = "tls",
        requires = "imap_host"
    )]
    smtp_security: SecurityArg,
    /// Login name for both servers [default: the address]
    #[arg(long, value_name = "USER", requires = "imap_host")]
    login: Option<String>,
    /// A file whose first line is the password [default: $OFFRECORD_PASSWORD]
    #[arg(long, value_name = "FILE", requires = "imap_host")]
    password_file: Option<PathBuf>,
    /// Also trust the certificates in this PEM file (a test or company CA)
    #[arg(long, value_name = "FILE", requires = "imap_host")]
    tls_ca: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum SecurityArg {
    /// TLS from the first byte
    Tls,
    /// STARTTLS (required)
    Starttls,
    /// No encryption (loopback addresses only)
    Plain,
}

impl From<SecurityArg> for mail::Security {
    fn from(security: SecurityArg) -> mail::Security {
        match security {
            SecurityArg::Tls => mail::Security::Tls,
            SecurityArg::Starttls => mail::Security::StartTls,
            SecurityArg::Plain => mail::Security::Plain,
        }
    }
}

/// The spool, or the server the arguments name.
fn mail_setup(address: &str, spool: Option<PathBuf>, server: ServerArgs) -> Result<MailSetup> {
    let (Some(imap_host), Some(smtp_host)) = (server.imap_host, server.smtp_host) else {
        return Ok(MailSetup::Spool(spool));
    };
    let options = commands::ServerOptions {
        imap_host,
        imap_port: server.imap_port,
        imap_security: server.imap_security.into(),
        smtp_host,
        smtp_port: server.smtp_port,
        smtp_security: server.smtp_security.into(),
        login: server.login,
        password_file: server.password_file,
        tls_ca: server.tls_ca,
    };
    Ok(commands::server_setup(address, options)?)
}

#[derive(Subcommand)]
enum ContactCommand {
    /// Add a contact from their contact card or vCard with a key (a file, or - for standard
    /// input)
    Add {
        /// The card file, or -
        file: String,
    },
}

#[derive(Subcommand)]
enum OtrCommand {
    /// Invite a contact to an Off-the-Record chat
    Start {
        /// The contact's address
        address: String,
    },
    /// Accept an invitation
    Accept {
        /// The chat number
        chat: String,
    },
    /// Decline an invitation
    Decline {
        /// The chat number
        chat: String,
    },
    /// Close a chat (it becomes read-only on both sides and its history is erased)
    Close {
        /// The chat number
        chat: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ErasureMode {
    /// Kept until the chat is closed, then erased
    OnClose,
    /// Never written to disk
    NeverStored,
    /// Each message disappears some seconds after it was seen
    Timer,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e)
            if e.downcast_ref::<offrecord::Error>()
                .is_some_and(offrecord::Error::is_broken_pipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(io::stderr(), "{e}");
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to standard output (status 0); a missing command shows the help (status
/// 1); anything else is one sentence (status 1).
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = write!(io::stderr(), "{}", e.render());
            ExitCode::FAILURE
        }
        _ => {
            let rendered = e.render().to_string();
            let message = rendered
                .split("\nUsage:")
                .next()
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect::<Vec<_>>()
                .join(" ");
            let message = message.trim_start_matches("error:").trim();
            let message = message.trim_end_matches('.');
            let _ = writeln!(
                io::stderr(),
                "{}",
                offrecord::sentence(&format!("{message}; see `offrecord --help`"))
            );
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    let home = Home::new(match cli.home {
        Some(dir) => dir,
        None => Home::default_dir()?,
    });
    let report = match cli.command {
        Command::Init {
            address,
            spool,
            server,
        } => commands::init(&home, &address, mail_setup(&address, spool, server)?)?,
        Command::InitDevice {
            address,
            account_key,
            spool,
            server,
        } => {
            let setup = mail_setup(&address, spool, server)?;
            commands::init_device(&home, &address, &account_key, setup)?
        }
        Command::ExportAccountKey { file } => commands::export_account_key(&home, &file)?,
        Command::Whoami => commands::whoami(&home)?,
        Command::Card { vcard } => commands::card(&home, vcard)?,
        Command::Contact {
            action: ContactCommand::Add { file },
        } => commands::contact_add(&home, &file)?,
        Command::Contacts => commands::contacts(&home)?,
        Command::Chats => commands::chats(&home)?,
        Command::Send { chat, text } => commands::send(&home, &chat, &text.join(" "))?,
        Command::Otr { action } => match action {
            OtrCommand::Start { address } => commands::otr_start(&home, &address)?,
            OtrCommand::Accept { chat } => commands::otr_accept(&home, &chat)?,
            OtrCommand::Decline { chat } => commands::otr_decline(&home, &chat)?,
            OtrCommand::Close { chat } => commands::otr_close(&home, &chat)?,
        },
        Command::Show { chat } => commands::show(&home, &chat)?,
        Command::Verify {
            chat,
            fingerprint,
            secret,
            question,
            answer,
            abort,
        } => {
            let how = match (fingerprint, &secret, &answer, abort) {
                (true, ..) => VerifyHow::Fingerprint,
                (_, Some(secret), ..) => VerifyHow::Secret {
                    secret,
                    question: question.as_deref(),
                },
                (_, _, Some(answer), _) => VerifyHow::Answer(answer),
                _ => VerifyHow::Abort,
            };
            commands::verify(&home, &chat, how)?
        }
        Command::Erasure { chat, mode, secs } => {
            let mode = match mode {
                ErasureMode::OnClose => chat::Erasure::OnClose,
                ErasureMode::NeverStored => chat::Erasure::NeverStored,
                ErasureMode::Timer => chat::Erasure::Timer,
            };
            commands::erasure(&home, &chat, mode, secs)?
        }
        Command::InviteLifetime { secs } => commands::invite_lifetime(&home, secs)?,
        Command::Sync { watch: false, .. } => commands::sync(&home)?,
        Command::Sync {
            watch: true,
            interval,
        } => {
            if !json {
                print(
                    &Report {
                        text: format!(
                            "Syncing {} whenever mail arrives, at least every {interval} s; \
                             Ctrl-C stops.\n",
                            home.dir().display()
                        ),
                        json: serde_json::Value::Null,
                    },
                    false,
                );
            }
            commands::watch(&home, Duration::from_secs(interval), &mut |report| {
                print(&report, json)
            })?;
            return Ok(());
        }
        Command::Demo { dir } => {
            offrecord::demo::run(dir.as_deref(), json, &mut io::stdout())?;
            return Ok(());
        }
    };
    print(&report, json);
    Ok(())
}

/// Prints a report; false if standard output is gone (a closed pipe).
fn print(report: &Report, json: bool) -> bool {
    let mut out = io::stdout().lock();
    let written = if json {
        writeln!(out, "{}", report.json)
    } else {
        write!(out, "{}", report.text)
    };
    written.and_then(|()| out.flush()).is_ok()
}

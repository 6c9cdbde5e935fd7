//! The state of one peer process: the endpoint (once `init` or `load` created it), the
//! configuration set before that, the random number generator and the clock.
//!
//! The `otr` crate does no I/O, so this is where its inputs come from: randomness from a
//! ChaCha20 generator (seeded from the OS, or from a number after `seed <n>`), and the time from
//! the system clock plus however far `sleep` moved it.

use std::time::{SystemTime, UNIX_EPOCH};

use otr::keyfile::InstagEntry;
use otr::{Config, Endpoint, Policy};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// The account an endpoint was initialised for (the peer protocol's `init` arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The local account name.
    pub name: String,
    /// The protocol name (libotr's key files are keyed by account and protocol).
    pub protocol: String,
}

/// One peer process's state.
pub struct Peer {
    /// The configuration used until an endpoint exists (then the endpoint's own is changed).
    config: Config,
    /// The endpoint, once `init` or `load` made it.
    endpoint: Option<Endpoint>,
    /// Who `init` said we are (`None` before `init`, and after a `load` without `init`).
    account: Option<Account>,
    rng: ChaCha20Rng,
    /// Seconds added to the system clock by `sleep`.
    clock_offset: u64,
    /// Instance tags read from a libotr instance-tag file (`read-instags`).
    instags: Vec<InstagEntry>,
}

impl Peer {
    /// A peer without an endpoint yet, drawing randomness from `rng`. The policy is the peer
    /// protocol's default, `manual`.
    pub fn new(rng: ChaCha20Rng) -> Peer {
        Peer {
            config: Config {
                policy: Policy::MANUAL,
                ..Config::default()
            },
            endpoint: None,
            account: None,
            rng,
            clock_offset: 0,
            instags: Vec::new(),
        }
    }

    /// A peer whose randomness is seeded from the operating system.
    pub fn from_os_entropy() -> Result<Peer, getrandom::Error> {
        Ok(Peer::new(os_seeded_rng()?))
    }

    /// The current time in seconds since the Unix epoch, as the endpoint sees it.
    pub fn now(&self) -> u64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        system.saturating_add(self.clock_offset)
    }

    /// Moves the endpoint's clock forward.
    pub fn advance_clock(&mut self, seconds: u64) {
        self.clock_offset = self.clock_offset.saturating_add(seconds);
    }

    /// Makes randomness deterministic from now on.
    pub fn seed(&mut self, seed: u64) {
        self.rng = ChaCha20Rng::seed_from_u64(seed);
    }

    /// Goes back to randomness seeded from the operating system.
    pub fn seed_from_os(&mut self) -> Result<(), getrandom::Error> {
        self.rng = os_seeded_rng()?;
        Ok(())
    }

    /// The random number generator.
    pub fn rng(&mut self) -> &mut ChaCha20Rng {
        &mut self.rng
    }

    /// The configuration in force (the endpoint's, once there is one).
    pub fn config(&self) -> &Config {
        self.endpoint
            .as_ref()
            .map_or(&self.config, Endpoint::config)
    }

    /// Changes the configuration in force.
    pub fn config_mut(&mut self) -> &mut Config {
        match &mut self.endpoint {
            Some(endpoint) => endpoint.config_mut(),
            None => &mut self.config,
        }
    }

    /// The endpoint, if `init` or `load` made one.
    pub fn endpoint(&self) -> Option<&Endpoint> {
        self.endpoint.as_ref()
    }

    /// The endpoint with the generator and the current time, for calls that need all three.
    pub fn parts(&mut self) -> Option<(&mut Endpoint, &mut ChaCha20Rng, u64)> {
        let now = self.now();
        let endpoint = self.endpoint.as_mut()?;
        Some((endpoint, &mut self.rng, now))
    }

    /// Who `init` said we are.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// Installs the endpoint made by `init`.
    pub fn set_initialised(&mut self, endpoint: Endpoint, account: Account) {
        self.endpoint = Some(endpoint);
        self.account = Some(account);
    }

    /// The instance tags read with `read-instags`, every account's.
    pub fn instags(&self) -> &[InstagEntry] {
        &self.instags
    }

    /// Replaces the instance tags read from a file.
    pub fn set_instags(&mut self, instags: Vec<InstagEntry>) {
        self.instags = instags;
    }

    /// Replaces the endpoint (by one restored with `load`); the account stays.
    pub fn replace_endpoint(&mut self, endpoint: Endpoint) {
        self.endpoint = Some(endpoint);
    }
}

/// A ChaCha20 generator seeded from the operating system.
fn os_seeded_rng() -> Result<ChaCha20Rng, getrandom::Error> {
    ChaCha20Rng::try_from_rng(&mut getrandom::SysRng)
}

#[cfg(test)]
mod tests {
    use rand_core::Rng;

    use super::*;

    #[test]
    fn seeding_is_deterministic() {
        let mut a = Peer::new(ChaCha20Rng::seed_from_u64(1));
        let mut b = Peer::from_os_entropy().unwrap();
        a.seed(42);
        b.seed(42);
        assert_eq!(a.rng().next_u64(), b.rng().next_u64());
        b.seed_from_os().unwrap();
        assert_ne!(a.rng().next_u64(), b.rng().next_u64());
    }

    #[test]
    fn clock_moves_forward_only_by_sleep() {
        let mut p = Peer::new(ChaCha20Rng::seed_from_u64(1));
        let before = p.now();
        p.advance_clock(3600);
        assert!(p.now() >= before + 3600);
        p.advance_clock(u64::MAX);
        assert_eq!(p.now(), u64::MAX);
    }

    #[test]
    fn config_before_and_after_an_endpoint() {
        let mut p = Peer::new(ChaCha20Rng::seed_from_u64(1));
        assert_eq!(p.config().policy, Policy::MANUAL);
        p.config_mut().max_message_size = 77;
        assert_eq!(p.config().max_message_size, 77);
        assert!(p.endpoint().is_none() && p.parts().is_none() && p.account().is_none());
    }
}

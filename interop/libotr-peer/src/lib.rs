//! libotr peer.

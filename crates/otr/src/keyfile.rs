//! libotr key files.

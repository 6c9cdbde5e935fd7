//! Off-the-Record Messaging, versions 3 and 2.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod fragment;
pub mod instance;
pub mod keyfile;
pub mod wire;

pub use instance::InstanceTag;

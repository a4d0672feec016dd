//! The Lambda Runtime API these tests serve to the real `bootstrap` binary (specific to the
//! Lambda's tests; the store and emulator setup is `rotor_testkit`).
#![allow(dead_code)]

pub mod runtime_api;

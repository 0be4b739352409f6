//! What the emulator's integration tests share: real binaries of this workspace to run in it
//! (the clock function and coldmark's extension, built once per test binary) with the control
//! plane around them ([`cp_build`]), and fixture runtimes and extensions ([`env_support`]).
//! Each test binary uses a part of it; the rest is allowed to go unused here, once.
#![allow(dead_code)]

pub mod cp_build;
pub mod env_support;

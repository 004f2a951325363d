//! Differential mode: hfgit's scan against CPython's recording unpickler, run out of process
//! (see hfgit::weights::fuzzing::pickle_differential; needs python3 on PATH). Slow: one python3
//! run per input, so use it on a minimised corpus.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hfgit::weights::fuzzing::pickle_differential(data));

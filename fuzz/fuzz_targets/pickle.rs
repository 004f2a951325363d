//! The pickle interpreter and scanner on arbitrary bytes (see hfgit::weights::fuzzing).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hfgit::weights::fuzzing::pickle_bytes(data));

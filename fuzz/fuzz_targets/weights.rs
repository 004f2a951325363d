//! Checkpoint and safetensors readers on arbitrary files (see hfgit::weights::fuzzing).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| hfgit::weights::fuzzing::weights_bytes(data));

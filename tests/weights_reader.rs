//! The checkpoint and safetensors readers against real files made by PyTorch
//! (fixtures/make_fixtures.py): every tensor's dtype, shape and bytes (hashed) must equal what
//! PyTorch itself reported when it saved them.

use hfgit::weights::tensor::read_tensor;
use hfgit::weights::{FormatError, Weights};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

fn reference() -> Value {
    serde_json::from_slice(&std::fs::read(fixture("reference.json")).unwrap()).unwrap()
}

fn check_against_reference(name: &str) {
    let refs = reference();
    let want = refs["files"][name].as_object().unwrap_or_else(|| panic!("{name} not in reference.json"));
    let w = Weights::open(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut got = serde_json::Map::new();
    for t in &w.tensors {
        let mut h = Sha256::new();
        let mut n = 0u64;
        read_tensor(&w.file, t, &mut |b| {
            h.update(b);
            n += b.len() as u64;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, t.byte_len(), "{name}: {}", t.name);
        got.insert(t.name.clone(), serde_json::json!({"dtype": t.dtype.name(), "shape": t.shape, "sha256": format!("{:x}", h.finalize())}));
    }
    for (k, v) in want {
        assert_eq!(got.get(k), Some(v), "{name}: tensor {k}");
    }
    assert_eq!(got.len(), want.len(), "{name}: tensor names {:?}", got.keys().collect::<Vec<_>>());
}

#[test]
fn zip_checkpoint_float32_matches_pytorch() {
    check_against_reference("mlp_f32.pt");
}

#[test]
fn zip_checkpoint_bfloat16_matches_pytorch() {
    check_against_reference("mlp_bf16.pt");
}

#[test]
fn legacy_checkpoint_matches_pytorch() {
    check_against_reference("mlp_legacy.pt");
}

#[test]
fn views_dtypes_nesting_and_protocol_4_match_pytorch() {
    check_against_reference("views_p4.pt");
}

#[test]
fn safetensors_written_by_the_python_package_is_read() {
    check_against_reference("mlp_f32.safetensors");
}

#[test]
fn checkpoints_with_code_are_refused_by_the_reader() {
    for (name, import) in [("evil_os_system.pt", "posix.system"), ("evil_popen.pt", "subprocess.Popen")] {
        match Weights::open(&fixture(name)) {
            Err(FormatError::Unsafe(what)) => assert_eq!(what, import, "{name}"),
            Err(e) => panic!("{name}: wrong error {e}"),
            Ok(_) => panic!("{name}: read a checkpoint that runs code"),
        }
    }
}

#[test]
fn legacy_checkpoint_with_views_and_many_dtypes_matches_pytorch() {
    check_against_reference("views_legacy.pt");
}

#[test]
fn pickle_protocols_3_and_5_match_pytorch() {
    check_against_reference("small_p3.pt");
    check_against_reference("small_p5.pt");
}

#[test]
fn shards_tied_weights_and_trainer_states_match_pytorch_and_only_models_are_state_dicts() {
    for k in 1..=3 {
        check_against_reference(&format!("sharded/pytorch_model-0000{k}-of-00003.bin"));
    }
    for name in ["sharded/tied.pt", "trainer/optimizer.pt", "trainer/scheduler.pt"] {
        check_against_reference(name);
    }
    // a model state dict is a mapping of names to tensors; an optimizer's or a scheduler's is not
    for (name, state_dict) in [
        ("sharded/tied.pt", true),
        ("mlp_legacy.pt", true),
        ("trainer/optimizer.pt", false),
        ("trainer/scheduler.pt", false),
        ("views_p4.pt", false),
    ] {
        assert_eq!(Weights::open(&fixture(name)).unwrap().state_dict, state_dict, "{name}");
    }
}

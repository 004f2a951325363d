//! Parallel ranged downloads of one large object (src/lfs/ranged.rs) against the fault server:
//! pieces fetched over several connections at once and assembled byte-identical, a kill in the
//! middle resumed piece by piece, servers that ignore or refuse `Range`, a range body of the
//! wrong length. Functional only: how fast is the bench's business (scripts/bench.py).

mod common;
use common::lfs_server::{fx, Fx};
use common::*;
use std::fs;

const MIB: usize = 1 << 20;

/// A seeded server whose repository `name` holds one 24 MiB object (`big.bin`) and the two
/// small ones; ranged downloads from 1 MiB up.
fn big(name: &str) -> (Fx, Vec<u8>) {
    let f = fx(name);
    let big = data(77, 24 * MIB);
    fs::write(f.repo.join("big.bin"), &big).unwrap();
    f.env.hfgit(&f.repo, &["commit", "-m", "big"]).ok();
    for c in [&f.a, &f.b, &big] {
        f.server.put(name, c);
    }
    f.push().ok();
    f.env.git(f.env.dir.path(), &["config", "--global", "hfgit.rangedDownloadThreshold", "1m"]).ok();
    (f, big)
}

fn ranges_asked(f: &Fx, oid: &str) -> Vec<Option<String>> {
    f.server.log().iter().filter(|l| l.method == "GET" && l.path.ends_with(oid)).map(|l| l.range.clone()).collect()
}

#[test]
fn a_large_object_comes_in_pieces_over_several_connections_byte_identical() {
    // capped connections (about 6 MB/s each): pieces in flight at once are seen as such
    let (f, big) = big("plain-slow-get");
    let out = f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c", "--json"]).ok().json();
    assert_eq!(out["downloaded_objects"], 3);
    assert_eq!(fs::read(f.env.path("c/big.bin")).unwrap(), big);
    assert_eq!(f.env.git(&f.env.path("c"), &["status", "--porcelain"]).ok().stdout, "");
    let asked = ranges_asked(&f, &sha256_hex(&big));
    // 24 MiB over 8 connections: 6 pieces of 4 MiB, each asked once, together the whole object
    let mut starts: Vec<u64> =
        asked.iter().map(|r| r.as_deref().unwrap().trim_start_matches("bytes=").split('-').next().unwrap().parse().unwrap()).collect();
    starts.sort();
    assert_eq!(starts, (0..6).map(|i| i * 4 * MIB as u64).collect::<Vec<_>>(), "{asked:?}");
    assert!(asked.contains(&Some(format!("bytes={}-{}", 20 * MIB, 24 * MIB - 1))));
    // the first piece alone, then the other five at once (3 small objects share the 8 connections)
    let most = f.server.count("maxinflight:plain-slow-get");
    assert!((4..=8).contains(&most), "{most} pieces at once, expected 4 to 8 (lfs.concurrenttransfers)");
    let incomplete = f.env.path("c/.git/lfs/incomplete");
    assert!(fs::read_dir(&incomplete).map(|d| d.count()).unwrap_or(0) == 0, "leftovers in lfs/incomplete");
}

#[test]
fn lfs_concurrenttransfers_1_means_one_connection() {
    let (f, big) = big("plain-one");
    f.env.git(f.env.dir.path(), &["config", "--global", "lfs.concurrenttransfers", "1"]).ok();
    f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c"]).ok();
    assert_eq!(fs::read(f.env.path("c/big.bin")).unwrap(), big);
    assert_eq!(f.server.count("maxinflight:plain-one"), 1);
}

#[test]
fn servers_that_ignore_or_refuse_range_still_work_in_one_stream() {
    for name in ["range-ignore", "range-416"] {
        let (f, big) = big(name);
        f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c"]).ok();
        assert_eq!(fs::read(f.env.path("c/big.bin")).unwrap(), big, "{name}");
        let asked = ranges_asked(&f, &sha256_hex(&big));
        assert_eq!(asked.len(), 2, "{name}: the first piece tells, then one stream: {asked:?}");
        assert!(asked[0].is_some() && asked[1].is_none(), "{name}: {asked:?}");
    }
}

#[test]
fn a_range_body_of_the_wrong_length_is_rejected_and_asked_again() {
    let (f, big) = big("range-short-once");
    f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c"]).ok();
    assert_eq!(fs::read(f.env.path("c/big.bin")).unwrap(), big);
    assert_eq!(fs::read(object_path(&f.env.path("c/.git"), &sha256_hex(&big))).unwrap(), big);
    let asked = ranges_asked(&f, &sha256_hex(&big));
    assert_eq!(asked.len(), 7, "6 pieces and the short one again: {asked:?}");
}

#[test]
fn a_killed_ranged_download_resumes_piece_by_piece() {
    let (f, big) = big("slow-get");
    f.env.hfgit(f.env.dir.path(), &["clone", "remote.git", "c", "--no-lfs"]).ok();
    let c = f.env.path("c");
    f.env.git(&c, &["config", "--unset", "lfs.fetchexclude"]).ok();
    let oid = sha256_hex(&big);
    let part = c.join(format!(".git/lfs/incomplete/{oid}.part"));
    // killed while the pieces are on their way: 24 MiB at ~6 MB/s per connection, all of them
    // from the first 206 on, take under a second, after a start-up that varies with the
    // machine's load; so each try waits a little longer (every killed run keeps its pieces)
    let plan = c.join(format!(".git/lfs/incomplete/{oid}.part.ranges"));
    let received = || -> u64 {
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&plan).unwrap()).unwrap();
        v["done"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).sum()
    };
    let mut kills = 0;
    for ms in (300..3000).step_by(150) {
        if run_and_kill(f.env.hfgit_cmd(&c, &["pull"]), std::time::Duration::from_millis(ms)) {
            break;
        }
        kills += 1;
        assert!(part.exists() && plan.exists(), "nothing kept to resume");
        if received() > 0 {
            break;
        }
    }
    assert!(kills >= 1, "the pull finished before it could be killed");
    let before = f.server.log().len();
    f.env.hfgit(&c, &["pull"]).ok();
    assert_eq!(fs::read(c.join("big.bin")).unwrap(), big);
    // the last run asked only for what was missing: some piece resumed from inside it
    let resumed: Vec<u64> = f.server.log()[before..]
        .iter()
        .filter(|l| l.method == "GET" && l.path.ends_with(&oid))
        .filter_map(|l| l.range.as_deref()?.trim_start_matches("bytes=").split('-').next()?.parse().ok())
        .collect();
    assert!(resumed.len() < 6 || resumed.iter().any(|s| s % (4 * MIB as u64) != 0), "no piece resumed: {resumed:?}");
    assert!(!part.exists());
}

#!/usr/bin/env bash
# The main job, end to end and offline: build hfgit, make a staging repository with a real
# PyTorch checkpoint (fixtures/, made by fixtures/make_fixtures.py), scan it, commit, push to a
# local bare remote, commit a second epoch and show its tensor diff, change the config, commit
# and push again, then show the history with plain git (and git-lfs when it is installed).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release --quiet --manifest-path "$ROOT/Cargo.toml"
HFGIT="$ROOT/target/release/hfgit"

WORK="${1:-$(mktemp -d -t hfgit-demo.XXXXXX)}"
mkdir -p "$WORK"
cd "$WORK"
export GIT_AUTHOR_NAME="${GIT_AUTHOR_NAME:-hfgit demo}" GIT_AUTHOR_EMAIL="${GIT_AUTHOR_EMAIL:-demo@example.com}"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"

echo "== a small model: the 784->128->10 MLP's state dict, saved by PyTorch (fixtures/mlp_f32.pt)"
cp "$ROOT/fixtures/mlp_f32.pt" model.pt
cp "$ROOT/fixtures/mlp_f32_step.pt" model-epoch2.pt
ls -l model.pt model-epoch2.pt

echo "== hfgit scan: the imports its pickle would perform"
"$HFGIT" scan model.pt

echo "== hfgit init / add / commit"
"$HFGIT" init mnist-mlp --remote ./mnist-mlp.git
"$HFGIT" -C mnist-mlp add ../model.pt --set input_size=784 --set hidden_size=128 --set output_size=10
"$HFGIT" -C mnist-mlp commit -m "MLP trained for 1 epoch"

echo "== hfgit push --create (local bare remote)"
"$HFGIT" -C mnist-mlp push --create

echo "== epoch 2: the tensors that changed, then commit"
cp model-epoch2.pt mnist-mlp/pytorch_model.bin
"$HFGIT" -C mnist-mlp diff
"$HFGIT" -C mnist-mlp commit -m "MLP trained for 2 epochs"
"$HFGIT" -C mnist-mlp diff HEAD~1 HEAD

echo "== change the config, commit, push again"
"$HFGIT" -C mnist-mlp add --set hidden_size=256 --set training.epochs=2
"$HFGIT" -C mnist-mlp commit -m "Record training config"
"$HFGIT" -C mnist-mlp push

echo "== history of the remote, with plain git"
git -C mnist-mlp.git log --stat main
if command -v git-lfs >/dev/null 2>&1; then
  echo "== git lfs ls-files in a plain git clone of the remote"
  # the filter settings `git lfs install` would put in ~/.gitconfig, for this clone only
  git -c filter.lfs.process="git-lfs filter-process" -c filter.lfs.smudge="git-lfs smudge -- %f" \
      -c filter.lfs.clean="git-lfs clean -- %f" -c filter.lfs.required=true \
      clone -q mnist-mlp.git plain-clone
  git -C plain-clone lfs install --local >/dev/null
  git -C plain-clone lfs ls-files -l
  cmp plain-clone/pytorch_model.bin model-epoch2.pt && echo "weights in the git clone are byte-identical to model-epoch2.pt"
fi

cat <<EOT

Everything is in $WORK:
  staging repository : $WORK/mnist-mlp
  bare remote        : $WORK/mnist-mlp.git (LFS objects in mnist-mlp.git/lfs/objects)
EOT

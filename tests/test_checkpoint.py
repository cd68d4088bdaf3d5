"""Checkpoints: round trip, corrupt and foreign-version files, atomic writes."""

import pytest
import torch

import spikebridge.training.checkpoint as ckpt_mod
from spikebridge.errors import SpikebridgeDataError
from spikebridge.models.spike_transformer import SpikeTransformer, SpikeTransformerConfig
from spikebridge.training.checkpoint import load_checkpoint, save_checkpoint
from spikebridge.training.predict import load_model

CONFIG = SpikeTransformerConfig.profile("quick", n_units=6, max_context=32)


def _model(seed: int = 0) -> SpikeTransformer:
    torch.manual_seed(seed)
    return SpikeTransformer(CONFIG)


def test_round_trip(tmp_path):
    model = _model()
    path = save_checkpoint(tmp_path / "sub" / "m.ckpt", model, CONFIG.to_dict(), {"lr": 0.01}, "abc123",
                           extra={"epoch": 3})  # fmt: skip
    loaded = load_checkpoint(path)
    assert loaded.model_config == CONFIG.to_dict()
    assert loaded.train_config == {"lr": 0.01}
    assert loaded.data_hash == "abc123"
    assert loaded.extra == {"epoch": 3}
    assert loaded.model_class == "SpikeTransformer"
    assert loaded.package_version == ckpt_mod.__version__
    assert loaded.git_commit is None or len(loaded.git_commit) == 40
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict[name], tensor, rtol=0, atol=0)
    rebuilt = load_model(path)
    x = torch.zeros(1, 5, 6)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x))
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.ckpt"]  # no temporary file left


def test_corrupt_and_truncated_files_raise(tmp_path):
    path = save_checkpoint(tmp_path / "m.ckpt", _model(), CONFIG.to_dict())
    data = path.read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    for bad in (truncated, garbage, tmp_path / "missing.ckpt"):
        with pytest.raises(SpikebridgeDataError, match=bad.name):
            load_checkpoint(bad)
    other = tmp_path / "other.ckpt"
    torch.save({"hello": 1}, other)
    with pytest.raises(SpikebridgeDataError, match="not a spikebridge checkpoint"):
        load_checkpoint(other)


def test_other_major_minor_version_raises(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt_mod, "__version__", "0.0.9")
    path = save_checkpoint(tmp_path / "old.ckpt", _model(), CONFIG.to_dict())
    monkeypatch.setattr(ckpt_mod, "__version__", "0.1.0")
    with pytest.raises(SpikebridgeDataError, match="old.ckpt.*0.0.9"):
        load_checkpoint(path)


def test_same_major_minor_other_patch_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(ckpt_mod, "__version__", "0.1.5")
    path = save_checkpoint(tmp_path / "patch.ckpt", _model(), CONFIG.to_dict())
    monkeypatch.setattr(ckpt_mod, "__version__", "0.1.0")
    assert load_checkpoint(path).package_version == "0.1.5"


def test_failed_write_leaves_old_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.ckpt", _model(0), CONFIG.to_dict(), data_hash="old")
    before = path.read_bytes()

    def failing_save(obj, fh):
        fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _model(1), CONFIG.to_dict(), data_hash="new")
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path).data_hash == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt"]

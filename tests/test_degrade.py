"""Visual degradations (qvedbench.degrade) and the degraded and temporal test-set variants."""
import cv2
import numpy as np
import pytest

from qvedbench.data.variants import make_variant, temporal_records, write_degraded_variant
from qvedbench.degrade import (Degradation, adjust_lighting, camera_shake_kernel, compress, degrade_frames,
                               motion_blur, occlude, occlusion_box, parse_degradation)
from qvedbench.io import RecordError, read_jsonl, write_jsonl
from qvedbench.variant_names import parse_temporal_variant
from qvedbench.video import load_frames, probe, write_video


@pytest.fixture(scope="module")
def frames():
    """A textured moving clip: smoothed noise (detail at every scale) drifting one pixel a frame."""
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 256, (96, 96, 3)).astype(np.uint8), (3, 3), 0)
    return np.stack([np.roll(base, i, axis=1)[:48, :64] for i in range(8)])


def high_frequency_energy(frames: np.ndarray) -> float:
    return float(np.mean([cv2.Laplacian(f.astype(np.float64).mean(axis=-1), cv2.CV_64F).var() for f in frames]))


def test_parse_names_round_trip():
    for name in ("blur_7", "crf_40", "light_-40", "light_20", "occl_black_20", "occl_noise_10"):
        assert parse_degradation(name).name == name
    assert parse_degradation("occl_noise_30") == Degradation("occl_noise", 30)
    for bad in ("blur_4", "crf_60", "occl_grey_10", "occl_black_0", "light_-100", "frames8_stride2", "clean"):
        with pytest.raises(ValueError):
            parse_degradation(bad)


def test_camera_shake_kernel_is_normalised_and_seeded():
    k = camera_shake_kernel(9, np.random.default_rng(1))
    assert k.shape == (9, 9) and k.min() >= 0 and k.sum() == pytest.approx(1.0, abs=1e-5)
    assert (k > 0).sum() > 9  # a path, not a point
    assert np.array_equal(k, camera_shake_kernel(9, np.random.default_rng(1)))
    assert not np.array_equal(k, camera_shake_kernel(9, np.random.default_rng(2)))


def test_blur_reduces_high_frequency_energy_more_with_larger_kernels(frames):
    energies = [high_frequency_energy(motion_blur(frames, size, seed=3)) for size in (3, 7, 11)]
    assert energies[0] < 0.6 * high_frequency_energy(frames)
    assert energies[0] > energies[1] > energies[2]
    # mean intensity is kept (kernels sum to 1)
    assert abs(motion_blur(frames, 11, seed=3).mean() - frames.mean()) < 2


def test_compression_error_rises_with_crf(frames):
    errors = [np.mean((compress(frames, crf, fps=8).astype(float) - frames) ** 2) for crf in (20, 35, 40, 45)]
    assert errors == sorted(errors) and errors[0] < errors[-1] / 2
    assert compress(frames[:, :47, :63], 40).shape == (8, 47, 63, 3)  # odd sides come back cut


@pytest.mark.parametrize("percent", [-60, -40, -20, 20, 40, 60])
def test_lighting_shifts_mean_intensity(frames, percent):
    out = adjust_lighting(frames, percent)
    assert out.dtype == np.uint8 and out.shape == frames.shape
    shift = out.mean() - frames.mean()
    assert np.sign(shift) == np.sign(percent)
    if percent < 0:  # no clipping when darkening: exactly the requested scale
        assert out.mean() == pytest.approx(frames.mean() * (1 + percent / 100), rel=0.01)
        assert out.std() == pytest.approx(frames.std() * (1 + percent / 100), rel=0.02)


@pytest.mark.parametrize("fill", ["black", "noise"])
@pytest.mark.parametrize("percent", [10, 20, 30])
def test_occlusion_covers_requested_fraction(frames, fill, percent):
    out = occlude(frames, percent, fill, seed=5)
    changed = (out != frames).any(axis=-1)
    box = changed.any(axis=0)  # noise may equal the source by chance in single pixels
    assert box.mean() == pytest.approx(percent / 100, abs=0.01)
    # the box stays at the same place in every frame
    assert all(c.sum() >= 0.99 * box.sum() for c in changed)
    if fill == "black":
        assert (out[:, box] == 0).all()
        assert np.array_equal(changed, np.broadcast_to(box, changed.shape))
    else:
        assert not np.array_equal(out[0][box], out[1][box])  # fresh noise per frame
    assert np.array_equal(out[:, ~box], frames[:, ~box])


def test_occlusion_box_fits_inside_any_frame():
    rng = np.random.default_rng(0)
    for h, w in [(48, 64), (7, 5), (1080, 1920)]:
        top, left, bh, bw = occlusion_box(h, w, 30, rng)
        assert 0 <= top <= h - bh and 0 <= left <= w - bw
        assert bh * bw / (h * w) == pytest.approx(0.30, abs=0.1 if h < 10 else 0.005)


@pytest.mark.parametrize("name", ["blur_7", "crf_40", "light_-40", "occl_black_20", "occl_noise_20"])
def test_degradations_are_deterministic_for_a_seed(frames, name):
    d = parse_degradation(name)
    once, again = degrade_frames(frames, d, seed=11, fps=8), degrade_frames(frames, d, seed=11, fps=8)
    assert np.array_equal(once, again) and not np.array_equal(once, frames)
    if d.kind in ("blur", "occl_black", "occl_noise"):
        assert not np.array_equal(once, degrade_frames(frames, d, seed=12, fps=8))


def test_bad_frames_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        adjust_lighting(np.zeros((2, 8, 8, 3), dtype=np.float32), 20)
    with pytest.raises(ValueError, match="fill"):
        occlude(np.zeros((2, 8, 8, 3), dtype=np.uint8), 10, "grey", seed=0)


# -- variants -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def test_split(tmp_path_factory, frames):
    root = tmp_path_factory.mktemp("split")
    records = []
    for i, exercise in enumerate(["squats", "lunges"]):
        video = root / "videos" / exercise / f"clip_{i}.mp4"
        write_video(np.roll(frames, i, axis=2), video, fps=8, crf=18)
        records.append({"id": f"{exercise}/clip_{i}", "video": str(video), "video_rel": f"{exercise}/clip_{i}.mp4",
                        "exercise": exercise, "label": exercise, "feedback": "good", "reference": f"{exercise} - good",
                        "prompt": "Evaluate.", "split": "test", "num_frames": 8, "fps": 8.0, "width": 64,
                        "height": 48, "source": "qved_test.json", "index": i})
    path = root / "test.jsonl"
    write_jsonl(path, records)
    return path, records


def test_degraded_variant_writes_videos_and_records(tmp_path, test_split):
    test_jsonl, records = test_split
    out = write_degraded_variant(test_jsonl, "occl_black_20", tmp_path / "occl_black_20", tmp_path / "v.jsonl",
                                 seed=42)
    assert read_jsonl(tmp_path / "v.jsonl") == out
    for record, new in zip(records, out):
        assert new["video"] == str(tmp_path / "occl_black_20" / record["video_rel"])
        assert new["source_video"] == record["video"] and new["degradation"] == {"type": "occl_black", "level": 20}
        assert (new["id"], new["exercise"], new["reference"]) == (record["id"], record["exercise"], record["reference"])
        info = probe(new["video"])
        assert (info.num_frames, info.fps, info.width, info.height) == (8, 8.0, 64, 48)
        black = (load_frames(new["video"]) < 8).all(axis=-1).all(axis=0)
        assert black.mean() == pytest.approx(0.20, abs=0.03)
    # same seed: the same bytes (lossless re-encode of the same frames); another seed moves the box
    again = write_degraded_variant(test_jsonl, "occl_black_20", tmp_path / "again", tmp_path / "again.jsonl", seed=42)
    assert open(again[0]["video"], "rb").read() == open(out[0]["video"], "rb").read()
    other = write_degraded_variant(test_jsonl, "occl_black_20", tmp_path / "other", tmp_path / "other.jsonl", seed=7)
    assert open(other[0]["video"], "rb").read() != open(out[0]["video"], "rb").read()


def test_degraded_variant_names_the_bad_record(tmp_path, test_split):
    test_jsonl, records = test_split
    broken = [records[0], {**records[1], "video": str(tmp_path / "missing.mp4")}]
    write_jsonl(tmp_path / "test.jsonl", broken)
    with pytest.raises(RecordError) as err:
        write_degraded_variant(tmp_path / "test.jsonl", "crf_40", tmp_path / "crf_40", tmp_path / "crf_40.jsonl", seed=1)
    assert err.value.index == 1 and err.value.field == "video" and "missing.mp4" in str(err.value)
    assert not (tmp_path / "crf_40.jsonl").exists()


def test_degraded_copies_never_overwrite_each_other(tmp_path, test_split):
    test_jsonl, records = test_split
    clash = [records[0], {**records[1], "video_rel": records[0]["video_rel"].replace(".mp4", ".avi")}]
    write_jsonl(tmp_path / "test.jsonl", clash)
    with pytest.raises(RecordError) as err:
        write_degraded_variant(tmp_path / "test.jsonl", "light_20", tmp_path / "v", tmp_path / "v.jsonl", seed=1)
    assert err.value.index == 1 and err.value.field == "video_rel"


def test_temporal_variant_records(test_split):
    _, records = test_split
    assert parse_temporal_variant("frames8_stride2") == (8, 2) and parse_temporal_variant("blur_7") is None
    out = make_variant(records, "frames4_stride2", seed=0)
    assert [(r["sample_frames"], r["sample_stride"]) for r in out] == [(4, 2), (4, 2)]
    assert all("sample_frames" not in r for r in records)  # input untouched
    assert [{k: v for k, v in r.items() if not k.startswith("sample_")} for r in out] == records
    with pytest.raises(ValueError):
        temporal_records(records, 0, 1)

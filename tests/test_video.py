"""Tests for qvedbench.video: probing, sampling maths, decoding, resizing, errors and writing."""
from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from qvedbench import video
from qvedbench.video import VideoReadError, VideoWriteError, load_frames, probe, sample_indices, write_video

N_FRAMES, FPS, HEIGHT, WIDTH = 20, 10.0, 48, 80


def brightness(i: int) -> int:
    return 20 + 10 * i


def make_frames(n: int = N_FRAMES, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Frame i is uniformly grey at brightness(i), so a decoded frame reveals its index."""
    return np.stack([np.full((height, width, 3), brightness(i), dtype=np.uint8) for i in range(n)])


def frame_index(frame: np.ndarray) -> int:
    return int(round((float(frame.mean()) - 20) / 10))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(make_frames(), path, fps=FPS, crf=10)
    return path


# -- sample_indices ----------------------------------------------------------------------------------------

def test_uniform_sampling_takes_segment_centres():
    assert sample_indices(20, count=4) == [2, 7, 12, 17]
    assert sample_indices(10, count=10) == list(range(10))
    assert sample_indices(100, count=1) == [50]
    assert sample_indices(7, count=3) == [1, 3, 5]


def test_uniform_sampling_is_increasing_for_many_shapes():
    for n in range(1, 60):
        for count in range(1, n + 1):
            idx = sample_indices(n, count=count)
            assert len(idx) == count and all(a < b for a, b in zip(idx, idx[1:])) and 0 <= idx[0] and idx[-1] < n


def test_stride_sampling():
    assert sample_indices(10, stride=1) == list(range(10))
    assert sample_indices(10, stride=4) == [0, 4, 8]
    assert sample_indices(10, stride=4, start=3) == [3, 7]
    assert sample_indices(5) == [0, 1, 2, 3, 4]


def test_count_and_stride_window_is_centred():
    # span (4 - 1) * 2 + 1 = 7 of 20 frames, 13 spare frames: 6 before, 7 after
    assert sample_indices(20, count=4, stride=2) == [6, 8, 10, 12]
    assert sample_indices(7, count=4, stride=2) == [0, 2, 4, 6]
    assert sample_indices(20, count=4, stride=2, start=10) == [11, 13, 15, 17]


def test_uniform_sampling_with_start_covers_the_rest():
    assert sample_indices(20, count=2, start=10) == [12, 17]


@pytest.mark.parametrize("kwargs", [
    dict(num_frames=5, count=6),
    dict(num_frames=6, count=4, stride=2),
    dict(num_frames=5, count=2, start=4),
])
def test_too_short_raises(kwargs):
    with pytest.raises(ValueError, match="too short"):
        sample_indices(**kwargs)


@pytest.mark.parametrize("kwargs", [
    dict(num_frames=0), dict(num_frames=5, count=0), dict(num_frames=5, stride=0), dict(num_frames=5, start=5),
    dict(num_frames=5, start=-1),
])
def test_invalid_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        sample_indices(**kwargs)


# -- probe and load ----------------------------------------------------------------------------------------

def test_probe(clip):
    info = probe(clip)
    assert (info.num_frames, info.width, info.height) == (N_FRAMES, WIDTH, HEIGHT)
    assert info.fps == pytest.approx(FPS)
    assert info.duration_s == pytest.approx(N_FRAMES / FPS)


def test_load_frames_decodes_the_sampled_frames(clip):
    frames = load_frames(clip, num_frames=4)
    assert frames.shape == (4, HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    assert [frame_index(f) for f in frames] == [2, 7, 12, 17]


def test_load_frames_by_stride_and_all(clip):
    assert [frame_index(f) for f in load_frames(clip, stride=4)] == [0, 4, 8, 12, 16]
    assert [frame_index(f) for f in load_frames(clip, num_frames=3, stride=2)] == [7, 9, 11]
    assert [frame_index(f) for f in load_frames(clip)] == list(range(N_FRAMES))


def test_resize(clip):
    assert load_frames(clip, num_frames=2, size=32).shape == (2, 32, 32, 3)
    resized = load_frames(clip, num_frames=2, size=(24, 40))
    assert resized.shape == (2, 24, 40, 3)
    assert [frame_index(f) for f in resized] == [5, 15]  # content survives INTER_AREA


def test_too_short_clip_names_the_file(clip):
    with pytest.raises(ValueError, match="clip.mp4.*too short"):
        load_frames(clip, num_frames=N_FRAMES + 1)


def test_opencv_fallback_gives_the_same_frames(clip, monkeypatch):
    expected = load_frames(clip, num_frames=5)
    monkeypatch.setattr(video, "decord", None)
    info = probe(clip)
    assert (info.num_frames, info.width, info.height) == (N_FRAMES, WIDTH, HEIGHT)
    got = load_frames(clip, num_frames=5)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).mean() < 2


def test_width_decord_mis_sizes_still_loads(tmp_path):
    path = tmp_path / "w48.mp4"
    write_video(make_frames(6, 32, 48), path, fps=FPS)
    assert probe(path).width == 48
    assert [frame_index(f) for f in load_frames(path, num_frames=3)] == [1, 3, 5]


# -- unreadable inputs -------------------------------------------------------------------------------------

def _expect_read_error(path, match):
    for fn in (probe, load_frames):
        with pytest.raises(VideoReadError, match=match) as info:
            fn(path)
        assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    _expect_read_error(tmp_path / "nope.mp4", "not found")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.touch()
    _expect_read_error(path, "empty")


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    _expect_read_error(path, "decode|open")


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_file(clip, tmp_path, keep):
    data = clip.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(VideoReadError, match="cut.mp4"):
        probe(path)


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "audio.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.5", str(path)], check=True)
    _expect_read_error(path, "no video stream|no decodable frames")


def test_directory_is_not_a_video(tmp_path):
    _expect_read_error(tmp_path, "not a regular file")


# -- writing -----------------------------------------------------------------------------------------------

def test_write_video_round_trip_and_streaming(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    frames[:, :16] = [200, 30, 30]  # a red band: checks the RGB channel order survives
    path = tmp_path / "sub" / "rt.mp4"
    write_video(iter(list(frames)), path, fps=5, crf=0)
    back = load_frames(path)
    assert back.shape == frames.shape
    band = back[:, :14].reshape(-1, 3).mean(axis=0)
    assert band[0] > 180 and band[1] < 50 and band[2] < 50
    assert not [p for p in path.parent.iterdir() if p.name != "rt.mp4"]  # no temporary files left


def test_write_video_pads_odd_sizes(tmp_path):
    path = tmp_path / "odd.mp4"
    write_video(make_frames(3, 33, 47), path, fps=FPS)
    info = probe(path)
    assert (info.height, info.width) == (34, 48)


def test_write_video_is_byte_deterministic(tmp_path):
    frames = make_frames(8)
    write_video(frames, tmp_path / "a.mp4", fps=FPS)
    write_video(frames, tmp_path / "b.mp4", fps=FPS)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_write_video_rejects_bad_frames_without_leaving_a_file(tmp_path):
    path = tmp_path / "bad.mp4"
    with pytest.raises(ValueError, match="uint8"):
        write_video(np.zeros((3, 16, 16, 3), dtype=np.float32), path, fps=FPS)
    with pytest.raises(ValueError, match="frame 1"):
        write_video([np.zeros((16, 16, 3), np.uint8), np.zeros((18, 16, 3), np.uint8)], path, fps=FPS)
    with pytest.raises(ValueError, match="no frames"):
        write_video([], path, fps=FPS)
    assert list(tmp_path.iterdir()) == []


def test_write_video_without_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(VideoWriteError, match="ffmpeg"):
        write_video(make_frames(2), tmp_path / "x.mp4", fps=FPS)


def test_write_video_reports_ffmpeg_failure(tmp_path):
    with pytest.raises(VideoWriteError, match="exit status"):
        write_video(make_frames(2), tmp_path / "x.mp4", fps=FPS, preset="no-such-preset")
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_write_video_output_is_h264_yuv420p(clip):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,pix_fmt",
         "-of", "csv=p=0", str(clip)], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "h264,yuv420p"

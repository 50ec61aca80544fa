"""Video in, video out: every frame super-resolved, frame count, rate and audio kept, streamed, atomic."""
import os
import tracemalloc
import types

import av
import cv2
import numpy as np
import pytest
import torch
from skimage import data

from conftest import assert_one_line_error
from rwsr.archs import build_generator
from rwsr.archs.network_files import save_network
from rwsr.inference import SRInference
from rwsr.inference.channels import ImageUpscaler
from rwsr.inference.video import super_resolve_video
from rwsr.metrics import calculate_psnr

RATE, FRAMES, SIZE = 24, 8, (40, 48)  # LR clips: 8 frames of 48x40 at 24 fps


def make_clip(path, frames=FRAMES, audio=True, size=SIZE):
    """An H.264 clip panning over a real photo, with a 440 Hz AAC tone when audio."""
    photo = data.astronaut()
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=RATE)
        video.width, video.height, video.pix_fmt = size[1], size[0], "yuv420p"
        sound = out.add_stream("aac", rate=48000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for index in range(frames):
            crop = np.ascontiguousarray(photo[120 + 3 * index:120 + 3 * index + size[0], 180:180 + size[1]])
            out.mux(video.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")))
        out.mux(video.encode(None))
        if sound is not None:
            count = 48000 * frames // RATE
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(count) / 48000)).astype(np.float32)[None]
            for start in range(0, count, 1024):
                frame = av.AudioFrame.from_ndarray(tone[:, start:start + 1024], format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 48000, start
                out.mux(sound.encode(frame))
            out.mux(sound.encode(None))


def _frames(path):
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _audio_packets(path):
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        return [bytes(packet) for packet in container.demux(audio=0) if packet.dts is not None]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    os.makedirs(root / "in")
    make_clip(root / "in" / "talk.mp4", audio=True)
    make_clip(root / "in" / "silent.mkv", audio=False)
    torch.manual_seed(0)
    net = build_generator({"which_model_G": "RRDBNet", "in_nc": 3, "out_nc": 3, "nf": 8, "nb": 1, "gc": 8,
                           "upscale": 4, "global_residual": True}).eval()
    save_network(net, str(root / "G.pth"))
    return types.SimpleNamespace(root=root, net=net, model=str(root / "G.pth"))


def run_cli(capsys, *argv):
    from rwsr.cli.test import main

    try:
        code = main([str(arg) for arg in argv] + ["--backend", "torch", "--no_progress"])
    except SystemExit as exit_:
        code = exit_.code
    captured = capsys.readouterr()
    return types.SimpleNamespace(returncode=code or 0, stdout=captured.out, stderr=captured.err)


def test_folder_of_clips_with_and_without_audio(clips, tmp_path, capsys):
    out = tmp_path / "out"
    result = run_cli(capsys, "--model", clips.model, "--input", clips.root / "in", "--output", out, "--tile", "24",
                     "--tile_pad", "4", "--arch", "global_residual=true")
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == ["silent.mkv", "talk.mp4"]  # no temporary file left
    reference = ImageUpscaler(SRInference(clips.net, 4, tile=24, tile_pad=4))
    for name, audio in (("talk.mp4", True), ("silent.mkv", False)):
        with av.open(str(out / name)) as container:
            stream = container.streams.video[0]
            assert (stream.width, stream.height) == (SIZE[1] * 4, SIZE[0] * 4)
            assert stream.average_rate == RATE
        decoded_in, decoded_out = _frames(clips.root / "in" / name), _frames(out / name)
        assert len(decoded_out) == len(decoded_in) == FRAMES
        for lr, sr in zip(decoded_in, decoded_out):
            assert calculate_psnr(sr, reference.run(lr)) > 30  # the SR frame, through a lossy codec
        packets = _audio_packets(out / name)
        assert (packets is not None) == audio
        if audio:
            assert packets == _audio_packets(clips.root / "in" / name)  # copied, not re-encoded


def test_odd_sizes_and_outscale(clips, tmp_path):
    upscaler = ImageUpscaler(SRInference(clips.net, 4), outscale=1.3)  # 48x40 -> 62x52
    info = super_resolve_video(str(clips.root / "in" / "talk.mp4"), str(tmp_path / "talk.mp4"), upscaler.run,
                               upscaler.target_size)
    assert info["frames"] == FRAMES and info["fps"] == RATE
    frames = _frames(tmp_path / "talk.mp4")
    assert len(frames) == FRAMES and frames[0].shape == (52, 62, 3)


def _peak_traced_bytes(source, target, frames):
    make_clip(source, frames=frames, audio=True, size=(96, 128))
    tracemalloc.start()
    try:
        super_resolve_video(str(source), str(target), lambda rgb: cv2.resize(rgb, (512, 384)), lambda h, w: (384, 512))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_clip(tmp_path):
    short = _peak_traced_bytes(tmp_path / "short.mp4", tmp_path / "o_short.mp4", 4)
    long = _peak_traced_bytes(tmp_path / "long.mp4", tmp_path / "o_long.mp4", 40)
    frame_bytes = 384 * 512 * 3
    assert long < short + 2 * frame_bytes  # holding the frames would add 36 x 590 kB


@pytest.mark.parametrize("damage", ["truncated", "not_a_video"])
def test_broken_video_is_one_line_and_leaves_nothing(clips, tmp_path, capsys, damage):
    os.makedirs(tmp_path / "in")
    good = open(clips.root / "in" / "talk.mp4", "rb").read()
    broken = good[: len(good) // 3] if damage == "truncated" else b"no video here" * 100
    (tmp_path / "in" / "clip.mp4").write_bytes(broken)
    result = run_cli(capsys, "--model", clips.model, "--input", tmp_path / "in" / "clip.mp4", "--output",
                     tmp_path / "out")
    assert_one_line_error(result, "1 of 1", code=1)
    assert "clip.mp4" in result.stderr
    assert os.listdir(tmp_path / "out") == []


def test_existing_video_needs_overwrite(clips, tmp_path, capsys):
    os.makedirs(tmp_path / "out")
    (tmp_path / "out" / "talk.mp4").write_bytes(b"keep me")
    result = run_cli(capsys, "--model", clips.model, "--input", clips.root / "in" / "talk.mp4", "--output",
                     tmp_path / "out")
    assert_one_line_error(result, "talk.mp4", "--overwrite", code=2)
    assert open(tmp_path / "out" / "talk.mp4", "rb").read() == b"keep me"

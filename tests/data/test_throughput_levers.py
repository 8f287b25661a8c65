"""The lever benchmark's measuring aids: our dataset decoding given clips (the original's),
seeded passes drawing the same clips, and the decoded-frame counts beside each row."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_decode_levers import plain_pyav, write_video

from videomae_ssl.data.readers import open_video

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "data_throughput.py"
_spec = importlib.util.spec_from_file_location("data_throughput", SCRIPT)
bench = importlib.util.module_from_spec(_spec)
sys.modules["data_throughput"] = bench
_spec.loader.exec_module(bench)

GOP = 12


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench_levers") / "gop12.mp4"
    write_video(path, num_frames=120, gop=GOP)
    return path


def test_given_frames_are_the_frames_decoded(video):
    given = [[3, 7, 11], [50, 54, 58, 62], [100, 119]]
    ds = bench.ours([video], len(given), 4, "pyav", frames=given)
    reads = []
    with bench.recording_reads(reads):
        # The pretraining dataset reads (frames, motion field): the frames are the first.
        decoded = [ds.decode_train(i, 0)[2][0] for i in range(len(given))]
    assert [indices for _, indices in reads] == given
    everything = plain_pyav(video)
    for frames, indices in zip(decoded, given, strict=True):
        assert torch.equal(
            torch.as_tensor(np.asarray(frames)), torch.from_numpy(everything[indices])
        )


def test_seeded_passes_draw_the_same_clips():
    draws = []
    run = bench.seeded(lambda: draws.append((np.random.randint(1000, size=4), np.random.rand())))
    run()
    run()
    assert np.array_equal(draws[0][0], draws[1][0]) and draws[0][1] == draws[1][1]


def test_decoded_frames_follow_the_keyframes(video):
    # keyframes every 12 frames: [50, 62] starts at 48, [3, 11] at 0, [100, 119] at 96
    reads = [(str(video), [50, 54, 58, 62]), (str(video), [3, 11]), (str(video), [100, 119])]
    assert bench.decoded_per_read(reads) == np.mean([62 - 48 + 1, 11 + 1, 119 - 96 + 1])
    counts = []
    for _, indices in reads:  # PyAV's own count agrees
        with open_video(str(video), "pyav") as reader:
            reader.read(indices)
            counts.append(reader.frames_decoded)
    assert bench.decoded_per_read(reads) == np.mean(counts)


@pytest.mark.parametrize("rate", [2, 4])
def test_population_mean_of_decoded_frames(video, rate):
    span = 15 * rate
    expected = np.mean([s + span - GOP * (s // GOP) + 1 for s in range(120 - span)])
    assert bench.expected_decoded([video], rate) == pytest.approx(expected)

import json

import numpy as np
import pytest

from abr.media.video import (
    ENVIVIO_BITRATES_KBPS,
    VideoError,
    load_pensieve_video,
    load_video,
    save_video_json,
    synth_video,
)


def test_envivio_table(envivio):
    assert envivio.n_levels == 6 and envivio.n_chunks == 48 and envivio.chunk_s == 4.0
    mean_kbps = envivio.sizes_bytes.mean(axis=1) * 8 / 1000 / 4
    # PROVENANCE.md: 303.8 / 755.2 / 1205.8 / 1856.1 / 2859.9 / 4308.7 kbps over chunks 1-48
    np.testing.assert_allclose(mean_kbps, [303.8, 755.2, 1205.8, 1856.1, 2859.9, 4308.7], atol=0.06)


def test_default_video_is_embedded_with_the_envivio_ladder():
    video = load_video()
    assert tuple(video.bitrates_kbps) == ENVIVIO_BITRATES_KBPS
    assert (video.n_chunks, video.chunk_s) == (48, 4.0)


def test_json_round_trip_and_nominal_sizes(tmp_path):
    video = synth_video(seed=3)
    save_video_json(video, tmp_path / "v.json")
    back = load_video(tmp_path / "v.json")
    np.testing.assert_array_equal(back.sizes_bytes, video.sizes_bytes)
    (tmp_path / "cbr.json").write_text(
        json.dumps({"bitrates_kbps": [400, 800], "chunk_s": 2, "n_chunks": 5})
    )
    cbr = load_video(tmp_path / "cbr.json")
    np.testing.assert_array_equal(cbr.sizes_bytes, [[100_000] * 5, [200_000] * 5])


def test_synth_video_is_seeded_and_tracks_the_ladder():
    a, b, c = synth_video(seed=1), synth_video(seed=1), synth_video(seed=2)
    np.testing.assert_array_equal(a.sizes_bytes, b.sizes_bytes)
    assert not np.array_equal(a.sizes_bytes, c.sizes_bytes)
    mean_kbps = a.sizes_bytes.mean(axis=1) * 8 / 1000 / 4
    np.testing.assert_allclose(mean_kbps, ENVIVIO_BITRATES_KBPS, rtol=0.15)
    assert (np.diff(a.sizes_bytes, axis=0) > 0).all()  # a higher level is bigger, chunk by chunk


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"bitrates_kbps": [800, 400], "chunk_s": 2, "n_chunks": 3}, "strictly increasing"),
        ({"bitrates_kbps": [400], "chunk_s": 0, "n_chunks": 3}, "chunk_s must be positive"),
        ({"bitrates_kbps": [400], "chunk_s": 2}, "needs 'sizes_bytes' or 'n_chunks'"),
        ({"chunk_s": 2, "n_chunks": 3}, "missing field 'bitrates_kbps'"),
        (
            {"bitrates_kbps": [400, 800], "chunk_s": 2, "sizes_bytes": [[1, 2]]},
            "sizes_bytes must be",
        ),
        (
            {"bitrates_kbps": [400], "chunk_s": 2, "sizes_bytes": [[1, -2]]},
            "positive number of bytes",
        ),
    ],
)
def test_bad_manifests_are_rejected(tmp_path, manifest, message):
    path = tmp_path / "v.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(VideoError, match=message):
        load_video(path)


def test_bad_pensieve_tables_are_rejected(tmp_path):
    for level in range(6):
        (tmp_path / f"video_size_{level}").write_text("100\n200\n")
    with pytest.raises(VideoError, match="asked for 48 chunks, the table has 2"):
        load_pensieve_video(tmp_path)
    (tmp_path / "video_size_3").write_text("100\nlots\n")
    with pytest.raises(VideoError, match=r"video_size_3:2: not a number"):
        load_pensieve_video(tmp_path, n_chunks=2)
    with pytest.raises(VideoError, match="no such video"):
        load_video(tmp_path / "missing")

"""The timeline plot says which policy stalled, and by how much."""

import matplotlib.pyplot as plt

from abr.bench.report import timeline_figure
from abr.bench.run import run_policy
from abr.media.traces import load_traces
from abr.media.video import load_video
from abr.policies.registry import make_policy


def test_the_stall_panel_names_each_policy_that_stalled_with_its_total():
    traces, video = load_traces(["traces/default/test"]), load_video(None)
    runs = {name: run_policy(make_policy(name), traces, video) for name in ("fixed:5", "bb")}
    trace = int(runs["fixed:5"].rebuffer_s.sum(axis=0).argmax())  # where the top rung stalls most
    figure = timeline_figure(runs, trace, video.bitrates_kbps, video.chunk_s)
    legend = figure.axes[3].get_legend()
    labels = [text.get_text() for text in legend.get_texts()]
    stalled_s = runs["fixed:5"].rebuffer_s[:, trace].sum()
    assert f"fixed:5: {stalled_s:.1f} s" in labels
    for name, run in runs.items():  # a policy that never stalled there is not listed
        assert any(label.startswith(f"{name}:") for label in labels) == (
            run.rebuffer_s[:, trace].sum() > 0
        )
    plt.close(figure)

"""minimsam.tutorial.well_legend_handles: the bar legend of notebook 04 in no optimizer's colour."""

import matplotlib

matplotlib.use("Agg")
from matplotlib.colors import to_hex  # noqa: E402

from minimsam import tutorial, viz  # noqa: E402


def test_well_legend_handles_are_neutral_and_match_the_bars():
    handles = tutorial.well_legend_handles()
    assert [h.get_label() for h in handles] == ["ends flat", "ends sharp", "ends elsewhere"]
    assert [h.get_hatch() or "" for h in handles] == ["", "//", ".."]
    optimizer_colours = {c.lower() for c in viz.COLORS.values()}
    assert all(to_hex(h.get_facecolor()) not in optimizer_colours for h in handles)

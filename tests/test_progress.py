import io

import pytest
from rich.console import Console

from edgebench.progress import SweepProgress, format_duration, format_eta


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def plain(total: int, **kwargs) -> tuple[SweepProgress, io.StringIO, FakeClock]:
    stream, clock = io.StringIO(), FakeClock()
    return SweepProgress(total, stream=stream, clock=clock, **kwargs), stream, clock


# --- plain mode (a file or a pipe) --------------------------------------------------------------------

def test_plain_output_has_no_escape_codes_and_keeps_logs_in_order():
    progress, stream, clock = plain(3, live=False)
    with progress:
        progress.log("preparing timm:resnet18 ...")
        for i in range(3):
            clock.now += 40
            progress.status(f"timm:resnet18 b1 · round {i} · onnxruntime int8")
            progress.advance()
            progress.log(f"[{i + 1}/3] result {i}")
        progress.log("warning: busy")
    out = stream.getvalue()
    assert "\r" not in out and "\x1b" not in out
    lines = out.splitlines()
    logs = [line for line in lines if not line.startswith("...")]
    assert logs == ["preparing timm:resnet18 ...", "[1/3] result 0", "[2/3] result 1", "[3/3] result 2",
                    "warning: busy"]
    assert len(lines) == len(logs) + 3  # one heartbeat per status, each 40 s after the last


def test_live_none_is_plain_on_a_file_and_live_on_a_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    assert SweepProgress(1, stream=io.StringIO()).live is False
    assert SweepProgress(1, stream=TtyStream()).live is True
    monkeypatch.setenv("TERM", "dumb")
    assert SweepProgress(1, stream=TtyStream()).live is False


def test_heartbeat_is_rate_limited():
    progress, stream, clock = plain(10, live=False, heartbeat_s=30)
    with progress:
        progress.status("cell A")  # at the start: nothing yet
        for _ in range(50):  # 50 statuses over 25 s: still within the first interval
            clock.now += 0.5
            progress.status("cell A round")
        assert stream.getvalue() == ""
        clock.now += 5  # 30 s after the start
        progress.status("cell B")
        clock.now += 29
        progress.status("cell C")  # 29 s after the last heartbeat: held back
        clock.now += 1
        progress.status("cell D")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(": cell B") and lines[1].endswith(": cell D")


def test_heartbeat_says_counts_elapsed_and_time_left():
    progress, stream, clock = plain(84, live=False)
    with progress:
        clock.now += 6 * 60
        progress.advance(12)  # 30 s per cell, 72 cells left: 36 min
        progress.status("timm:resnet18 b1 · round 4 · onnxruntime int8")
    assert stream.getvalue() == ("... 12/84 cells, 6 min elapsed, about 36 min left: "
                                 "timm:resnet18 b1 · round 4 · onnxruntime int8\n")


# --- the estimate -------------------------------------------------------------------------------------

def test_eta_unweighted_is_elapsed_per_cell_times_cells_left():
    progress, _, clock = plain(10, live=False)
    with progress:
        assert progress.eta_s() is None  # nothing finished yet
        clock.now += 60
        assert progress.eta_s() is None
        progress.advance(2)
        assert progress.eta_s() == pytest.approx(60 / 2 * 8)
        clock.now += 60
        progress.advance(3)
        assert progress.eta_s() == pytest.approx(120 / 5 * 5)
        progress.advance(5)
        assert progress.eta_s() == 0.0


def test_eta_weighted_counts_the_size_of_the_cells_left():
    progress, _, clock = plain(4, live=False)
    with progress:
        progress.add_work(10 + 10 + 40 + 40)  # two small cells first, two large ones after
        clock.now += 20
        progress.advance(weight=10)
        # 2 s per unit of work, 90 units left; counting cells alike would say 20 s × 3 = 60 s
        assert progress.eta_s() == pytest.approx(180)
        clock.now += 20
        progress.advance(weight=10)
        assert progress.eta_s() == pytest.approx(40 / 20 * 80)


def test_eta_weighted_default_weight_is_the_average_declared_cell():
    progress, _, clock = plain(4, live=False)
    with progress:
        progress.add_work(100)
        clock.now += 50
        progress.advance()  # counts as 25 units
        assert progress.eta_s() == pytest.approx(50 / 25 * 75)


def test_eta_falls_back_to_cells_when_the_declared_work_ran_out():
    progress, _, clock = plain(4, live=False)
    with progress:
        progress.add_work(10)
        clock.now += 30
        progress.advance(weight=12)  # the estimate was too small and cells remain
        assert progress.eta_s() == pytest.approx(30 * 3)


def test_eta_of_a_resumed_run_uses_only_this_sessions_cells():
    progress, stream, clock = plain(10, done=5, live=False)
    with progress:
        assert progress.eta_s() is None
        clock.now += 30
        progress.advance()
        assert progress.eta_s() == pytest.approx(30 * 4)  # the 5 cells done before took no time here
        clock.now += 30
        progress.status("x")
    # 60 s for this session's one cell × 4 left; counting the 5 cells done before would say 40 s
    assert stream.getvalue().startswith("... 6/10 cells, 1 min elapsed, about 4 min left: x")


def test_add_work_can_add_cells_planned_later():
    progress, _, clock = plain(2, live=False)
    with progress:
        clock.now += 10
        progress.advance()
        progress.add_work(0, cells=3)
        assert (progress.done, progress.total) == (1, 5)
        assert progress.eta_s() == pytest.approx(10 * 4)


def test_wrong_counts_are_refused():
    with pytest.raises(ValueError):
        SweepProgress(-1)
    with pytest.raises(ValueError):
        SweepProgress(3, done=4)
    progress, _, _ = plain(2, live=False)
    with pytest.raises(ValueError):
        progress.add_work(-1)
    with pytest.raises(ValueError):
        progress.advance(-1)


@pytest.mark.parametrize(("seconds", "text"), [
    (3, "under 10 s"), (42, "about 40 s"), (56, "about 55 s"), (58, "about 1 min"), (61, "about 1 min"), (9 * 60 + 20, "about 9 min"),
    (3599, "about 1 h"), (3600 + 20 * 60 + 100, "about 1 h 20 min"), (2 * 3600 + 2 * 60, "about 2 h"),
    (13.4 * 3600, "about 13 h"),
])
def test_format_eta(seconds, text):
    assert format_eta(seconds) == text


@pytest.mark.parametrize(("seconds", "text"), [(7.4, "7 s"), (6 * 60 + 10, "6 min"), (3600 + 5 * 60, "1 h 05 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# --- live mode (a terminal) ---------------------------------------------------------------------------

def test_live_display_renders_status_logs_and_counts():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    clock = FakeClock()
    with SweepProgress(3, console=console, clock=clock) as progress:
        assert progress.live
        progress.log("preparing timm:resnet18 [bold]...[/bold]")  # no markup: the text as it is
        progress.status("timm:resnet18 b1 · round 4 · onnxruntime int8")
        clock.now += 90
        progress.advance()
        progress.log("[1/3] timm:resnet18 onnxruntime int8 b1 ok")
        clock.now += 1
        progress.status("timm:resnet18 b1 · round 5 · openvino fp32")
    text = out.getvalue()
    assert "\x1b[" in text  # drawn as a live display, not plain lines
    assert "preparing timm:resnet18 [bold]...[/bold]" in text
    assert text.index("preparing timm:resnet18") < text.index("[1/3] timm:resnet18 onnxruntime int8 b1 ok")
    assert "timm:resnet18 b1 · round 4 · onnxruntime int8" in text
    assert "timm:resnet18 b1 · round 5 · openvino fp32" in text
    assert "1/3 cells" in text and "about 3 min left" in text  # 90 s per cell, 2 cells left


def test_live_true_draws_on_a_plain_stream():
    stream, clock = io.StringIO(), FakeClock()
    with SweepProgress(2, stream=stream, live=True, clock=clock) as progress:
        progress.status("running cell A")
        progress.log("result A")
    text = stream.getvalue()
    assert "\x1b[" in text and "running cell A" in text and "result A" in text

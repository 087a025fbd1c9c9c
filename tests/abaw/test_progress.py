import io

from abaw.progress import ENV_SECONDS, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_each_update_is_a_line_of_its_own(monkeypatch):
    monkeypatch.setenv(ENV_SECONDS, "0")
    log = io.StringIO()
    for _ in progress(range(5), file=log, desc="work", leave=False):
        pass
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) >= 2 and all(line.startswith("work:") for line in lines)
    assert "5/5" in lines[-1]  # the final state stays in the log even when the bar would vanish


def test_off_a_terminal_lines_come_at_most_every_n_seconds(monkeypatch):
    monkeypatch.setenv(ENV_SECONDS, "3600")
    log = io.StringIO()
    with progress(total=1000, file=log, desc="fast") as bar:
        for _ in range(1000):
            bar.update(1)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "0/1000" in lines[0] and "1000/1000" in lines[1]


def test_on_a_terminal_the_bar_redraws_in_place():
    screen = Terminal()
    for _ in progress(range(3), file=screen, desc="live", mininterval=0):
        pass
    assert "\r" in screen.getvalue()


def test_a_bad_interval_falls_back_to_the_default(monkeypatch):
    from abaw.progress import DEFAULT_SECONDS, seconds_between_lines

    monkeypatch.setenv(ENV_SECONDS, "soon")
    assert seconds_between_lines() == DEFAULT_SECONDS

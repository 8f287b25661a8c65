"""Lines the commands print for people."""

import sys

from tqdm import tqdm

from videomae_ssl.console import say


def test_a_line_said_during_a_progress_bar_stands_on_its_own_line(capsys):
    bar = tqdm(total=10, file=sys.stdout, ascii=True)
    bar.update(3)
    say("epoch 3: loss 0.42")
    bar.update(1)
    bar.close()
    out = capsys.readouterr().out
    # The terminal shows what follows the last carriage return of each line: the said text
    # alone, not glued to the bar's "3/10" (a plain print would write it right after the bar).
    shown = [line.rsplit("\r", 1)[-1] for line in out.split("\n")]
    assert "epoch 3: loss 0.42" in shown, out

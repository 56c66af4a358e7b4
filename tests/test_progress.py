"""gru_jax.progress: the rich bar shows the description, seed-epochs done of the total and the
rate (rich is a dependency whose floor the suite checks: this test is what runs it)."""
import time

from gru_jax.progress import progress_bar


def test_progress_bar_counts_seed_epochs(capsys):
    with progress_bar(total=1200, completed=200, description="training") as advance:
        advance(400)
        time.sleep(0.05)
        advance(600, description="sweep: 1/2 cells done")
    out = capsys.readouterr().out
    assert "1200/1200" in out and "sweep: 1/2 cells done" in out
    assert "seed-epochs/s" in out


def test_a_disabled_bar_prints_nothing(capsys):
    with progress_bar(total=10, enabled=False) as advance:
        advance(10, description="x")
    assert capsys.readouterr().out == ""

"""Models: baselines adapt to a new normal, never learn from flagged windows, start warm."""

from __future__ import annotations

import random

from detector.config import Config
from detector.families import FamilyProcessor
from detector.records import RecordParser
from models.halfspace import SquashedHalfSpaceTrees
from models.proportion import ProportionBaseline
from models.rate import SeasonalRate

STEP_MS = 10_000


def _feed(model: SeasonalRate, start: int, steps: int, mean: float, rng: random.Random) -> None:
    for step in range(start, start + steps):
        count = sum(1 for _ in range(int(mean * 4)) if rng.random() < 0.25)
        model.learn_one({"ts": step * STEP_MS, "count": count, "span": 1})


def test_rate_baseline_adapts_to_a_level_shift() -> None:
    rng = random.Random(3)
    model = SeasonalRate(prior_rate=1.0, half_life_steps=360)
    _feed(model, 0, 2000, 2.0, rng)
    assert 1.8 < model.rate < 2.2
    shifted = {"ts": 2000 * STEP_MS, "count": 60, "span": 6}
    assert model.score_one(shifted) > 6
    _feed(model, 2000, 3000, 10.0, rng)
    assert 9.0 < model.rate < 11.0
    assert model.score_one({"ts": 5000 * STEP_MS, "count": 60, "span": 6}) < 1


def test_new_entities_borrow_the_population_prior() -> None:
    model = SeasonalRate(prior_rate=0.5, prior_weight=30)
    assert model.rate == 0.5
    assert model.score_one({"ts": 0, "count": 3, "span": 6}) == 0.0
    assert model.score_one({"ts": 0, "count": 40, "span": 6}) > 6


def test_a_number_s_first_burst_does_not_make_it_bursty() -> None:
    """A number that gets a message a week, then two codes a step for five steps: its
    residuals against the prior measure the prior's error, not the number's burstiness.
    Learnt as dispersion, they would divide the next window's surprise by a hundred."""
    learnt, held = (SeasonalRate(prior_rate=0.003, prior_weight=360, dispersion_after=after)
                    for after in (0, 360))
    for model in (learnt, held):
        for step in range(5):
            model.learn_one({"ts": step * STEP_MS, "count": 2, "span": 1})
    burst = {"ts": 5 * STEP_MS, "count": 12, "span": 6}
    assert learnt.dispersion > 10 and held.dispersion == 1.0
    assert held.score_one(burst) > learnt.score_one(burst) and held.score_one(burst) > 6


def test_a_quiet_account_s_first_real_burst_stays_a_surprise() -> None:
    """Thirteen sends in seven hours, against a prior of two a minute: each quiet
    stretch is a huge over-prediction of the prior's, learnt as dispersion. Whatever it
    says about a long stretch, it cannot apply in full to a step expected to hold a
    fraction of one send: a hijacker's nine sends in one must stay a surprise."""
    model = SeasonalRate(prior_rate=2.0 / 6, prior_weight=360)
    step = 0
    for gap in (1, 77, 101, 290, 131, 6, 613, 150, 40, 300, 90, 200, 400):
        step += gap
        model.learn_one({"ts": step * STEP_MS, "count": 1, "span": gap})
    assert model.dispersion > 10
    assert model.score_one({"ts": (step + 1) * STEP_MS, "count": 9, "span": 1}) > 6


def test_dispersion_is_learnt_once_the_entity_has_a_history_of_its_own() -> None:
    """A bursty account, once warm: the same jump surprises it less than a steady one."""
    rng = random.Random(4)
    steady, bursty = (SeasonalRate(prior_rate=1.0, prior_weight=30) for _ in range(2))
    _feed(steady, 0, 500, 2.0, rng)
    for step in range(500):
        bursty.learn_one({"ts": step * STEP_MS, "count": 20 if step % 10 == 0 else 0,
                          "span": 1})
    assert bursty.dispersion > 3 * steady.dispersion
    jump = {"ts": 500 * STEP_MS, "count": 40, "span": 6}
    assert bursty.score_one(jump) < steady.score_one(jump) / 3


def test_proportion_baseline_is_directional_and_needs_a_real_effect() -> None:
    url = ProportionBaseline(prior=0.05, direction="up")
    for _ in range(100):
        url.learn_one({"hits": 1, "trials": 20})
    assert url.score_one({"hits": 0, "trials": 100}) == 0.0
    assert url.score_one({"hits": 6, "trials": 100}) == 0.0  # a wobble, not an attack
    assert url.score_one({"hits": 90, "trials": 100}) > 20


def test_half_space_trees_warm_up_before_scoring() -> None:
    model = SquashedHalfSpaceTrees(scales={"n": 5.0}, warmup=10, window_size=10)
    assert model.score_one({"n": 1000}) == 0.0
    for i in range(50):
        model.learn_one({"n": 4 + i % 3})
    assert model.score_one({"n": 1000}) > model.score_one({"n": 5})


def _sends(parser: RecordParser, start_s: int, seconds: int, per_s: float, account: str):
    for t in range(int(seconds * per_s)):
        n = t + 1
        yield parser.parse("sms.send", {
            "message_id": f"{account}-{start_s}-{n}", "ts": 1_772_438_400_000
            + int((start_s + t / per_s) * 1000), "account_id": account,
            "destination": f"+4915112{(n * 7919) % 1_000_000:06d}", "category": "transactional",
        })


def test_flagged_windows_do_not_teach_the_baseline() -> None:
    """An attack that goes on for an hour must still look like an attack."""
    config = Config()
    quiet, loud = FamilyProcessor("account", config), FamilyProcessor("account", config)
    parser = RecordParser()
    for proc in (quiet, loud):
        for ev in _sends(parser, 0, 3600, 0.2, "acct_a"):
            proc.process(ev)
    before = loud.entities["acct_a"].scopes["account:acct_a"].rate.rate
    alerts = []
    for ev in _sends(parser, 3600, 3600, 20.0, "acct_a"):
        alerts += loud.process(ev)
    after = loud.entities["acct_a"].scopes["account:acct_a"].rate.rate
    assert any(o.topic == "sms.alerts" for o in alerts)
    # it alerted, and the flagged hour left the learnt level where it was
    assert after < before * 2

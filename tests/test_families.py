"""Family processors: what one family key remembers does not depend on record order
inside a step, and every scope of an account asks "texted before?" of the same past."""

from __future__ import annotations

from detector.config import Config
from detector.families import FamilyProcessor
from detector.features import NEW_DEST, SENDS, VERIFIED
from detector.records import parse_record
from detector.scopes import W60

T0 = 1_767_225_600_000  # 2026-01-01T00:00Z
MIN = 60_000


def send(ts: int, destination: str, account: str = "a1", n: int = 0) -> object:
    return parse_record("sms.send", {
        "message_id": f"m{ts}-{n}", "ts": ts, "account_id": account,
        "destination": destination, "api_key_id": "k1", "category": "otp", "price": 0.05})


def verify(ts: int, destination: str, account: str = "a1") -> object:
    return parse_record("sms.verify", {"ts": ts, "account_id": account,
                                       "destination": destination, "verified": True})


def test_new_destinations_count_in_every_scope_of_the_account() -> None:
    proc = FamilyProcessor("account", Config())
    # Seventy minutes of an account texting a small German customer base: every
    # scope is past its first hour, so novelty counts.
    base = [f"+491511234{i:04d}" for i in range(20)]
    for minute in range(70):
        proc.process(send(T0 + minute * MIN, base[minute % len(base)], n=minute))
    # Then three numbers it never texted, in one step.
    fresh = ["+4915198700001", "+4915198705002", "+4915198730003"]
    for i, number in enumerate(fresh):
        proc.process(send(T0 + 71 * MIN + i, number, n=100 + i))
    proc.finish()
    scopes = proc.entities["a1"].scopes
    account = scopes["account:a1"].sums.totals(W60)
    country = scopes["account_country:a1|DE"].sums.totals(W60)
    key = scopes["api_key:k1"].sums.totals(W60)
    assert account[NEW_DEST] == country[NEW_DEST] == key[NEW_DEST] == 3
    assert account[SENDS] == country[SENDS] == key[SENDS]


def destination_totals(records: list) -> list[float]:
    proc = FamilyProcessor("destination", Config())
    for record in records:
        proc.process(record)
    proc.finish()
    return proc.entities["+447911123456"].scopes["destination:+447911123456"].sums.totals(W60)


def test_a_verification_beside_the_tracking_send_counts_in_either_order() -> None:
    number = "+447911123456"
    first = [send(T0, number, n=1), send(T0 + 20_000, number, n=2)]
    # The third send makes the number tracked; a verification has the same millisecond.
    third, check = send(T0 + 40_000, number, n=3), verify(T0 + 40_000, number)
    one = destination_totals([*first, third, check])
    other = destination_totals([*first, check, third])
    assert one == other
    assert one[SENDS] == 3 and one[VERIFIED] == 1


def test_a_number_nobody_texted_lately_is_not_tracked_for_a_verification() -> None:
    proc = FamilyProcessor("destination", Config())
    assert proc.process(verify(T0, "+447911123456")) == []
    assert proc.state_size() == 0


def test_numbers_texted_once_are_forgotten_on_event_time() -> None:
    from detector.pipeline import Detector

    det = Detector()
    # One message a second, each to a number nobody texts again, for forty minutes.
    for i in range(2400):
        det.process("sms.send", {
            "message_id": f"m{i}", "ts": T0 + i * 1000, "account_id": "a1",
            "destination": f"+4915112{i:06d}", "price": 0.05})
    # Numbers are held ten minutes and swept every ten minutes of event time: at most
    # the last twenty minutes' numbers are remembered, however slow the traffic is.
    assert det.families["destination"].state_size() <= 1200


def test_a_quiet_key_is_judged_once_the_stream_moves_past_its_step() -> None:
    config = Config()
    proc = FamilyProcessor("account", config)
    proc.process(send(T0 + 1_000, "+4915112340001", account="quiet"))
    step = (T0 + 1_000) // (config.detector.step_s * 1000)
    deadline = (step + 1) * config.detector.step_s * 1000 + config.detector.quiet_close_s * 1000
    # Another account keeps the stream going; "quiet" sends nothing more.
    for i, ts in enumerate(range(T0 + 2_000, deadline, 1_000)):
        proc.process(send(ts, "+4915112349999", account="busy", n=i))
    assert proc.entities["quiet"].open_steps == {step}  # not yet: the deadline is not reached
    proc.process(send(deadline, "+4915112349999", account="busy", n=999))
    assert proc.entities["quiet"].open_steps == set()
    assert proc.entities["quiet"].closed_through == step


def _outputs_by_partition(path, partitions: int) -> list[dict]:
    """Every family's outputs when its keys are spread over ``partitions`` processors."""
    import zlib

    import orjson

    from detector.records import RecordParser

    parser = RecordParser()
    config = Config()
    processors = {(family, p): FamilyProcessor(family, config)
                  for family in ("account", "prefix", "destination", "route")
                  for p in range(partitions)}
    out = []
    with open(path, "rb") as lines:
        for line in lines:
            record = orjson.loads(line)
            event = parser.parse(record["topic"], record["value"])
            for (_, p), proc in processors.items():
                key = proc.key_of(event)
                if key is not None and zlib.crc32(key.encode()) % partitions == p:
                    out.extend(proc.process(event))
    for proc in processors.values():
        out.extend(proc.finish())
    return sorted((o.value for o in out),
                  key=lambda v: orjson.dumps(v, option=orjson.OPT_SORT_KEYS))


def test_outputs_and_their_stamps_do_not_depend_on_how_keys_are_partitioned(tmp_path) -> None:
    """What a worker's partitions raise, a replay raises too, stamps included: a quiet
    key's steps close on a deadline, not on whichever other keys share its processor."""
    from detector.simulation import simulate

    path = tmp_path / "sim.jsonl"
    simulate(path, seed=4, hours=2, accounts=40)
    whole, split = _outputs_by_partition(path, 1), _outputs_by_partition(path, 3)
    assert whole and any(v.get("kind") for v in whole)  # it raised alerts to compare
    assert split == whole


def test_a_record_a_restored_state_already_holds_is_not_counted_twice() -> None:
    """The worker annotates a record its restored state already holds (other families
    still need the marks): how many sends and verifications the account has had, which
    decide whether its uncategorised sends are codes, must not count it again."""
    proc = FamilyProcessor("account", Config())
    records = [send(T0 + n * 1_000, f"+49151123{n:05d}", n=n) for n in range(20)]
    records += [verify(T0 + n * 1_000 + 500, f"+49151123{n:05d}") for n in range(20)]
    for record in sorted(records, key=lambda r: r.ts):
        proc.process(record)
    entity = proc.entities["a1"]
    counts = (entity.feed_sends, entity.feed_verifies)
    for record in records:
        proc.annotate(record)
    assert (entity.feed_sends, entity.feed_verifies) == counts
    assert counts[0] > 0 and counts[1] > 0


def report(ts: int, message_id: str, account: str = "a1") -> object:
    return parse_record("sms.dlr", {"message_id": message_id, "ts": ts, "account_id": account,
                                    "destination": "+491511234000", "status": "delivered",
                                    "route": "de-direct"})


def test_a_report_says_how_long_after_its_send_it_came() -> None:
    """The account remembers when each send was made (ten minutes), and its report
    carries the wait on to the route; a report of a send it never saw, or saw too long
    ago, carries none (a late one is judged as missing, not as slow)."""
    proc = FamilyProcessor("account", Config())
    proc.process(send(T0, "+491511234000", n=1))
    proc.process(send(T0 + 1_000, "+491511234000", n=2))
    first, unknown = report(T0 + 4_000, f"m{T0}-1"), report(T0 + 5_000, "elsewhere")
    late = report(T0 + 11 * MIN, f"m{T0 + 1_000}-2")
    for event in (first, unknown):
        proc.process(event)
    proc.process(send(T0 + 11 * MIN, "+491511234000", n=3))  # moves the memory on
    proc.process(late)
    assert (first.wait_ms, unknown.wait_ms, late.wait_ms) == (4_000, None, None)
    again = report(T0 + 6_000, f"m{T0}-1")  # a second report of the same send
    proc.process(again)
    assert again.wait_ms is None

"""Arrow tables of the demo company (events, users, spend), built column-wise."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from journeymap.demo.stories import DAY, STORIES
from journeymap.demo.world import World
from journeymap.store.schema import EVENT_CORE, TS_TYPE

PLANS = ("visitor", "free", "starter", "pro", "business")   # users.plan at the data end
CAMPAIGNS = [(ch, c) for ch, mix in STORIES["channels"]["campaigns"].items() for c in mix]
PROPS = {"channel": pa.string(), "campaign": pa.string(), "path": pa.string(), "step": pa.int64(),
         "plan": pa.string(), "revenue": pa.float64(), "score": pa.int64(), "comment": pa.string(),
         "topic": pa.string(), "resolution_hours": pa.float64()}
EVENTS_SCHEMA = pa.schema([*EVENT_CORE.items(), *PROPS.items()])


_DIGITS = np.array([sum((48 + d // 10 ** (3 - i) % 10) << (8 * i) for i in range(4)) for d in range(10_000)], "<u4")


def id_chars(prefix: str, numbers: np.ndarray, count: int) -> np.ndarray:
    """Ids `prefix` + zero-padded digits (3, 7, 11… wide to fit `count`), one raw item each.

    Built as little-endian words of four ASCII characters, so no per-string work."""
    words = 2
    while 10 ** (4 * words - 1) < count:
        words += 1
    x = numbers.astype(np.uint32 if count < 2**32 else np.uint64)
    out = np.empty((numbers.size, words), "<u4")
    for k in range(words - 1, 0, -1):
        x, r = np.divmod(x, x.dtype.type(10_000))
        out[:, k] = _DIGITS[r]
    out[:, 0] = (_DIGITS[x % x.dtype.type(1000)] & 0xFFFFFF00) | ord(prefix)
    return out.view(np.dtype((np.void, 4 * words))).ravel()


def arrow_strings(chars: np.ndarray) -> pa.Array:
    """An Arrow string array over fixed-width raw items, without per-string work."""
    offsets = np.arange(chars.size + 1, dtype=np.int32) * chars.dtype.itemsize
    return pa.Array.from_buffers(pa.string(), chars.size, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])


def _column(values, typ: pa.DataType) -> pa.Array:
    """A property column from an array, or (codes, vocabulary) with code -1 for null."""
    if isinstance(values, tuple):
        codes, words = values
        return pa.array(words, typ).take(pa.array(codes, pa.int64(), mask=codes < 0))
    return pa.array(values, typ)


def events_table(w: World, start_us: int, user_ids: np.ndarray) -> pa.Table:
    """Each block as one record batch, cut at the data end; event ids count across blocks."""
    keeps = [np.flatnonzero(t < w.end) for _, _, t, _, _ in w.blocks]
    total, batches, counted = sum(k.size for k in keeps), [], 0
    for (event, users, t, _, props), keep in zip(w.blocks, keeps):
        name = np.frombuffer(event.encode(), np.dtype((np.void, len(event.encode()))))
        cols = [arrow_strings(id_chars("e", np.arange(counted, counted + keep.size, dtype=np.int64), total)),
                arrow_strings(user_ids[users[keep]]), arrow_strings(np.repeat(name, keep.size)),
                pa.array(start_us + np.round(t[keep] * 1e6).astype(np.int64), TS_TYPE)]
        for prop, typ in PROPS.items():
            value = props.get(prop)
            if value is None:
                cols.append(pa.nulls(keep.size, typ))
            else:
                cols.append(_column((value[0][keep], value[1]) if isinstance(value, tuple)
                                    else np.asarray(value)[keep], typ))
        batches.append(pa.record_batch(cols, schema=EVENTS_SCHEMA))
        counted += keep.size
    return pa.Table.from_batches(batches, EVENTS_SCHEMA)


def users_table(w: World, user_ids: pa.Array) -> pa.Table:
    """Users with their traits; `plan` is the plan held at the data end."""
    signed = w.E[2] < w.end
    paying = (w.E[5] < w.end) & (w.cancel >= w.end)
    plan = np.where(paying, 2 + w.plan, np.where(signed, 1, 0))
    return pa.table({
        "user_id": user_ids,
        "team_size": pa.array(w.team_size, pa.int64()),
        "company_size": pa.array(w.S["company_sizes"]).take(pa.array(w.company)),
        "country": pa.array(list(w.S["countries"])).take(pa.array(w.country)),
        "signup_channel": pa.array(list(w.S["channels"]["share"])).take(pa.array(w.channel)),
        "plan": pa.array(PLANS).take(pa.array(plan)),
    })


def spend_table(w: World, start: dt.date) -> pa.Table:
    """Daily cost, impressions and clicks per channel and campaign, consistent with landings."""
    rng, C, days = w.rng, w.S["channels"], w.S["arrival_weeks"] * 7
    day = (w.arrival // DAY).astype(np.int64)
    landings = np.bincount(day * len(CAMPAIGNS) + w.campaign, minlength=days * len(CAMPAIGNS))
    channel, campaign = (np.tile(c, days) for c in zip(*CAMPAIGNS))
    clicks = landings + rng.poisson(landings * (1 / C["click_to_landing"] - 1))
    ctr = np.array([C["click_through_rate"][c] for c in channel])
    cpc = np.array([C["cost_per_click"][c] for c in channel])
    first = (start - dt.date(1970, 1, 1)).days
    return pa.table({
        "date": pa.array(np.repeat(np.arange(days, dtype=np.int32) + first, len(CAMPAIGNS))).cast(pa.date32()),
        "channel": pa.array(channel, pa.string()),
        "campaign": pa.array(campaign, pa.string()),
        "cost": pa.array(np.round(clicks * cpc * rng.lognormal(0.0, 0.1, clicks.size), 2), pa.float64()),
        "impressions": pa.array(clicks + rng.poisson(clicks * (1 / ctr - 1)), pa.int64()),
        "clicks": pa.array(clicks, pa.int64()),
    })


# Draw the journey first, then emit events in an order that keeps every exit last.

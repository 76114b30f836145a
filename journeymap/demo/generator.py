"""Tempo's synthetic event data: deterministic, offline and vectorised.

`generate()` walks every user through the demo journey with the sizes in
`journeymap.demo.stories.STORIES`, adds the side events that carry the other
stories (setup, activation moments, onboarding and checkout steps, renewals),
surveys and tickets per stage, noise and silent exits, and returns canonical
Arrow tables. Same arguments -> byte-identical tables. Event rows come grouped
by the step that drew them, not sorted: order by (`user_id`, `ts`) to read.

>>> data = generate(users=2_000)
>>> data.events.column_names[:4]
['event_id', 'user_id', 'event', 'ts']
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pyarrow as pa

from journeymap.demo.stories import DAY, EXPERIENCE_STAGES, PERSONAS, STAGES, STORIES
from journeymap.demo.tables import CAMPAIGNS, arrow_strings, events_table, id_chars, spend_table, users_table
from journeymap.demo.world import World

__all__ = ["DemoData", "generate"]

ZONES = ("landing", "site", "app", "checkout", "help")       # where an event happens (page paths)
STAGE_ZONES = ("landing", "site", "site", "app", "app", "checkout", "app", "app")


@dataclass(frozen=True)
class DemoData:
    """The demo company's tables, the planted stories and the journey file."""

    events: pa.Table
    users: pa.Table
    spend: pa.Table
    stories: dict
    journey_text: str


def _lognormal(rng, n, median_days, sigma, limit_days=None) -> np.ndarray:
    """Log-normal delays in seconds; with a limit, redrawn until strictly inside it."""
    d = np.exp(rng.normal(np.log(median_days * DAY), sigma, n))
    if limit_days is not None:
        bad = np.flatnonzero(d >= limit_days * DAY - 1)
        while bad.size:
            d[bad] = np.exp(rng.normal(np.log(median_days * DAY), sigma, bad.size))
            bad = bad[d[bad] >= limit_days * DAY - 1]
    return np.maximum(d, 60.0)


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For `counts[i]` rows per owner i: each row's owner and 0-based position."""
    owner = np.repeat(np.arange(counts.size), counts)
    return owner, np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts)


def _choice(rng, weights: dict, n: int) -> np.ndarray:
    """`n` codes drawn from the keys of `weights` (in order) with their weights."""
    p = np.array(list(weights.values()), float)
    return rng.choice(p.size, n, p=p / p.sum())


def _spread(rng, lo, hi, owner, j, k) -> np.ndarray:
    """Times for rows j=0..k-1 of each owner, strictly increasing inside (lo, hi)."""
    return lo[owner] + (j + rng.uniform(0.05, 0.95, j.size)) / k[owner] * (hi - lo)[owner]


def _population(w: World) -> None:
    """Personas, traits, first-touch channel and campaign, uniform arrival over the weeks."""
    rng, S, n = w.rng, w.S, w.n
    w.persona = _choice(rng, S["persona_mix"], n)
    w.arrival = rng.random(n) * S["arrival_weeks"] * 7 * DAY
    w.team_size = np.ones(n, np.int64)
    for k, persona in ((1, "team"), (2, "enterprise")):
        pick, law = np.flatnonzero(w.persona == k), S["team_size_lognormal"][persona]
        size = np.round(np.exp(rng.normal(np.log(law["median"]), law["sigma"], pick.size)))
        w.team_size[pick] = np.clip(size, *S["team_size"][persona])
    w.company = np.digitize(w.team_size * np.exp(rng.normal(1.0, 1.0, n)), [10.5, 50.5, 200.5, 1000.5])
    w.country = _choice(rng, S["countries"], n)
    w.channel = _choice(rng, S["channels"]["share"], n)
    w.campaign = np.zeros(n, np.int64)
    for k, channel in enumerate(S["channels"]["share"]):
        pick = np.flatnonzero(w.channel == k)
        first = [ch for ch, _ in CAMPAIGNS].index(channel)
        w.campaign[pick] = first + _choice(rng, S["channels"]["campaigns"][channel], pick.size)


def _advance(w: World, s: int, p) -> np.ndarray:
    """Users of stage s-1 enter stage `s` with probability `p`, inside its `within` limit."""
    prev, stage = w.E[s - 1], STAGES[s]
    idx = w.entered(s - 1)
    go = idx[w.rng.random(idx.size) < np.broadcast_to(np.asarray(p, float), (w.n,))[idx]]
    delay = w.S["delay_days"][stage]
    w.E[s, go] = prev[go] + _lognormal(w.rng, go.size, delay["median"], delay["sigma"],
                                       w.S["within_days"][stage])
    return go


def _funnel_top(w: World) -> None:
    """Awareness to onboarding, with the two interventions (one real, one without effect)."""
    w.E[0] = w.arrival
    _advance(w, 1, w.S["rates"]["consideration"])
    changes = {change["stage"]: change for change in w.S["interventions"]}
    for s in (2, 3):                        # each change moves the rate out of its stage
        change = changes[STAGES[s - 1]]
        after = w.E[s - 1] >= change["from_day"] * DAY
        _advance(w, s, np.where(after, change["rate_after"], change["rate_before"]))


def _setup_story(w: World) -> None:
    """A share of sign-ups completes setup within 7 days; some onboarded users do it later."""
    rng, S, E = w.rng, w.S, w.E
    signed = w.entered(2)
    quick = signed[rng.random(signed.size) < S["setup_share"]]
    w.setup7, w.setup_t = np.zeros(w.n, bool), np.full(w.n, np.nan)
    w.setup7[quick] = True
    w.setup_t[quick] = E[2, quick] + _lognormal(rng, quick.size, 2.0, 0.8, S["setup_within_days"])
    pool = np.flatnonzero(~np.isnan(E[3]) & ~w.setup7)
    slow = pool[rng.random(pool.size) < S["late_setup_share"]]
    w.setup_t[slow] = E[2, slow] + S["setup_within_days"] * DAY + 60 + rng.exponential(10 * DAY, slow.size)


def _first_value_story(w: World) -> None:
    """Persona rates of first booking within 30 days of onboarding; some of the rest book late."""
    rates = np.array([w.S["first_value_rate_by_persona"][p] for p in PERSONAS])
    w.fv = np.zeros(w.n, bool)
    w.fv[_advance(w, 4, rates[w.persona])] = True
    pool = np.flatnonzero(~np.isnan(w.E[3]) & ~w.fv)
    late = pool[w.rng.random(pool.size) < w.S["late_first_booking_share"]]
    limit = w.S["within_days"]["first_value"] * DAY
    w.E[4, late] = w.E[3, late] + limit + 60 + w.rng.gamma(2.0, 10 * DAY, late.size)
    w.late = np.zeros(w.n, bool)
    w.late[late] = True


def _paid_story(w: World) -> None:
    """Setup within 7 days of signup is the only thing that moves paid conversion (x4)."""
    rng, S, E = w.rng, w.S, w.E
    paid = S["paid_rate_given_first_value"]
    _advance(w, 5, np.where(w.setup7, paid["setup_within_7d"], paid["no_setup_within_7d"]))
    _advance(w, 6, S["rates"]["regular_use"])
    _advance(w, 7, S["rates"]["advocacy"])
    fix = np.flatnonzero(w.setup7 & (w.setup_t >= E[5]))       # setup strictly before paying
    w.setup_t[fix] = E[2, fix] + rng.uniform(0.1, 0.9, fix.size) * (E[5, fix] - E[2, fix])
    w.plan = np.full(w.n, -1)
    plans = list(S["revenue"]["monthly_price"])
    for k, persona in enumerate(PERSONAS):
        mix = S["revenue"]["plan_by_persona"][persona]
        who = np.flatnonzero(~np.isnan(E[5]) & (w.persona == k))
        w.plan[who] = np.array([plans.index(p) for p in mix])[_choice(rng, mix, who.size)]


def _stage_events(w: World) -> None:
    """One event per stage entered; landings carry channel and campaign, purchases revenue."""
    for s, stage in enumerate(STAGES):
        who, props = w.entered(s), {}
        if s == 0:
            props = {"channel": (w.channel[who], list(w.S["channels"]["share"])),
                     "campaign": (w.campaign[who], [c for _, c in CAMPAIGNS])}
        if s == 5:
            props = _plan_props(w, who)
        w.emit(w.S["stage_events"][stage], who, w.E[s, who], zone=STAGE_ZONES[s], **props)
    setup = np.flatnonzero(~np.isnan(w.setup_t))
    w.emit(w.S["setup_event"], setup, w.setup_t[setup], zone="app")


def _plan_props(w: World, who: np.ndarray) -> dict:
    """`plan` and monthly `revenue` properties for paying users `who`."""
    prices = w.S["revenue"]["monthly_price"]
    return {"plan": (w.plan[who], list(prices)), "revenue": np.array(list(prices.values()))[w.plan[who]]}


def _moments_story(w: World) -> None:
    """Each persona's activation moment: most who reach first value do it first, few others."""
    M, E, rng = w.S["activation_moments"], w.E, w.rng
    onb = w.entered(3)
    fv, window = w.fv[onb], M["within_days_of_onboarding"] * DAY
    gap = np.where(fv, np.minimum(E[4, onb] - E[3, onb], window), window)
    for k, persona in enumerate(PERSONAS):
        own = w.persona[onb] == k
        p = np.where(own, np.where(fv, M["rate_own_persona_reaching_first_value"],
                                   M["rate_own_persona_otherwise"]), M["rate_other_personas"])
        do = rng.random(onb.size) < p
        t = E[3, onb] + rng.uniform(0.1, 0.9, onb.size) * np.where(own, gap, window)
        w.emit(M["event_by_persona"][persona], onb[do], t[do], zone="app")


def _onboarding_steps(w: World) -> None:
    """Checklist steps up to onboarding; dropouts do fewer and the last one is their exit."""
    O, E, rng = w.S["onboarding_steps"], w.E, w.rng
    signed = w.entered(2)
    done = ~np.isnan(E[3, signed])
    k = np.where(done, O["to_complete"], rng.integers(O["dropouts_do"][0], O["dropouts_do"][1] + 1, signed.size))
    exit_t = np.fmax(w.last[signed], E[2, signed]) + _lognormal(rng, signed.size, 0.1, 1.0)
    hi = np.where(done, E[3, signed], exit_t)
    owner, j = _expand(k)
    t = _spread(rng, E[2, signed], hi, owner, j, k)
    final = ~done[owner] & (j == k[owner] - 1)
    t[final] = hi[owner][final]
    w.emit(O["event"], signed[owner], t, zone="app", step=j + 1)


def _checkout_story(w: World) -> None:
    """A looping checkout before paying; abandoners' last step is their exit."""
    C, E, rng = w.S["checkout_loop"], w.E, w.rng
    booked = w.entered(4)
    paid = ~np.isnan(E[5, booked])
    start = paid | (rng.random(booked.size) < C["abandon_share"])
    who, paid = booked[start], paid[start]
    k = 1 + _choice(rng, C["count_distribution"], who.size)
    exit_t = np.fmax(w.last[who], E[4, who]) + _lognormal(rng, who.size, 0.1, 1.0)
    hi = np.where(paid, E[5, who], exit_t)
    lo = np.where(paid, np.fmax(E[4, who], hi - 3 * DAY), E[4, who])
    owner, j = _expand(k)
    t = _spread(rng, lo, hi, owner, j, k)
    final = ~paid[owner] & (j == k[owner] - 1)
    t[final] = hi[owner][final]
    w.emit(C["event"], who[owner], t, zone="checkout", step=j + 1)
    back = rng.random(who.size) < w.S["backward_moves"]["pricing_revisit_before_checkout"]
    revisit = lo + rng.uniform(0.1, 0.9, who.size) * (t[j == 0] - lo)
    w.emit(w.S["stage_events"]["consideration"], who[back], revisit[back], zone="checkout")


def _subscription_story(w: World) -> None:
    """Invoices every 30 days and weekly activity until cancellation or the data end."""
    R, E, rng = w.S["retention"], w.E, w.rng
    paid = w.entered(5)
    regular = ~np.isnan(E[6, paid])
    reg_t, other_t = R["regular_tenure_days"], R["other_paid_tenure_days"]
    tenure = np.where(regular, E[6, paid] - E[5, paid] + reg_t["after_first_weekly_at_least"] * DAY
                      + rng.exponential(reg_t["then_exponential_mean"] * DAY, paid.size),
                      other_t["at_least"] * DAY + rng.exponential(other_t["then_exponential_mean"] * DAY, paid.size))
    cancel = E[5, paid] + tenure
    stop = np.minimum(cancel, w.end)
    every = R["invoice_every_days"] * DAY
    owner, j = _expand(np.maximum((stop - E[5, paid]) // every, 0).astype(np.int64))
    t = E[5, paid][owner] + every * (j + 1) - rng.uniform(0, 3600, j.size)
    w.emit("invoice_paid", paid[owner], t, zone="app", **_plan_props(w, paid[owner]))
    reg, every = paid[regular], R["weekly_active_every_days"] * DAY
    owner, j = _expand(np.maximum((stop[regular] - E[6, reg]) // every, 0).astype(np.int64))
    t = E[6, reg][owner] + every * (j + 1) - rng.uniform(0, DAY, j.size)
    w.emit(w.S["stage_events"]["regular_use"], reg[owner], t, zone="app")
    gone = cancel < w.end
    w.cancel = np.full(w.n, np.inf)
    w.cancel[paid] = cancel
    plan = _plan_props(w, paid[gone])["plan"]
    w.emit(R["cancel_event"], paid[gone], cancel[gone], zone="app", plan=plan)


def _experience_story(w: World) -> None:
    """Surveys and tickets per stage, placed inside the time the user spent in that stage."""
    for stage in EXPERIENCE_STAGES:
        s = STAGES.index(stage)
        who = np.flatnonzero(~np.isnan(w.E[s]) & ~(w.late & (s >= 4)))
        lo = w.E[s, who]
        nxt = w.E[s + 1, who] if s + 1 < len(STAGES) else np.full(who.size, np.nan)
        last = w.last[who]
        hi = np.where(~np.isnan(nxt), nxt, np.where(last > lo, last, lo + 7 * DAY))
        _surveys(w, stage, who, lo, hi)
        _tickets(w, stage, who, lo, hi)


def _surveys(w: World, stage: str, who, lo, hi) -> None:
    """NPS, CSAT and CES answers at the planted response rate and mean (binomial scores)."""
    rng = w.rng
    for event, spec in w.S["experience"]["surveys"].items():
        a, b = spec["scale"]
        ask = rng.random(who.size) < spec["response_rate"]
        t = lo[ask] + rng.uniform(0.05, 0.95, int(ask.sum())) * (hi - lo)[ask]
        score = a + rng.binomial(b - a, (spec["mean_by_stage"][stage] - a) / (b - a), t.size)
        props = {"score": score}
        if event == "nps_answered":
            props["comment"] = _comments(w, stage, score)
        w.emit(event, who[ask], t, journey=False, **props)


def _comments(w: World, stage: str, score: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Short comments for a share of NPS answers; themed for detractors in themed stages."""
    X = w.S["experience"]
    groups = list(X["comments"])
    sentiment = np.digitize(score, [7, 9])          # 0 detractor, 1 passive, 2 promoter
    group = np.array([groups.index(g) for g in ("detractor", "passive", "promoter")])[sentiment]
    if stage in X["comments"]:
        group = np.where(sentiment == 0, groups.index(stage), group)
    sizes = np.array([len(X["comments"][g]) for g in groups])
    codes = (np.cumsum(sizes) - sizes)[group] + (w.rng.random(score.size) * sizes[group]).astype(np.int64)
    codes[w.rng.random(score.size) >= X["comment_share"]] = -1
    return codes, [c for g in groups for c in X["comments"][g]]


def _tickets(w: World, stage: str, who, lo, hi) -> None:
    """Support tickets per stage: Poisson count, channel mix, topic, resolution time."""
    T, rng = w.S["experience"]["tickets"], w.rng
    owner, _ = _expand(rng.poisson(T["per_100_by_stage"][stage] / 100, who.size))
    t = lo[owner] + rng.uniform(0.05, 0.95, owner.size) * (hi - lo)[owner]
    topics = T["topics_by_stage"][stage]
    hours = rng.gamma(2.0, T["mean_resolution_hours_by_stage"][stage] / 2, owner.size)
    w.emit(T["event"], who[owner], t, journey=False,
           channel=(_choice(rng, T["channel_mix"], owner.size), list(T["channel_mix"])),
           topic=(rng.integers(0, len(topics), owner.size), topics),
           resolution_hours=np.maximum(np.round(hours, 1), 0.1))


def _noise(w: World) -> None:
    """Sessions, page views and help reads around journey events, then silence after the last."""
    rng, N = w.rng, w.S["noise"]
    rows = [(u, t, np.full(u.size, ZONES.index(z), np.int8)) for _, u, t, z, _ in w.blocks if z is not None]
    user, t, zone = (np.concatenate(c) for c in zip(*rows))
    s = rng.random(t.size) < N["session_rate"]
    w.emit("session_start", user[s], t[s] - rng.uniform(30, 900, int(s.sum())), journey=False)
    owner, _ = _expand(rng.poisson(N["pageviews_per_journey_event"], t.size))
    after = np.where(zone[owner] == 0, 1.0, -1.0)                 # landings: pages after, else before
    _browse(w, user[owner], t[owner] + after * rng.uniform(5, 600, owner.size), zone[owner])
    h = rng.random(t.size) < np.array([N["help_rate_by_zone"].get(z, 0.0) for z in ZONES])[zone]
    _browse(w, user[h], t[h] - rng.uniform(30, 1200, int(h.sum())), np.full(int(h.sum()), 4))
    trail = np.flatnonzero(rng.random(w.n) < w.S["exits"]["trailing_noise_share"])
    owner, j = _expand(rng.integers(1, 4, trail.size))
    u = trail[owner]
    zone = np.where(rng.random(j.size) < 0.3, 4, np.where(np.isnan(w.E[2, u]), 1, 2))
    _browse(w, u, w.last[u] + (j + rng.uniform(0.1, 0.9, j.size)) * 4 * 3600, zone)


def _browse(w: World, user, t, zone) -> None:
    """`$pageview`s with a `path` typical of the zone; zone "help" makes `help_article_view`s."""
    paths = w.S["noise"]["paths"]
    sizes = np.array([len(paths[z]) for z in ZONES])
    codes = (np.cumsum(sizes) - sizes)[zone] + (w.rng.random(t.size) * sizes[zone]).astype(np.int64)
    vocab = [p for z in ZONES for p in paths[z]]
    for event, pick in (("$pageview", zone != 4), ("help_article_view", zone == 4)):
        w.emit(event, user[pick], t[pick], journey=False, path=(codes[pick], vocab))


STEPS = (_population, _funnel_top, _setup_story, _first_value_story, _paid_story, _stage_events,
         _moments_story, _onboarding_steps, _checkout_story, _subscription_story, _experience_story, _noise)


def _monthly_churn(w: World, day0: dt.date) -> dict:
    """The churn the subscription story drew, per calendar month (UTC): customers active
    at the month's start (subscribed before it, not cancelled before it) and those who
    cancelled within it; the rate's mean over complete months with anyone active."""
    paid = w.entered(5)
    start, cancel = w.E[5, paid], w.cancel[paid]
    first = dt.date(day0.year, day0.month, 1)
    rows = []
    while (first - day0).days * DAY < w.end:
        nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
        lo, hi = (first - day0).days * DAY, (nxt - day0).days * DAY
        active = (start < lo) & (cancel >= lo)
        rows.append({"month": first.strftime("%Y-%m"), "active_at_start": int(active.sum()),
                     "churned": int((active & (cancel < hi)).sum()), "complete": bool(hi <= w.end)})
        first = nxt
    rates = [r["churned"] / r["active_at_start"] for r in rows if r["complete"] and r["active_at_start"]]
    return {"by_month": rows, "mean_rate": float(np.mean(rates)) if rates else None}


def generate(users: int = 200_000, seed: int = 7, start: str = "2026-01-05") -> DemoData:
    """Generate Tempo's demo data: `users` people arriving over 26 weeks from `start`.

    Deterministic for (users, seed, start); the data ends 60 days after the last
    arrival, so the latest cohorts are immature.
    """
    if users < 1:
        raise ValueError(f"the demo needs at least one user, not {users}")
    day0 = dt.date.fromisoformat(start)
    w = World(users, seed, copy.deepcopy(STORIES))
    for step in STEPS:
        step(w)
    start_us = int(dt.datetime(day0.year, day0.month, day0.day, tzinfo=dt.timezone.utc).timestamp()) * 10**6
    user_ids = id_chars("u", np.arange(users), users)
    events = events_table(w, start_us, user_ids)
    stories = copy.deepcopy(STORIES)
    stories.update(users=users, seed=seed, start=day0.isoformat(),
                   arrivals_end=(day0 + dt.timedelta(weeks=stories["arrival_weeks"])).isoformat(),
                   data_end=(day0 + dt.timedelta(seconds=w.end)).isoformat() + "T00:00:00+00:00",
                   counts={"users": users, "events": events.num_rows})
    stories["retention"]["monthly_churn"] = _monthly_churn(w, day0)
    for change in stories["interventions"]:
        change["from"] = (day0 + dt.timedelta(days=change["from_day"])).isoformat()
    text = resources.files("journeymap.demo").joinpath("journey.yaml").read_text(encoding="utf-8")
    return DemoData(events=events, users=users_table(w, arrow_strings(user_ids)), spend=spend_table(w, day0),
                    stories=stories, journey_text=text)

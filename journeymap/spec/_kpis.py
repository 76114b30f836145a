"""Reading the journey file's money and KPI keys: revenue, churn, help, referral, spend,
and the `kpis` settings.

    revenue: {event: [subscription_started, invoice_paid], amount: revenue}
    churn: {event: subscription_cancelled}
    help: {event: $pageview, where: {path: {contains: /help}}}
    referral: {event: referral_sent}
    spend: spend.csv            # date, channel, campaign, cost, impressions, clicks
    kpis: {lead: signup, conversion: purchase, first_value: [signup, first_value],
           channel: channel, campaign: campaign, period: month, session_gap: 30m}
"""

from __future__ import annotations

from collections.abc import Mapping

from journeymap.errors import did_you_mean
from journeymap.spec._parts import read_duration, read_where
from journeymap.spec._reader import Reader, describe
from journeymap.spec.model import DriverSettings, EventRule, KpiSettings, Revenue

EVENT_KEYS = ("event", "where")
KPI_KEYS = ("lead", "conversion", "first_value", "channel", "campaign", "period", "session_gap")
PERIODS = ("week", "month")


def _event_rule(r: Reader, data: Mapping, key: str, extra: tuple[str, ...] = ()) -> EventRule | None:
    """`key: {event: name or [names], where: {...}}`, or None when absent."""
    m = data.get(key)
    if m is None:
        return None
    what = f"'{key}'"
    if not r.is_mapping(m, r.value(data, key), what):
        return None
    r.check_keys(m, EVENT_KEYS + extra, what)
    names = r.texts(m, "event", what)
    if not names:
        r.error(r.node(m), f"{what} has no 'event'")
        return None
    locs = (r.value(m, "event"),) * len(names)
    return EventRule(names, read_where(r, m, "where", what), r.node(m), event_locs=locs)


def read_money(r: Reader, data: Mapping) -> dict:
    """revenue, churn, help, referral and spend (None where absent)."""
    out = {"churn": _event_rule(r, data, "churn"), "help": _event_rule(r, data, "help"),
           "referral": _event_rule(r, data, "referral"), "revenue": None, "spend": None}
    rule = _event_rule(r, data, "revenue", ("amount",))
    if rule is not None:
        amount = r.text(data["revenue"], "amount", "'revenue'", required=True)
        out["revenue"] = Revenue(rule, amount, rule.loc) if amount else None
    if data.get("spend") is not None:
        out["spend"] = r.text(data, "spend", "the journey")
    return out


def read_kpis(r: Reader, data: Mapping, order: dict[str, int]) -> KpiSettings:
    """The `kpis` settings; stage ids checked against the journey's stages."""
    m = data.get("kpis")
    if m is None or not r.is_mapping(m, r.value(data, "kpis"), "'kpis'"):
        return KpiSettings()
    r.check_keys(m, KPI_KEYS, "'kpis'")
    values = {}
    for key in ("lead", "conversion"):
        values[key] = _stage(r, m, key, order)
    pair = m.get("first_value")
    if pair is not None:
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair):
            ok = [_known(r, m, "first_value", p, order) for p in pair]
            if all(ok) and order[pair[0]] >= order[pair[1]]:
                r.error(r.value(m, "first_value"), f"'first_value' of 'kpis' runs from '{pair[0]}' to "
                        f"'{pair[1]}': the first stage must come before the second", pair)
            elif all(ok):
                values["first_value"] = (str(pair[0]), str(pair[1]))
        else:
            r.error(r.value(m, "first_value"), "'first_value' of 'kpis' must be two stage ids "
                    f"[from, to], not {describe(pair)}", pair)
    for key in ("channel", "campaign"):
        text = r.text(m, key, "'kpis'")
        if text:
            values[key] = text
    period = m.get("period")
    if period is not None:
        if period in PERIODS:
            values["period"] = str(period)
        else:
            r.error(r.value(m, "period"), f"'period' of 'kpis' must be one of {', '.join(PERIODS)}, "
                    f"not {describe(period)}" + did_you_mean(str(period), PERIODS), period)
    gap = read_duration(r, m, "session_gap", "'kpis'")
    if gap is not None:
        values["session_gap"] = gap
    return KpiSettings(**values, loc=r.node(m))


def _known(r: Reader, m: Mapping, key: str, sid: str, order: dict[str, int]) -> bool:
    if sid in order:
        return True
    r.error(r.value(m, key), f"'{key}' of 'kpis' names unknown stage '{sid}'" + did_you_mean(sid, order), sid)
    return False


def _stage(r: Reader, m: Mapping, key: str, order: dict[str, int]) -> str | None:
    sid = r.text(m, key, "'kpis'")
    return sid if sid is not None and _known(r, m, key, sid, order) else None


DRIVER_KEYS = ("exclude_events", "horizon")


def read_drivers(r: Reader, data: Mapping) -> DriverSettings:
    """The `drivers` settings: `exclude_events` (names) and the default `horizon`."""
    m = data.get("drivers")
    if m is None or not r.is_mapping(m, r.value(data, "drivers"), "'drivers'"):
        return DriverSettings()
    r.check_keys(m, DRIVER_KEYS, "'drivers'")
    values = {"exclude_events": r.texts(m, "exclude_events", "'drivers'")}
    horizon = read_duration(r, m, "horizon", "'drivers'")
    if horizon is not None:
        values["horizon"] = horizon
    return DriverSettings(**values, loc=r.node(m))

"""The stories the demo generator plants in Tempo's data, with their sizes.

`STORIES` is plain JSON-able data: the generator reads every size from it and
returns a copy (plus the dates of the run) as `DemoData.stories`, so tests and
the planted-story checks read the same numbers the data was drawn from.

Conventions: a stage `rate` is P(enter the stage within its `within` limit,
measured from entering the stage before | entered the stage before); personas
follow journey.yaml (solo: team_size <= 1, team: 2..49, enterprise: >= 50).
"""

from __future__ import annotations

import math

DAY = 86_400.0
STAGES = ("awareness", "consideration", "signup", "onboarding",
          "first_value", "purchase", "regular_use", "advocacy")
PERSONAS = ("solo", "team", "enterprise")
EXPERIENCE_STAGES = STAGES[2:]


def expected_nps(mean: float) -> float:
    """NPS (promoters% - detractors%) of a 0..10 score drawn as Binomial(10, mean/10)."""
    pmf = [math.comb(10, k) * (mean / 10) ** k * (1 - mean / 10) ** (10 - k) for k in range(11)]
    return round(100 * (sum(pmf[9:]) - sum(pmf[:7])), 2)


_SETUP_SHARE, _PAID_SETUP, _PAID_NO_SETUP = 0.30, 0.48, 0.12
_NPS_MEAN = {"signup": 7.0, "onboarding": 5.5, "first_value": 4.5,
             "purchase": 7.5, "regular_use": 8.2, "advocacy": 9.0}

STORIES: dict = {
    "company": "Tempo, a self-serve scheduling SaaS",
    "arrival_weeks": 26,
    "observe_days_after_arrivals": 60,
    "stage_events": dict(zip(STAGES, ("landing_view", "pricing_view", "signup", "onboarding_completed",
                                      "first_booking", "subscription_started", "weekly_active",
                                      "referral_sent"))),
    "within_days": {"consideration": 14, "signup": 14, "onboarding": 14, "first_value": 30,
                    "purchase": 30, "regular_use": 30, "advocacy": 60},
    # "signup" averages the pricing-page intervention (0.45 before, 0.55 after day 91 of 182)
    "rates": {"consideration": 0.40, "signup": 0.50, "onboarding": 0.80, "first_value": 0.35,
              "purchase": round(_SETUP_SHARE * _PAID_SETUP + (1 - _SETUP_SHARE) * _PAID_NO_SETUP, 6),
              "regular_use": 0.70, "advocacy": 0.12},
    # log-normal delays from the previous stage, redrawn until inside `within`
    "delay_days": {"consideration": {"median": 1.0, "sigma": 1.2}, "signup": {"median": 1.5, "sigma": 1.2},
                   "onboarding": {"median": 1.0, "sigma": 1.0}, "first_value": {"median": 6.0, "sigma": 0.9},
                   "purchase": {"median": 6.0, "sigma": 0.9}, "regular_use": {"median": 5.0, "sigma": 0.8},
                   "advocacy": {"median": 14.0, "sigma": 0.8}},
    # mix chosen so the persona rates average to exactly 0.35 (needs solo = 2 x enterprise)
    "persona_mix": {"solo": 0.44, "team": 0.34, "enterprise": 0.22},
    "team_size": {"solo": [1, 1], "team": [2, 49], "enterprise": [50, 5000]},
    "team_size_lognormal": {"team": {"median": 6, "sigma": 0.8}, "enterprise": {"median": 150, "sigma": 1.0}},
    "countries": {"US": 0.34, "GB": 0.12, "DE": 0.10, "IN": 0.08, "FR": 0.07, "CA": 0.07,
                  "BR": 0.06, "ES": 0.06, "AU": 0.05, "NL": 0.05},
    "company_sizes": ["1-10", "11-50", "51-200", "201-1000", "1000+"],   # ~ team_size x lognormal(1, 1)
    "first_value_rate_by_persona": {"solo": 0.45, "team": 0.35, "enterprise": 0.15},
    # onboarded users who miss the 30 days but book later (day 30 + Gamma(2, 10d))
    "late_first_booking_share": 0.25,
    "activation_moments": {
        "event_by_persona": {"solo": "availability_shared", "team": "teammate_invited",
                             "enterprise": "calendar_integrated"},
        "rate_own_persona_reaching_first_value": 0.85,
        "rate_own_persona_otherwise": 0.10,
        "rate_other_personas": 0.08,
        "within_days_of_onboarding": 7,
    },
    "setup_event": "setup_completed",
    "setup_within_days": 7,
    "setup_share": _SETUP_SHARE,                   # of signups, within 7 days of signup
    "late_setup_share": 0.15,                      # of onboarded users without it, after day 7
    "paid_rate_given_first_value": {"setup_within_7d": _PAID_SETUP, "no_setup_within_7d": _PAID_NO_SETUP},
    "setup_within_7d_paid_multiplier": round(_PAID_SETUP / _PAID_NO_SETUP, 6),
    "onboarding_steps": {"event": "onboarding_step", "to_complete": 5, "dropouts_do": [1, 4]},
    "checkout_loop": {
        "event": "checkout_step",
        "count_distribution": {"1": 0.35, "2": 0.25, "3": 0.15, "4": 0.12, "5": 0.08, "6": 0.05},
        "share_3_or_more": 0.40,
        "abandon_share": 0.60,                     # of first-value users who never pay
    },
    "backward_moves": {"pricing_revisit_before_checkout": 0.30},
    "exits": {
        "silence_days": 30,
        "signup_dropout": {"who": "signup without onboarding_completed", "last_journey_event": "onboarding_step"},
        "checkout_abandon": {"who": "checkout_step without subscription_started",
                             "last_journey_event": "checkout_step"},
        "trailing_noise_share": 0.35,              # users with 1..3 noise events after their last journey event
        # what the three leaks above leave as the last journey event of users who signed up and went
        # silent: the value gap, sign-up dropouts, checkout abandoners (the top three, in any order)
        "top_last_journey_events_after_signup": ["onboarding_completed", "onboarding_step", "checkout_step"],
        "noise_events": ["session_start", "$pageview", "help_article_view"],
    },
    # before each journey event: a session start (share), page views (Poisson mean), a help read
    # (share by zone); landings get their page views after
    "noise": {
        "session_rate": 0.6,
        "pageviews_per_journey_event": 1.0,
        "help_rate_by_zone": {"landing": 0.0, "site": 0.02, "app": 0.12, "checkout": 0.08},
        "paths": {"landing": ["/", "/features", "/customers"],
                  "site": ["/", "/pricing", "/features", "/compare/calendly", "/blog/scheduling-tips"],
                  "app": ["/app/calendar", "/app/bookings", "/app/availability", "/app/settings", "/app/team"],
                  "checkout": ["/checkout", "/checkout/payment", "/checkout/confirm", "/pricing"],
                  "help": ["/help/connect-calendar", "/help/share-availability", "/help/invite-teammates",
                           "/help/first-booking", "/help/billing"]},
    },
    "experience": {
        "attribution": "an answer or ticket belongs to the last stage entered before it; it is placed "
                       "strictly between that entry and the next stage's entry (or the user's last event)",
        "surveys": {
            "nps_answered": {"scale": [0, 10], "response_rate": 0.25, "mean_by_stage": _NPS_MEAN,
                             "expected_nps_by_stage": {s: expected_nps(m) for s, m in _NPS_MEAN.items()}},
            "csat_answered": {"scale": [1, 5], "response_rate": 0.20,
                              "mean_by_stage": {"signup": 2.9, "onboarding": 3.5, "first_value": 3.0,
                                                "purchase": 4.1, "regular_use": 4.3, "advocacy": 4.6}},
            "ces_answered": {"scale": [1, 7], "response_rate": 0.20, "higher_is_easier": True,
                             "mean_by_stage": {"signup": 2.8, "onboarding": 4.4, "first_value": 3.8,
                                               "purchase": 5.4, "regular_use": 5.8, "advocacy": 6.0}},
        },
        "comment_share": 0.5,                      # of NPS answers
        "comment_theme_by_stage": {"signup": "steps", "onboarding": "booking", "first_value": "checkout"},
        # detractors (0-6) in a themed stage say its theme; everyone else picks by sentiment
        "comments": {
            "signup": ["too many steps before I can use it", "the setup steps feel endless",
                       "so many verification steps"],
            "onboarding": ["still no booking after a week", "not sure how to get my first booking",
                           "no booking yet, what am I missing"],
            "first_value": ["checkout keeps looping back to the start", "checkout asked for my card three times",
                            "the checkout page is confusing"],
            "detractor": ["too complicated", "not worth it yet", "missing integrations I need"],
            "passive": ["it does the job", "fine, could be simpler", "okay so far"],
            "promoter": ["love how easy scheduling is", "saves me hours every week", "my clients love it"],
        },
        "resented_stage": "signup",                # 80% progress through it, worst CSAT and CES
        "tickets": {
            "event": "ticket_opened",               # properties: channel, topic, resolution_hours
            "per_100_by_stage": {"signup": 8, "onboarding": 15, "first_value": 22, "purchase": 10,
                                 "regular_use": 6, "advocacy": 3},
            "channel_mix": {"chat": 0.55, "email": 0.35, "phone": 0.10},
            "mean_resolution_hours_by_stage": {"signup": 4, "onboarding": 18, "first_value": 30,
                                               "purchase": 8, "regular_use": 12, "advocacy": 12},
            "topics_by_stage": {"signup": ["login", "verification_email"],
                                "onboarding": ["calendar_sync", "availability"],
                                "first_value": ["checkout_error", "calendar_sync", "billing"],
                                "purchase": ["invoice", "billing"],
                                "regular_use": ["feature_request", "integrations"],
                                "advocacy": ["referral_credit"]},
        },
    },
    "revenue": {"property": "revenue", "events": ["subscription_started", "invoice_paid"],
                "monthly_price": {"starter": 12.0, "pro": 29.0, "business": 99.0},
                "plan_by_persona": {"solo": {"starter": 0.8, "pro": 0.2}, "team": {"pro": 0.75, "business": 0.25},
                                    "enterprise": {"business": 1.0}}},
    "retention": {"weekly_active_every_days": 7, "invoice_every_days": 30, "cancel_event": "subscription_cancelled",
                  "regular_tenure_days": {"after_first_weekly_at_least": 60, "then_exponential_mean": 240},
                  "other_paid_tenure_days": {"at_least": 15, "then_exponential_mean": 45}},
    "channels": {
        "share": {"search": 0.38, "ads": 0.30, "social": 0.20, "partner": 0.12},
        "campaigns": {"search": {"brand_keywords": 0.6, "generic_scheduling": 0.4},
                      "ads": {"brand_awareness": 0.5, "retargeting": 0.3, "competitor_terms": 0.2},
                      "social": {"linkedin_sme": 0.55, "instagram_solo": 0.45},
                      "partner": {"partner_blogs": 0.7, "integrations_directory": 0.3}},
        "cost_per_click": {"search": 2.40, "ads": 1.80, "social": 1.10, "partner": 0.90},
        "click_through_rate": {"search": 0.040, "ads": 0.009, "social": 0.007, "partner": 0.020},
        "click_to_landing": 0.85,
        "conversion_depends_on_channel": False,
    },
    # `stage`: the stage whose progression the change targets; `from_day`: days after the start
    "interventions": [
        {"name": "Pricing page redesign", "stage": "consideration", "metric": "rate into signup",
         "from_day": 91, "effect": "real", "rate_before": 0.45, "rate_after": 0.55,
         "applies_to": "users whose pricing_view is on or after the date"},
        {"name": "Help centre refresh", "stage": "signup", "metric": "rate into onboarding",
         "from_day": 56, "effect": "none", "rate_before": 0.80, "rate_after": 0.80},
    ],
    "tolerance": {"users": 50_000, "z": 4.0, "rate_abs_floor": 0.005, "mean_abs_floor": 0.05, "ratio_rel": 0.25,
                  "note": "on mature cohorts of >= `users` users: rates within z * sqrt(p(1-p)/n) + "
                          "rate_abs_floor, means within z * sd / sqrt(n) + mean_abs_floor, ratios within "
                          "ratio_rel (relative)"},
}


def rate_tolerance(p: float, n: int, stories: dict = STORIES) -> float:
    """How far an observed rate over `n` users may sit from the planted rate `p`."""
    tol = stories["tolerance"]
    return tol["z"] * math.sqrt(p * (1 - p) / max(n, 1)) + tol["rate_abs_floor"]


def mean_tolerance(sd: float, n: int, stories: dict = STORIES) -> float:
    """How far an observed mean of `n` values with spread `sd` may sit from the planted mean."""
    tol = stories["tolerance"]
    return tol["z"] * sd / math.sqrt(max(n, 1)) + tol["mean_abs_floor"]

"""Decisions: what fills each placement for one visitor now (``POST /v1/decide``), and what
the page reports back about it (``POST /v1/decide/events``).

    service.Decider     one decision: the visitor read once, placements filled, tokens,
                        exposures recorded, failures kept (for GET /v1/experiences/{id}/errors)
    engine.Engine       per placement: the eligible experiences in priority order, a variant's
                        block and template, falling back to the next, then the default
    eligibility         the checks (status, schedule, audience, condition, trigger, frequency)
    debug               why each experience won or lost (``debug: true``)
    triggers            server-side triggers; browser ones are returned to the snippet
    frequency           caps per session / day / lifetime, stop after conversion
    exposures, recorder where the caps' counters are kept; written in group commits
    variants            the variant a visitor sees (the seam experiments replace)
    blocks              recommendation blocks (relevo.recs) and product cards
    render              what a template sees, rendered in relevo.experiences.templates' sandbox
    tokens              signed decision tokens (itsdangerous, a key derived from link_secret)
    feedback.Feedback   impressions, clicks, dismissals, submits (e-mail claim, preferences,
                        quiz answers), conversions; forged, expired, replayed and other
                        visitors' tokens refused per event and counted
    messages            the system events a decision records

Nothing here raises to the page: a decision returns a value and the reasons. The HTTP layer
(relevo.api.routes.decide) raises the usual RelevoError tree for a malformed request (400), a
key that may not ask (403, relevo.recs.errors.IdentityNotAllowed for another identity).
"""
